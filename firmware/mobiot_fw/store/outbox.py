# Records out: make a record (docs/records.md), keep it in the flash queue (store/flashq.py),
# then offer it once to every transport (the serial link session now, the cellular uplink
# later). A transport sends it live and later resends what the queue still holds; whichever
# transport's ack comes first removes it (Queue.ack_ranges: the one ack path of both).
import time

from micropython import const

from mobiot_fw.link import proto

_DROP_EVERY_MS = const(60000)  # queue_drop events at most once a minute (and at the first drop)


class Outbox:
    def __init__(self, q, device, clock):
        self.q = q
        self.device = device
        self.clock = clock
        self.boot = q.bump_boot()
        # One frame buffer for the terminal: records are made here and every transport frames
        # them in place (PAYLOAD_OFF leaves room for the frame head).
        self.buf = bytearray(proto.FRAME_MAX)
        self.transports = []  # objects with offer(seq, buf, end, kept)
        self.store_errors = 0  # records the flash would not take (sent anyway, not kept)
        self._drops_seen = q.drops
        self._drop_ms = None
        self._in_drop = False

    def emit(self, kind, values):
        """Make a record, store it on flash, then offer it to every transport once. Returns
        its seq."""
        q = self.q
        seq = q.next_seq()
        t, clk = self.clock.now()
        buf = self.buf
        end = proto.encode_record(buf, proto.PAYLOAD_OFF, self.device, self.boot, seq, t, clk, kind, values)
        try:
            q.append(seq, memoryview(buf)[proto.PAYLOAD_OFF:end])
            kept = True
        except OSError:
            # The flash would not take it (worn out, file system damaged): the record still
            # goes out live, and the count shows in status records; the loop keeps running.
            self.store_errors += 1
            kept = False
        for tr in self.transports:
            tr.offer(seq, buf, end, kept)
        if q.drops != self._drops_seen and not self._in_drop:
            # A full queue drops its oldest record for each new one: say so at the first drop
            # and then at most once a minute, or the events would push out the data.
            now = time.ticks_ms()
            if self._drop_ms is None or time.ticks_diff(now, self._drop_ms) >= _DROP_EVERY_MS:
                n = q.drops - self._drops_seen
                self._drops_seen = q.drops
                self._drop_ms = now
                self._in_drop = True
                try:
                    self.emit("event", (("event", "queue_drop"), ("dropped", n), ("total", q.drops)))
                finally:
                    self._in_drop = False
        return seq

    def event(self, name, *pairs):
        return self.emit("event", (("event", name),) + pairs)
