# The uplink as a transport of the flash queue (docs/uplink.md "Delivery", "Connection"): one
# owner of the MQTT connection (connect, subscribe, backoff, resend), which hands the terminal
# only commands (to its one dispatcher) and takes records from the queue it shares with the
# serial link. A record leaves the queue only by an !ack, which comes down as a command.
import asyncio
import time

from micropython import const

from mobiot_fw import once
from mobiot_fw.link import proto

_RING = const(32)  # messages sent and not yet acked by the collector
_REPLY_MAX = const(2)  # replies waiting to go up
_REPLY_LEN = const(200)  # an H or K payload (docs/protocol.md: a few dozen bytes)
_NO_TIME_WAIT_MS = const(10000)


class Uplink:
    """Uplink(queue, ucfg, device, stream_factory, dispatch, event) ; await run().

    ucfg: the config's `uplink` section (docs/config.md). stream_factory(): a fresh transport
    with async open(host, port, tls, ca), write, read_into, close. dispatch(line, link): the
    terminal's one command handler; replies come back through link.frame(buf, n). event(name,
    *pairs): a record of kind event. have_time(): True once the clock is set (TLS needs it).
    ready(): True while the network is up; the uplink waits for it without counting failures.
    hello: (device, fw, board name, boot) for the H frame sent after every connect.

    It is a transport of the outbox and of the one command dispatcher (store/outbox.py,
    link/commands.py): offer(), reply(), attach(), detach(), acked()."""

    def __init__(self, q, ucfg, device, stream_factory, dispatch, event, have_time=None, hello=None,
                 ready=None, clock=None, rand=None):
        self.q = q
        self.cfg = ucfg
        self.device = device
        self.stream_factory = stream_factory
        self.dispatch = dispatch
        self.event = event
        self.have_time = have_time or (lambda: True)
        self.ready = ready or (lambda: True)  # the network is up (modem registered, bearer active)
        self.info = hello  # (device, fw, board, boot) for the H frame, or None
        self.clock = clock or time.ticks_ms
        if rand is None:
            import random

            rand = random.getrandbits
        self.rand = rand
        # the topics, the encoder the config names, the record scanner, the ring and the reply
        # slots: made by uplink/setup.py, loaded for it and dropped (docs/memory.md)
        (self.up, self.down, self.reply_topic, self.enc, self.rec, self.ring_seq, self.ring_ms, self.replies,
         self.rbuf, self.reply_len) = once("mobiot_fw.uplink.setup").uplink(device, ucfg["encoding"], _RING,
                                                                            _REPLY_MAX, _REPLY_LEN)
        self.ring_n = 0
        self.ring_h = 0
        self.nreplies = 0
        self.mq = None
        self.inflight = 0
        self.cursor = 0
        self.wait_from = None
        self.wake = asyncio.Event()
        self.stop = False
        self.beat = self.clock()
        self.fails = 0
        self.connects = 0
        self.published = 0
        self.skipped = 0
        self._no_time_said = False
        self.up_since = None

    # -- the terminal's side -------------------------------------------------------------------
    def frame(self, buf, n):
        """A serial frame (H or K) the dispatcher answered with: what lies between "@" and
        "*CRC\\r\\n" goes up on the reply topic (docs/uplink.md)."""
        if self.nreplies >= _REPLY_MAX or n - 12 > _REPLY_LEN:
            return
        i = self.nreplies
        k = n - 12  # "@" and "*XXXXXXXX\r\n"
        self.replies[i][:k] = memoryview(buf)[1 : n - 11]
        self.reply_len[i] = k
        self.nreplies += 1
        self.wake.set()

    def offer(self, seq, buf, end, kept):
        """A new record is in the queue (outbox transport): publish soon. A record the flash
        would not keep is not sent on this link: it has no seq to resend and ack by."""
        self.wake.set()

    def reply(self, cmd, ok, err=None, extra=None):
        """A command's answer (link/commands.py): up on the reply topic."""
        try:
            self.frame(self.rbuf, proto.encode_reply(self.rbuf, cmd, ok, err, extra))
        except ValueError:
            pass  # longer than a reply slot: a serial-only answer

    def attach(self):
        # !hello over MQTT: answered with a hello; holding the board awake is the serial link's
        self.hello()

    def detach(self):
        pass

    def acked(self):
        self.wake.set()

    def hello(self):
        if self.info is not None:
            d, fw, board, boot = self.info
            self.frame(self.rbuf, proto.encode_hello(self.rbuf, d, fw, board, boot, False))

    def shutdown(self):
        """Stop: end the connection now; run() returns."""
        self.stop = True
        if self.mq is not None:
            self.mq.close()
        self.wake.set()

    def kick(self):
        """A new record is queued (or acked): look at the queue now."""
        self.wake.set()

    # -- the connection loop -------------------------------------------------------------------
    async def run(self):
        while not self.stop:
            self.beat = self.clock()
            c = self.cfg
            if not self.ready():
                await asyncio.sleep_ms(1000)
                continue
            if c["tls"] and not self.have_time():
                if not self._no_time_said:
                    self._no_time_said = True
                    self.event("uplink_error", ("err", "no_time"))
                await asyncio.sleep_ms(_NO_TIME_WAIT_MS)
                continue
            err = None
            try:
                await self._session()
            except OSError as e:
                err = e
            self.mq = None
            # the event, the failure count and the backoff: uplink/connect.py, loaded for it
            wait = once("mobiot_fw.uplink.connect").ended(self, err)
            t0 = self.clock()
            while not self.stop and time.ticks_diff(self.clock(), t0) < wait:
                self.beat = self.clock()
                await asyncio.sleep_ms(min(1000, wait))

    async def _session(self):
        # connect and subscribe (uplink/connect.py, not kept in RAM between connections), then
        # publish until the connection ends
        mq = await once("mobiot_fw.uplink.connect").open(self)
        second = asyncio.create_task(self._second())
        try:
            while mq.connected and not self.stop:
                self.beat = self.clock()
                await mq.tick()  # keepalive
                await self._flush_replies(mq)
                self._acked()
                if not await self._send(mq):
                    self.wake.clear()
                    await self.wake.wait()  # a record, an ack, a PUBACK, a command, or a second
        finally:
            second.cancel()
            mq.close()
        if mq.err is not None:
            raise mq.err

    async def _second(self):
        # the session loop's clock (keepalive, resend): one task per connection that sets `wake`
        # every second, where asyncio.wait_for_ms would make a Task and a TimeoutError per wait
        while True:
            await asyncio.sleep_ms(1000)
            self.wake.set()

    # -- MQTT callbacks ------------------------------------------------------------------------
    def on_message(self, topic, payload):
        # a command line down (docs/uplink.md): the terminal's one dispatcher handles it
        try:
            line = str(payload, "ascii")
        except UnicodeError:
            return
        self.dispatch(line, self)
        self.wake.set()

    def on_puback(self, pid):
        if self.inflight:
            self.inflight -= 1
        self.wake.set()

    # -- sending -------------------------------------------------------------------------------
    async def _flush_replies(self, mq):
        i = 0
        while i < self.nreplies:
            n = self.reply_len[i]
            off = mq.payload_off(self.reply_topic)
            mq.tx[off : off + n] = self.replies[i][:n]
            self.inflight += 1  # before the await: its PUBACK can come before publish() returns
            await mq.publish(self.reply_topic, off, off + n, 1)
            i += 1
        self.nreplies = 0

    def _acked(self):
        # forget messages whose records are all acked; after resend_s of silence send the
        # oldest unacked again (docs/uplink.md "Delivery")
        first = self.q.first_unacked(0)
        while self.ring_n:
            t = (self.ring_h - self.ring_n) % _RING
            if first and self.ring_seq[t] >= first:
                if time.ticks_diff(self.clock(), self.ring_ms[t]) > self.cfg["resend_s"] * 1000:
                    self.ring_n = 0
                    self.cursor = 0
                break
            self.ring_n -= 1

    async def _send(self, mq):
        """Publish one message of unsent records when the windows allow; True if it did."""
        c = self.cfg
        if self.inflight >= c["window"] or self.ring_n >= _RING:
            return False
        q = self.q
        seq = q.first_unacked(self.cursor)
        if not seq:
            self.wait_from = None
            return False
        batch = c["batch"]
        if batch > 1:
            # wait for a full batch, or until the oldest unsent record has waited batch_wait_s
            now = self.clock()
            if self.wait_from is None:
                self.wait_from = now
            n = 0
            s = seq
            while s and n < batch:
                n += 1
                s = q.first_unacked(s)
            if n < batch and time.ticks_diff(now, self.wait_from) < c["batch_wait_s"] * 1000:
                return False
        enc = self.enc
        topic = self.up
        off = mq.payload_off(topic)
        enc.begin(mq.tx, off, off + c["max_bytes"])
        last = 0
        n = 0
        while seq and n < batch:
            payload = q.read(seq)
            if payload is not None:
                try:
                    ok = enc.add(self.rec.parse(payload))
                except ValueError:
                    ok = None  # not a record: it stays in the queue for the serial link
                if ok is False:
                    if n:
                        break
                    ok = None  # larger than a message: never fits, skip it on this link
                if ok is None:
                    self.skipped += 1
                else:
                    n += 1
            last = seq
            seq = q.first_unacked(seq)
        self.cursor = last
        self.wait_from = None
        if not n:
            return bool(last)
        end = enc.end()
        # counted before the await: over a fast link the PUBACK is read (on_puback) while publish()
        # still waits on the stream's drain, and a count made after it would never come down
        self.inflight += 1
        await mq.publish(topic, off, end, 1)
        self.published += 1
        h = self.ring_h
        self.ring_seq[h] = last
        self.ring_ms[h] = self.clock()  # pyright: ignore[reportArgumentType, reportCallIssue]
        self.ring_h = (h + 1) % _RING
        self.ring_n += 1
        return True
