# The serial link to a host (docs/protocol.md): one transport of the outbox (store/outbox.py).
# Every new record goes out once live; while a host is attached (!hello .. !bye) queued
# records it has not acked are sent oldest first, at most `window` in flight, each resent
# after resend_s. Host command lines go to the one command dispatcher (link/commands.py),
# which the cellular uplink calls with the same lines; acks reach the queue there.
import sys
import time

import asyncio
from micropython import const

from mobiot_fw.link import proto

_LINE_MAX = const(200)  # longest host command line accepted (docs/protocol.md: short lines)
_PUMP_MS = const(200)
_IDLE_READ_MS = const(50)


class Session:
    def __init__(self, outbox, link_cfg, info, dispatch=None, out=None, beat=None):
        self.outbox = outbox
        self.q = outbox.q
        self.buf = outbox.buf  # shared: a frame is written out before the next one is made
        self.info = info  # (device, fw version, board name, firmware id) for the H frame
        self.dispatch = dispatch  # (line, transport) -> None: link/commands.py; None ignores them
        self.out = out if out is not None else getattr(sys.stdout, "buffer", sys.stdout)
        self.beat = beat  # () -> None: the supervisor's check-in for this task
        self.window = link_cfg["window"]
        self.resend_ms = link_cfg["resend_s"] * 1000
        self.hold = False  # a host said !hello and has not said !bye
        self.host_ms = 0  # ticks_ms of the host's last command
        self.inflight = {}  # seq -> ticks_ms of its last send (only while a host is attached)
        outbox.transports.append(self)

    # -- frames out ------------------------------------------------------------------------
    def _write(self, n):
        self.out.write(memoryview(self.buf)[:n])  # pyright: ignore[reportCallIssue, reportArgumentType]

    def offer(self, seq, buf, end, kept):
        """A new record, made in buf (the outbox's): sent once, live, host or no host."""
        self._write(proto.frame(buf, b"R", end))
        if self.hold and kept:
            self.inflight[seq] = time.ticks_ms()

    def hello(self):
        d, fw, board, fwid = self.info
        self._write(proto.encode_hello(self.buf, d, fw, board, self.outbox.boot, self.hold, fwid))

    def reply(self, cmd, ok, err=None, extra=None):
        self._write(proto.encode_reply(self.buf, cmd, ok, err, extra))

    # -- what the dispatcher tells a transport ---------------------------------------------
    def attach(self):
        self.hold = True
        self.inflight.clear()
        self.hello()

    def detach(self):
        self.hold = False
        self.inflight.clear()

    def acked(self):
        for seq in list(self.inflight):
            if not self.q.is_queued(seq):
                del self.inflight[seq]

    # -- resends -----------------------------------------------------------------------------
    def pump(self):
        """Send queued records the host has not acked: oldest first, at most `window` unacked
        in flight, each resent after resend_s. Only while a host is attached."""
        if not self.hold:
            return 0
        now = time.ticks_ms()
        sent = 0
        seq = 0
        inflight = self.inflight
        q = self.q
        while True:
            seq = q.first_unacked(seq)
            if not seq:
                break
            t = inflight.get(seq)
            if t is not None and time.ticks_diff(now, t) < self.resend_ms:
                continue
            if t is None and len(inflight) >= self.window:
                break
            payload = q.read(seq)
            if payload is None:
                continue
            self._write(proto.frame_payload(self.buf, b"R", payload))
            inflight[seq] = now
            sent += 1
            if sent >= self.window:
                break
        return sent

    def line(self, line):
        self.host_ms = time.ticks_ms()
        if self.dispatch is not None:
            self.dispatch(line, self)

    # -- tasks -------------------------------------------------------------------------------
    async def reader(self, stream):
        """Host commands in. One byte at a time: a blocking stream read would wait for a whole
        buffer (the ESP32's and the unix port's stdin both do), and a line without its end
        must never stall the loop."""
        line = bytearray(_LINE_MAX)
        one = bytearray(1)
        n = 0
        while True:
            got = await stream.readinto(one)
            if not got:
                await asyncio.sleep_ms(_IDLE_READ_MS)
                continue
            c = one[0]
            if c == 10 or c == 13:
                if n:
                    try:
                        self.line(bytes(line[:n]).decode())
                    except UnicodeError:
                        pass  # line noise: not a command
                    n = 0
            elif c == 33:
                # "!": a command starts here. What came before it on the line is not part of it
                # (proto.parse_command reads from the last "!"; a command holds one, docs/
                # protocol.md) and may be line noise, which would fail the line's UTF-8 decode
                # and take the command with it: a host that was at the wrong speed, a glitch as
                # a USB bridge comes up.
                line[0] = c
                n = 1
            elif n < _LINE_MAX:
                line[n] = c
                n += 1

    async def sender(self):
        """Records out: resends and backlog while a host is attached."""
        while True:
            if self.beat is not None:
                self.beat()
            self.pump()
            await asyncio.sleep_ms(_PUMP_MS)


def stdin_reader():
    # bytes, not str: the command parser works on bytes and a stray non-UTF-8 byte (line
    # noise) must not raise
    return asyncio.StreamReader(getattr(sys.stdin, "buffer", sys.stdin))
