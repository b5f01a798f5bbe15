# Quectel BG95 / BG96 TCP and TLS sockets over AT, as a stream for the uplink's MQTT client
# (docs/uplink.md "Transports"). Imported only when the uplink runs on such a modem.
#
# Quectel BG95&BG77 TCP/IP Application Note (AT+QIOPEN, AT+QISEND, AT+QIRD, AT+QICLOSE,
# "buffer access mode": data waits in the modem until read, +QIURC: "recv",<id> says it came)
# and SSL Application Note (AT+QSSLCFG, AT+QSSLOPEN, AT+QSSLSEND, AT+QSSLRECV, AT+QSSLCLOSE,
# +QSSLURC). The CA file is put in the modem's file system by provisioning (AT+QFUPL).
#   open:  OK, then +QIOPEN: <id>,<err> / +QSSLOPEN: <id>,<err>; 0 ok, 565 DNS parse failed,
#          566 socket connect failed, 561 open PDP context failed (TCP/IP AN, error codes)
#   read:  +QIRD: <n> CR LF <n bytes> CR LF OK (the AT engine's raw_pre with raw_next)
# TLS is never replaced by plain TCP: a failed TLS open raises LinkError("tls").
import asyncio
import errno

from micropython import const

from mobiot_fw.uplink.mqtt import LinkError

_SEG = const(1460)  # AT+QISEND <send_length> <= 1460, AT+QIRD <read_length> <= 1500
_OPEN_MS = const(150000)  # the application note's maximum for AT+QIOPEN's result
_SEND_MS = const(15000)
_POLL_MS = const(2000)
_CTX = const(1)  # the PDP context the modem's attach activated (cell/models.py: AT+QIACT=1)


class QuectelSock:
    NAME = "quectel"

    def __init__(self, at, cid=0, ssl_ctx=1):
        self.at = at
        self.cid = cid
        self.ssl_ctx = ssl_ctx
        self.tls = False
        self.closed = True
        self._avail = False
        self._ev = asyncio.Event()
        self._prev = at.urc_handler
        at.urc_handler = self._urc
        self._rb = bytearray(_SEG)
        self._rbv = memoryview(self._rb)
        self._rh = self._rt = 0

    def _urc(self, line):
        if line.startswith("+QIURC:") or line.startswith("+QSSLURC:"):
            f = line.split(",")
            if len(f) == 2 and f[1].strip() == str(self.cid):
                if '"recv"' in f[0]:
                    self._avail = True
                elif '"closed"' in f[0]:
                    self.closed = True
                self._ev.set()
        if self._prev is not None:
            self._prev(line)

    async def open(self, host, port, tls, ca):
        at = self.at
        self.tls = tls
        k = self.ssl_ctx
        if tls:
            for c in ('AT+QSSLCFG="sslversion",%d,3' % k, 'AT+QSSLCFG="seclevel",%d,1' % k,
                      'AT+QSSLCFG="cacert",%d,"%s"' % (k, ca), 'AT+QSSLCFG="sni",%d,1' % k):
                try:
                    await at.cmd(c)
                except OSError:
                    raise LinkError("tls", 0)
            cmd = 'AT+QSSLOPEN=%d,%d,%d,"%s",%d,0' % (_CTX, k, self.cid, host, port)
            want = "+QSSLOPEN:"
        else:
            cmd = 'AT+QIOPEN=%d,%d,"TCP","%s",%d,0,0' % (_CTX, self.cid, host, port)
            want = "+QIOPEN:"
        lines, _ = await at.cmd(cmd, _OPEN_MS, expect=want)
        res = -1
        for ln in lines:
            if ln.startswith(want):
                res = int(ln.rpartition(",")[2])
        if res:
            raise LinkError("dns" if res == 565 else "network" if res == 561 else "connect" if res == 566 and not tls
                            else "tls" if tls else "connect", res)
        self.closed = False
        self._avail = False
        self._rh = self._rt = 0

    async def write(self, mv):
        n = len(mv)
        off = 0
        verb = "AT+QSSLSEND=%d,%d" if self.tls else "AT+QISEND=%d,%d"
        while off < n:
            if self.closed:
                raise OSError(errno.ENOTCONN)
            k = min(_SEG, n - off)
            await self.at.send_data(mv[off : off + k], _SEND_MS, None, verb % (self.cid, k))
            off += k

    async def read_into(self, mv):
        at = self.at
        while True:
            if self._rh < self._rt:
                k = min(len(mv), self._rt - self._rh)
                mv[:k] = self._rbv[self._rh : self._rh + k]
                self._rh += k
                return k
            if self._avail:
                at.raw_mv = self._rbv
                at.raw_next = True
                at.raw_n = 0
                at.raw_pre = b"+QSSLRECV: " if self.tls else b"+QIRD: "
                try:
                    await at.cmd(("AT+QSSLRECV=%d,%d" if self.tls else "AT+QIRD=%d,%d") % (self.cid, _SEG))
                finally:
                    n = at.raw_n
                    at.raw_pre = None
                self._rh = 0
                self._rt = min(n, _SEG)
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
            await self.at.cmd(("AT+QSSLCLOSE=%d" if self.tls else "AT+QICLOSE=%d") % self.cid)
        except OSError:
            pass
