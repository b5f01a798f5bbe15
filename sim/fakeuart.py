# Fake UART pair for virtual boards and tests (never deployed).
#
# Each end behaves like a machine.UART created with timeout=0: write() never blocks, read()
# and readinto() return what is buffered (None when empty), any() counts buffered bytes.
# Subclassing io.IOBase gives the object the C stream protocol, so asyncio.StreamReader can
# poll it through ioctl(MP_STREAM_POLL); that is what the AT engine does on the board.
#
# A receive buffer is bounded like the ESP32 driver's RX ring (machine.UART rxbuf): bytes that
# do not fit are dropped and counted in `overflows`, as a real UART loses them.
import io

_MP_STREAM_POLL = 3  # py/stream.h MP_STREAM_POLL
_POLL_RD = 1  # py/stream.h MP_STREAM_POLL_RD
_POLL_WR = 4  # py/stream.h MP_STREAM_POLL_WR


class FakeUart(io.IOBase):
    def __init__(self, rxbuf=1024):
        self._rx = bytearray()
        self._rxbuf = rxbuf
        self.peer = None
        self.on_rx = None  # called (no args) after bytes arrive, e.g. by a simulator
        self.on_write = None  # called (no args) on every write, even when the line is dead
        self.overflows = 0
        self.tx_bytes = 0
        self.enabled = True  # False: the line is dead (modem powered off); writes vanish

    # -- the machine.UART stream API ----------------------------------------------------
    def write(self, buf):
        n = len(buf)
        self.tx_bytes += n
        if self.on_write is not None:
            self.on_write()
        p = self.peer
        if p is not None and self.enabled and p.enabled:
            p._feed(buf)
        return n

    def any(self):
        return len(self._rx)

    def read(self, n=-1):
        if not self._rx:
            return None
        if n is None or n < 0 or n > len(self._rx):
            n = len(self._rx)
        out = bytes(self._rx[:n])
        self._rx = self._rx[n:]
        return out

    def readinto(self, buf, n=-1):
        if not self._rx:
            return None
        m = len(buf) if n is None or n < 0 else min(n, len(buf))
        m = min(m, len(self._rx))
        buf[:m] = self._rx[:m]
        self._rx = self._rx[m:]
        return m

    def readline(self):
        i = self._rx.find(b"\n") if hasattr(self._rx, "find") else bytes(self._rx).find(b"\n")
        if i < 0:
            return self.read()
        return self.read(i + 1)

    def ioctl(self, req, arg):
        if req == _MP_STREAM_POLL:
            r = 0
            if arg & _POLL_RD and self._rx:
                r |= _POLL_RD
            if arg & _POLL_WR:
                r |= _POLL_WR
            return r
        # Everything else, MP_STREAM_GET_FILENO (10) in particular, is unsupported: answering 0
        # would make the unix port's poller watch fd 0 (stdin) and wake up spuriously.
        return -1

    def flush(self):
        pass

    # -- the wire ------------------------------------------------------------------------
    def _feed(self, buf):
        room = self._rxbuf - len(self._rx)
        if len(buf) > room:
            self.overflows += len(buf) - room
            buf = buf[:room]
        self._rx.extend(buf)
        if self.on_rx is not None:
            self.on_rx()

    def clear(self):
        self._rx = bytearray()


def uart_pair(rxbuf=1024):
    """Two connected ends: what one writes, the other reads."""
    a = FakeUart(rxbuf)
    b = FakeUart(rxbuf)
    a.peer = b
    b.peer = a
    return a, b
