# What every modem's AT socket transport shares (docs/uplink.md "Transports"): the stream the
# uplink's MQTT client reads and writes (open, write, read_into, close), a read-ahead buffer so
# that the MQTT reader's small reads do not cost one AT command each, send segmentation, and the
# URC chain. A dialect (sock_simcom, sock_a76xx, sock_quectel) says only how its commands look:
#   _kind(line)      URC -> _DATA (data waits in the modem), _CLOSED (the peer or network closed
#                    it) or 0
#   _send_cmd(k)     the command whose ">" prompt takes k payload bytes
#   async _recv()    one read command into self._rbv; returns the bytes read (0: nothing there)
#   _close_cmd()     the command that closes the connection
#   async put_file(name, data)   write a TLS file into the modem's file system (cell/certs.py)
# Written by hand: no MicroPython package speaks modems' socket AT commands (the TCP/IP stack is
# in the modem, not in MicroPython's lwIP), and one preallocated buffer keeps the heap flat.
import asyncio
import errno

from micropython import const

SEG = const(1460)  # the largest send / read of every supported dialect (each cites its manual)
DATA = const(1)
CLOSED = const(2)
_SEND_MS = const(15000)
_POLL_MS = const(2000)  # read even without a URC now and then: a lost URC must not stall


class AtSock:
    NAME = "?"

    def __init__(self, at, cid):
        self.at = at
        self.cid = cid
        self.closed = True
        self._avail = False
        self._ev = asyncio.Event()
        self._prev = at.urc_handler
        at.urc_handler = self._urc
        self._rb = bytearray(SEG)
        self._rbv = memoryview(self._rb)
        self._rh = 0
        self._rt = 0

    def _urc(self, line):
        k = self._kind(line)
        if k == DATA:
            self._avail = True
            self._ev.set()
        elif k == CLOSED:
            self.closed = True
            self._ev.set()
        if self._prev is not None:
            self._prev(line)

    def _kind(self, line):
        return 0

    def _opened(self):
        self.closed = False
        self._avail = False
        self._rh = self._rt = 0

    async def _raw(self, cmd, pre, next_line, timeout_ms=5000, expect=None):
        # a read command whose answer carries raw bytes after "<pre><n>" (cell/at.py raw_*)
        at = self.at
        at.raw_mv = self._rbv
        at.raw_next = next_line
        at.raw_n = 0
        at.raw_pre = pre
        try:
            await at.cmd(cmd, timeout_ms, expect)
        finally:
            n = at.raw_n
            at.raw_pre = None
        return min(n, SEG)

    async def write(self, mv):
        off = 0
        n = len(mv)
        while off < n:
            if self.closed:
                raise OSError(errno.ENOTCONN)
            k = min(SEG, n - off)
            await self.at.send_data(mv[off : off + k], _SEND_MS, None, self._send_cmd(k))
            off += k

    async def read_into(self, mv):
        while True:
            if self._rh < self._rt:
                k = min(len(mv), self._rt - self._rh)
                mv[:k] = self._rbv[self._rh : self._rh + k]
                self._rh += k
                return k
            if self._avail:
                # data may still wait in the modem after the peer closed (a CONNACK refusal)
                try:
                    n = await self._recv()
                except OSError:
                    if not self.closed:
                        raise
                    n = 0
                self._rh = 0
                self._rt = n
                if n:
                    continue
                self._avail = False
            if self.closed:
                return 0
            self._ev.clear()
            try:
                await asyncio.wait_for_ms(self._ev.wait(), _POLL_MS)
            except asyncio.TimeoutError:
                self._avail = True

    def close(self):
        if not self.closed:
            self.closed = True
            asyncio.create_task(self._close())
        self._ev.set()

    async def _close(self):
        try:
            await self.at.cmd(self._close_cmd())
        except OSError:
            pass

    async def _certs(self, *names):
        # before a TLS open: the board's /certs files into the modem (cell/certs.py); a file the
        # modem refuses is a TLS failure, never a reason to connect without TLS
        from mobiot_fw.cell import certs
        from mobiot_fw.uplink.mqtt import LinkError

        for n in names:
            try:
                await certs.ensure(self, n)
            except (OSError, ValueError):
                raise LinkError("tls", 0)

    async def _client(self):
        # mutual TLS: the client certificate and key into the modem (cell/certs.client), their
        # names, or None without them; half a pair or a refused file is a TLS failure
        from mobiot_fw.cell import certs
        from mobiot_fw.uplink.mqtt import LinkError

        try:
            return await certs.client(self)
        except certs.HalfPair:
            raise LinkError("tls", certs.HALF_PAIR)
        except (OSError, ValueError):
            raise LinkError("tls", 0)

    def _send_cmd(self, k):
        raise NotImplementedError

    async def _recv(self):
        raise NotImplementedError

    def _close_cmd(self):
        raise NotImplementedError
