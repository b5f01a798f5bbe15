# SIMCom SIM7080G / SIM7000G TCP and TLS sockets over AT, as a stream for the uplink's MQTT
# client (docs/uplink.md "Transports"). Imported only when the uplink runs on such a modem.
#
# SIM7080 Series AT Command Manual V1.02 (also the CA* stack of SIM7000G firmware 1529B10 and
# later), chapters "AT Commands for TCP/UDP" and "AT Commands for SSL":
#   AT+CSSLCFG="SSLVERSION",<ctx>,3           TLS 1.2
#   AT+CSSLCFG="CONVERT",2,"<ca file>"         import a CA certificate from the file system
#                                              (put there by provisioning with AT+CFSWFILE)
#   AT+CSSLCFG="SNI",<ctx>,"<server name>"     the name the server certificate must carry
#   AT+CASSLCFG=<cid>,"SSL",<0|1> / "CRINDEX",<ctx> / "CACERT","<ca file>"
#   AT+CAOPEN=<cid>,<pdp>,"TCP","<host>",<port>   -> +CAOPEN: <cid>,<result>
#       0 ok, 20 DNS, 21 network not active, 23 refused, 24 certificate expired, 25 common name
#       mismatch, 26 both, 27 connect failed
#   AT+CASEND=<cid>,<len>  ">"  <len> bytes (at most 1460)  OK
#   AT+CARECV=<cid>,<len>  +CARECV: <n>,<n bytes>  OK (the bytes are binary, inline: the AT
#                          engine's raw_pre/raw_mv take them)
#   AT+CACLOSE=<cid>; URCs +CADATAIND: <cid> (data arrived), +CASTATE: <cid>,0 (closed)
# TLS is never replaced by plain TCP: a certificate the modem rejects raises LinkError("tls").
import asyncio
import errno

from micropython import const

from mobiot_fw.uplink.mqtt import LinkError

_SEG = const(1460)  # AT+CASEND / AT+CARECV <len> 1-1460
_OPEN_MS = const(60000)  # DNS + TCP + TLS handshake over LTE-M / NB-IoT
_SEND_MS = const(15000)
_POLL_MS = const(2000)  # read even without +CADATAIND now and then: a lost URC must not stall


class SimcomCA:
    NAME = "simcom-ca"

    def __init__(self, at, cid=0, pdp=0, ctx=0):
        self.at = at
        self.cid = cid
        self.pdp = pdp
        self.ctx = ctx
        self.closed = True
        self._avail = False
        self._ev = asyncio.Event()
        self._ind = "+CADATAIND: %d" % cid
        self._state = "+CASTATE: %d," % cid
        self._prev = at.urc_handler
        at.urc_handler = self._urc
        # read-ahead: one AT+CARECV takes all that is buffered (up to 1460 bytes); the MQTT
        # reader's small reads are served from here, not by one AT command each
        self._rb = bytearray(_SEG)
        self._rbv = memoryview(self._rb)
        self._rh = 0
        self._rt = 0

    def _urc(self, line):
        if line.startswith(self._ind):
            self._avail = True
            self._ev.set()
        elif line.startswith(self._state) and line.endswith(",0"):
            self.closed = True
            self._ev.set()
        if self._prev is not None:
            self._prev(line)

    async def open(self, host, port, tls, ca):
        at = self.at
        cid = self.cid
        if tls:
            for c in ('AT+CSSLCFG="SSLVERSION",%d,3' % self.ctx, 'AT+CSSLCFG="CONVERT",2,"%s"' % ca,
                      'AT+CASSLCFG=%d,"SSL",1' % cid, 'AT+CASSLCFG=%d,"CRINDEX",%d' % (cid, self.ctx),
                      'AT+CASSLCFG=%d,"CACERT","%s"' % (cid, ca), 'AT+CSSLCFG="SNI",%d,"%s"' % (self.ctx, host)):
                try:
                    await at.cmd(c)
                except OSError:
                    raise LinkError("tls", 0)  # no CA in the modem: never fall back to plain TCP
        else:
            await at.cmd('AT+CASSLCFG=%d,"SSL",0' % cid)
        lines, _ = await at.cmd('AT+CAOPEN=%d,%d,"TCP","%s",%d' % (cid, self.pdp, host, port), _OPEN_MS)
        res = -1
        for ln in lines:
            if ln.startswith("+CAOPEN:"):
                res = int(ln.rpartition(",")[2])
        if res:
            raise LinkError("dns" if res == 20 else "network" if res == 21 else "refused" if res == 23 else
                            "tls" if 24 <= res <= 26 else "connect", res)
        self.closed = False
        self._avail = False
        self._rh = self._rt = 0

    async def write(self, mv):
        at = self.at
        off = 0
        n = len(mv)
        while off < n:
            if self.closed:
                raise OSError(errno.ENOTCONN)
            k = min(_SEG, n - off)
            await at.send_data(mv[off : off + k], _SEND_MS, None, "AT+CASEND=%d,%d" % (self.cid, k))
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
                at.raw_next = False
                at.raw_n = 0
                at.raw_pre = b"+CARECV: "
                try:
                    await at.cmd("AT+CARECV=%d,%d" % (self.cid, _SEG))
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
            await self.at.cmd("AT+CACLOSE=%d" % self.cid)
        except OSError:
            pass
