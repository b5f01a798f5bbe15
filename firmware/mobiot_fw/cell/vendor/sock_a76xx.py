# SIMCom A76XX (A7670, A7680C: LTE Cat 1) TCP and TLS sockets over AT, as a stream for the
# uplink's MQTT client (docs/uplink.md "Transports"). Imported only when the uplink runs on such
# a modem. A76XX Series AT Command Manual V1.11 (2023-12-07):
#
# TCP, chapter "AT Commands for TCPIP":
#   AT+CIPRXGET=1            manual receive: data waits in the modem, URC +CIPRXGET: 1,<link>
#                            says it came (set before AT+NETOPEN)
#   AT+NETOPEN? / AT+NETOPEN +NETOPEN: <0|1> / OK then +NETOPEN: <err> (0 ok): the socket
#                            service on the PDP context the attach activated (AT+CGACT=1,1)
#   AT+CIPOPEN=<link>,"TCP","<host>",<port>   OK then +CIPOPEN: <link>,<err>; <err> 0 ok,
#                            1 network failure, 2 network not opened, 4 operation not supported,
#                            10 timeout, 11 DNS parse failed, 12 unknown error
#   AT+CIPSEND=<link>,<len>  ">" <len> bytes OK (+CIPSEND: <link>,<req>,<cnf> follows)
#   AT+CIPRXGET=2,<link>,<len>  +CIPRXGET: 2,<link>,<read>,<rest> CR LF <read bytes> CR LF OK
#                            (+IP ERROR: No data, ERROR when nothing waits)
#   AT+CIPCLOSE=<link>       OK then +CIPCLOSE: <link>,<err>; URC +IPCLOSE: <link>,<reason>
#                            when the peer or the network closed it
#   <link> 0-9, <len> 1-1500 (1460 used, as every dialect here: sock_at.SEG)
#
# TLS, chapter "AT Commands for SSL":
#   AT+CSSLCFG="sslversion",<ctx>,4       all TLS versions the module has (1.2 included)
#   AT+CSSLCFG="authmode",<ctx>,1         server authentication: the CA file must verify the
#                                         server (0 would accept any server: never used)
#   AT+CSSLCFG="cacert",<ctx>,"<file>"    the CA, put in the module by cell/certs.py
#                                         (AT+CCERTDOWN)
#   AT+CSSLCFG="enableSNI",<ctx>,1        send the host name (TLS SNI)
#   AT+CSSLCFG="authmode",<ctx>,2         mutual TLS: server and client authentication, with
#                                         (0 none, 1 server, 2 server and client, 3 client:
#                                         as TinyGSM-fork src/TinyGsmClientA76xxSSL.h
#                                         sslConnect() quotes the manual)
#   AT+CSSLCFG="clientcert",<ctx>,"<file>"   the client certificate and
#   AT+CSSLCFG="clientkey",<ctx>,"<file>"    its private key, both put in the module by
#                                         cell/certs.client (AT+CCERTDOWN)
#   AT+CCHSET=0,1                         no send report; manual receive: URC
#                                         +CCHEVENT: <session>,RECV EVENT says data came
#   AT+CCHSTART                           OK then +CCHSTART: <err> (already started: ERROR)
#   AT+CCHSSLCFG=<session>,<ctx>          the session uses SSL context <ctx>
#   AT+CCHOPEN=<session>,"<host>",<port>,2   client_type 2: SSL/TLS client. OK then
#                                         +CCHOPEN: <session>,<err>; <err> 0 ok, 4 peer
#                                         closed, 5 timeout, 9 network error, 13 DNS error,
#                                         14 connect socket error, 15 handshake error (a
#                                         certificate the CA does not verify), 19 no certificate
#   AT+CCHSEND=<session>,<len>            ">" <len> bytes OK
#   AT+CCHRECV=<session>,<len>            OK, then +CCHRECV: DATA,<session>,<n> CR LF <n bytes>
#                                         and +CCHRECV: <session>,<err> (the end of the read;
#                                         this order: TinyGsmClientA76xxSSL.h sslRead())
#   AT+CCHCLOSE=<session>                 OK then +CCHCLOSE: <session>,<err>;
#                                         URC +CCH_PEER_CLOSED: <session>
#   <session> 0-1, <ctx> 0-9
#   AT+CCERTDELE="<name>"                 delete a certificate (ERROR when it is not there)
#   AT+CCERTDOWN="<name>",<len>           ">" <len> bytes OK: a certificate or key into the
#                                         module (cell/certs.py); <name> ends .pem or .der,
#                                         <len> <= 10240
# TLS is never replaced by plain TCP: a failed TLS open raises LinkError("tls").
from micropython import const

from mobiot_fw.cell.at import AtError
from mobiot_fw.cell.vendor.sock_at import CLOSED, DATA, SEG, AtSock
from mobiot_fw.uplink.mqtt import LinkError

_OPEN_MS = const(120000)  # the manual's maximum response time of AT+CIPOPEN / AT+CCHOPEN
_NET_MS = const(120000)  # AT+NETOPEN, AT+CCHSTART
_RECV_MS = const(10000)
_FILE_MS = const(20000)
_CCH_TCP_ERRS = "|4|5|9|13|14|17|"  # +CCHOPEN <err> that are not about TLS (peer, network, DNS)


