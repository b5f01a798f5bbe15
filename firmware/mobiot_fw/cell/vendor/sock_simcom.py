# SIMCom SIM7080G / SIM7000G TCP and TLS sockets over AT, as a stream for the uplink's MQTT
# client (docs/uplink.md "Transports"). Imported only when the uplink runs on such a modem.
#
# The CA* stack: SIM7080 Series AT Command Manual V1.02 (also SIM7000G firmware 1529B10 and
# later), chapters "AT Commands for TCP/UDP" and "AT Commands for SSL". The parameter names are
# sent in lower case: the manual writes them in capitals, but some module firmware accepts only
# lower case ("despite docs using caps, "sslversion" must be in lower case", the same for
# "sni" and "convert": TinyGSM src/TinyGsmClientSIM7080.h configureSSLContext(),
# convertCACertificateImpl()); lower case works on every firmware seen.
#   AT+CSSLCFG="sslversion",<ctx>,3           TLS 1.2
#   AT+CSSLCFG="convert",2,"<ca file>"         import a CA certificate from the file system
#                                              (put there by cell/certs.py with AT+CFSWFILE)
#   AT+CSSLCFG="sni",<ctx>,"<server name>"     the name the server certificate must carry
#   AT+CSSLCFG="convert",1,"<cert>","<key>"     mutual TLS: import the client certificate and
#                                              its private key (<ssltype> 1), both written by
#                                              cell/certs.client with AT+CFSWFILE; the
#                                              conversion joins them under the cert's name
#   AT+CASSLCFG=<cid>,"cert","<cert>"           the connection presents that client certificate
#                                              ("Client certificate name that has been
#                                              configured by AT+CSSLCFG": TinyGSM
#                                              applySSLCertificates(), quoting the manual)
#   AT+CASSLCFG=<cid>,"ssl",<0|1> / "crindex",<ctx> / "cacert","<ca file>" ("crindex" ties the
#                                              connection to the SSL context: before the certs)
#   AT+CAOPEN=<cid>,<pdp>,"TCP","<host>",<port>   -> +CAOPEN: <cid>,<result>
#       0 ok, 20 DNS, 21 network not active, 23 refused, 24 certificate expired, 25 common name
#       mismatch, 26 both, 27 connect failed
#   AT+CASEND=<cid>,<len>  ">"  <len> bytes (at most 1460)  OK
#   AT+CARECV=<cid>,<len>  +CARECV: <n>,<n bytes>  OK (the bytes are binary, inline: the AT
#                          engine's raw_pre/raw_mv take them)
#   AT+CACLOSE=<cid>; URCs +CADATAIND: <cid> (data arrived), +CASTATE: <cid>,0 (closed)
#
# The SIM7000G's older CIP stack and the choice between the two: sock_sim7000.py.
#
# TLS files (cell/certs.py), SIM7080 Series AT Command Manual, "AT Commands for FS" (the SIM7000
# manual has the same chapter):
#   AT+CFSINIT                                   get the FS buffer (AT+CFSTERM frees it)
#   AT+CFSDFILE=3,"<name>"                       delete (ERROR when it is not there)
#   AT+CFSWFILE=3,"<name>",0,<size>,<ms>         DOWNLOAD, <size> bytes within <ms>, OK;
#                                                <index> 3: /customer/, <mode> 0: from the start,
#                                                <size> <= 10240, <ms> <= 10000
# TLS is never replaced by plain TCP: a certificate the modem rejects raises LinkError("tls").
from micropython import const

from mobiot_fw.cell.at import AtError
from mobiot_fw.cell.vendor.sock_at import CLOSED, DATA, SEG, AtSock
from mobiot_fw.uplink.mqtt import LinkError

_OPEN_MS = const(60000)  # DNS + TCP + TLS handshake over LTE-M / NB-IoT
_FS_MS = const(10000)  # AT+CFSWFILE <timeout>: the longest the manual allows


async def cfs_put(at, name, data):
    """A file into /customer/ of the modem's file system (SIM7080G / SIM7000G FS commands)."""
    await at.cmd("AT+CFSINIT")
    try:
        try:
            await at.cmd('AT+CFSDFILE=3,"%s"' % name)
        except AtError:
            pass  # not there yet
        await at.send_data(data, _FS_MS + 5000, None, 'AT+CFSWFILE=3,"%s",0,%d,%d' % (name, len(data), _FS_MS),
                           "=DOWNLOAD")
    finally:
        await at.cmd("AT+CFSTERM")


class SimcomCA(AtSock):
    NAME = "simcom-ca"

    def __init__(self, at, cid=0, pdp=0, ctx=0):
        super().__init__(at, cid)
        self.pdp = pdp
        self.ctx = ctx
        self._ind = "+CADATAIND: %d" % cid
        self._state = "+CASTATE: %d," % cid

    def _kind(self, line):
        if line.startswith(self._ind):
            return DATA
        if line.startswith(self._state) and line.endswith(",0"):
            return CLOSED
        return 0

    async def open(self, host, port, tls, ca):
        at = self.at
        cid = self.cid
        if tls:
            await self._certs(ca)
            pair = await self._client()
            cmds = ['AT+CSSLCFG="sslversion",%d,3' % self.ctx, 'AT+CSSLCFG="convert",2,"%s"' % ca,
                    'AT+CASSLCFG=%d,"ssl",1' % cid, 'AT+CASSLCFG=%d,"crindex",%d' % (cid, self.ctx),
                    'AT+CASSLCFG=%d,"cacert","%s"' % (cid, ca), 'AT+CSSLCFG="sni",%d,"%s"' % (self.ctx, host)]
            if pair is not None:  # mutual TLS (see the header: convert 1, cert)
                cmds.append('AT+CSSLCFG="convert",1,"%s","%s"' % pair)
                cmds.append('AT+CASSLCFG=%d,"cert","%s"' % (cid, pair[0]))
            for c in cmds:
                try:
                    await at.cmd(c)
                except OSError:
                    raise LinkError("tls", 0)  # no CA in the modem: never fall back to plain TCP
        else:
            await at.cmd('AT+CASSLCFG=%d,"ssl",0' % cid)
        lines, _ = await at.cmd('AT+CAOPEN=%d,%d,"TCP","%s",%d' % (cid, self.pdp, host, port), _OPEN_MS)
        res = -1
        for ln in lines:
            if ln.startswith("+CAOPEN:"):
                res = int(ln.rpartition(",")[2])
        if res:
            raise LinkError("dns" if res == 20 else "network" if res == 21 else "refused" if res == 23 else
                            "tls" if 24 <= res <= 26 else "connect", res)
        self._opened()

    async def put_file(self, name, data):
        await cfs_put(self.at, name, data)

    def _send_cmd(self, k):
        return "AT+CASEND=%d,%d" % (self.cid, k)

    async def _recv(self):
        return await self._raw("AT+CARECV=%d,%d" % (self.cid, SEG), b"+CARECV: ", False)

    def _close_cmd(self):
        return "AT+CACLOSE=%d" % self.cid