class A76xxSock(AtSock):
    NAME = "a76xx"

    def __init__(self, at, cid=0, ctx=0):
        super().__init__(at, cid)
        self.ctx = ctx
        self.tls = False
        self._rx_urc = "+CIPRXGET: 1,%d" % cid
        self._ipclose = "+IPCLOSE: %d," % cid
        self._cchev = "+CCHEVENT: %d," % cid
        self._cchpeer = "+CCH_PEER_CLOSED: %d" % cid
        self._cchrecv_end = "+CCHRECV: %d," % cid
        self._cchrecv_pre = b"+CCHRECV: DATA,%d," % cid
        self._ciprx_pre = b"+CIPRXGET: 2,%d," % cid

    def _kind(self, line):
        if self.tls:
            if line.startswith(self._cchev):
                return DATA
            if line == self._cchpeer:
                return CLOSED
        else:
            if line == self._rx_urc:
                return DATA
            if line.startswith(self._ipclose):
                return CLOSED
        return 0

    async def open(self, host, port, tls, ca):
        self.tls = tls
        if tls:
            await self._open_tls(host, port, ca)
        else:
            await self._open_tcp(host, port)
        self._opened()

    async def _open_tcp(self, host, port):
        at = self.at
        await at.cmd("AT+CIPRXGET=1")
        lines, _ = await at.cmd("AT+NETOPEN?")
        if "+NETOPEN: 1" not in lines:
            try:
                lines, _ = await at.cmd("AT+NETOPEN", _NET_MS, expect="+NETOPEN:")
            except AtError:
                lines = ["+NETOPEN: 0"]  # "+IP ERROR: Network is already opened"
            if "+NETOPEN: 0" not in lines:
                raise LinkError("network", 0)
        lines, _ = await at.cmd('AT+CIPOPEN=%d,"TCP","%s",%d' % (self.cid, host, port), _OPEN_MS,
                                expect="+CIPOPEN:")
        res = _result(lines, "+CIPOPEN:")
        if res:
            raise LinkError("dns" if res == 11 else "network" if res in (1, 2) else "connect", res)

    async def _open_tls(self, host, port, ca):
        at = self.at
        k = self.ctx
        await self._certs(ca)
        pair = await self._client()
        cmds = ['AT+CSSLCFG="sslversion",%d,4' % k, 'AT+CSSLCFG="authmode",%d,%d' % (k, 1 if pair is None else 2),
                'AT+CSSLCFG="cacert",%d,"%s"' % (k, ca), 'AT+CSSLCFG="enableSNI",%d,1' % k, "AT+CCHSET=0,1"]
        if pair is not None:
            cmds.append('AT+CSSLCFG="clientcert",%d,"%s"' % (k, pair[0]))
            cmds.append('AT+CSSLCFG="clientkey",%d,"%s"' % (k, pair[1]))
        for c in cmds:
            try:
                await at.cmd(c)
            except OSError:
                raise LinkError("tls", 0)  # no such CA in the module: never plain TCP instead
        try:
            await at.cmd("AT+CCHSTART", _NET_MS, expect="+CCHSTART:")
        except AtError:
            pass  # already started (the manual: ERROR when the service runs)
        await at.cmd("AT+CCHSSLCFG=%d,%d" % (self.cid, k))
        lines, _ = await at.cmd('AT+CCHOPEN=%d,"%s",%d,2' % (self.cid, host, port), _OPEN_MS, expect="+CCHOPEN:")
        res = _result(lines, "+CCHOPEN:")
        if res:
            tcp = ("|%d|" % res) in _CCH_TCP_ERRS
            raise LinkError(("dns" if res == 13 else "connect") if tcp else "tls", res)

    async def put_file(self, name, data):
        try:
            await self.at.cmd('AT+CCERTDELE="%s"' % name)
        except AtError:
            pass  # not there yet
        await self.at.send_data(data, _FILE_MS, None, 'AT+CCERTDOWN="%s",%d' % (name, len(data)))

    def _send_cmd(self, k):
        return ("AT+CCHSEND=%d,%d" if self.tls else "AT+CIPSEND=%d,%d") % (self.cid, k)

    async def _recv(self):
        try:
            if self.tls:
                return await self._raw("AT+CCHRECV=%d,%d" % (self.cid, SEG), self._cchrecv_pre, True, _RECV_MS,
                                       self._cchrecv_end)
            return await self._raw("AT+CIPRXGET=2,%d,%d" % (self.cid, SEG), self._ciprx_pre, True, _RECV_MS)
        except AtError:
            return 0  # +IP ERROR: No data / nothing cached

    def _close_cmd(self):
        return ("AT+CCHCLOSE=%d" if self.tls else "AT+CIPCLOSE=%d") % self.cid


def _result(lines, pre):
    # "<pre> <id>,<err>" -> err; -1 when the line is missing
    for ln in lines:
        if ln.startswith(pre):
            return int(ln.rpartition(",")[2])
    return -1
