# Quectel BG95 / BG96 / EC200U TCP and TLS sockets over AT, as a stream for the uplink's MQTT client
# (docs/uplink.md "Transports"). Imported only when the uplink runs on such a modem.
#
# Quectel BG95&BG77 TCP/IP Application Note (AT+QIOPEN, AT+QISEND, AT+QIRD, AT+QICLOSE,
# "buffer access mode": data waits in the modem until read, +QIURC: "recv",<id> says it came)
# and SSL Application Note (AT+QSSLCFG, AT+QSSLOPEN, AT+QSSLSEND, AT+QSSLRECV, AT+QSSLCLOSE,
# +QSSLURC). The CA file is put in the modem's file system by provisioning (AT+QFUPL).
# SSL Application Note, AT+QSSLCFG: "seclevel" 1 manages server authentication (the CA checks
# the server), 2 server and client authentication: with a client pair from cell/certs.client,
# "clientcert" and "clientkey" name the files (UFS, AT+QFUPL) the modem presents.
#   open:  OK, then +QIOPEN: <id>,<err> / +QSSLOPEN: <id>,<err>; 0 ok, 565 DNS parse failed,
#          566 socket connect failed, 561 open PDP context failed (TCP/IP AN, error codes)
#   read:  +QIRD: <n> CR LF <n bytes> CR LF OK (the AT engine's raw_pre with raw_next)
# EC200U (LTE Cat 1 bis): the same commands and answers (EC200U&EG915U Series TCP/IP Application
# Note V1.1: AT+QIOPEN/AT+QISEND/AT+QIRD/AT+QICLOSE, buffer access mode, +QIURC; EC200U&EG915U
# Series SSL Application Note: AT+QSSLCFG/AT+QSSLOPEN/AT+QSSLSEND/AT+QSSLRECV, +QSSLURC).
# TLS files (cell/certs.py): Quectel BG95 / EC200U FILE Application Note:
#   AT+QFDEL="UFS:<name>"                      delete (an error when it is not there)
#   AT+QFUPL="UFS:<name>",<size>,<timeout s>   CONNECT, <size> bytes, +QFUPL: <size>,<checksum>
#                                              OK; <checksum> the XOR of the data's 16-bit words
# TLS is never replaced by plain TCP: a failed TLS open raises LinkError("tls").
import errno

from micropython import const

from mobiot_fw.cell.at import AtError

from mobiot_fw.cell.vendor.sock_at import CLOSED, DATA, SEG, AtSock
from mobiot_fw.uplink.mqtt import LinkError

_OPEN_MS = const(150000)  # the application note's maximum for AT+QIOPEN's result
_FILE_S = const(30)
_CTX = const(1)  # the PDP context the modem's attach activated (cell/models.py: AT+QIACT=1)


class QuectelSock(AtSock):
    NAME = "quectel"

    def __init__(self, at, cid=0, ssl_ctx=1):
        super().__init__(at, cid)
        self.ssl_ctx = ssl_ctx
        self.tls = False

    def _kind(self, line):
        if line.startswith("+QIURC:") or line.startswith("+QSSLURC:"):
            f = line.split(",")
            if len(f) >= 2 and f[1].strip() == str(self.cid):
                if '"recv"' in f[0]:
                    return DATA
                if '"closed"' in f[0]:
                    return CLOSED
        return 0

    async def open(self, host, port, tls, ca):
        at = self.at
        self.tls = tls
        k = self.ssl_ctx
        if tls:
            await self._certs(ca)
            pair = await self._client()
            cmds = ['AT+QSSLCFG="sslversion",%d,3' % k,
                    'AT+QSSLCFG="seclevel",%d,%d' % (k, 1 if pair is None else 2),
                    'AT+QSSLCFG="cacert",%d,"%s"' % (k, ca), 'AT+QSSLCFG="sni",%d,1' % k]
            if pair is not None:
                cmds.append('AT+QSSLCFG="clientcert",%d,"%s"' % (k, pair[0]))
                cmds.append('AT+QSSLCFG="clientkey",%d,"%s"' % (k, pair[1]))
            for c in cmds:
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
        self._opened()

    async def put_file(self, name, data):
        at = self.at
        try:
            await at.cmd('AT+QFDEL="UFS:%s"' % name)
        except AtError:
            pass  # not there yet
        lines, _ = await at.send_data(data, (_FILE_S + 5) * 1000, None,
                                      'AT+QFUPL="UFS:%s",%d,%d' % (name, len(data), _FILE_S), "=CONNECT")
        want = "+QFUPL: %d,%x" % (len(data), qfupl_sum(data))
        if want not in lines:
            raise OSError(errno.EIO, "QFUPL %s: %s" % (name, lines))  # the modem got other bytes

    def _send_cmd(self, k):
        return ("AT+QSSLSEND=%d,%d" if self.tls else "AT+QISEND=%d,%d") % (self.cid, k)

    async def _recv(self):
        if self.tls:
            return await self._raw("AT+QSSLRECV=%d,%d" % (self.cid, SEG), b"+QSSLRECV: ", True)
        return await self._raw("AT+QIRD=%d,%d" % (self.cid, SEG), b"+QIRD: ", True)

    def _close_cmd(self):
        return ("AT+QSSLCLOSE=%d" if self.tls else "AT+QICLOSE=%d") % self.cid


def qfupl_sum(data):
    """The +QFUPL checksum: the XOR of the data's 16-bit big-endian words, an odd last byte as
    the high byte of a word (Quectel FILE Application Note, AT+QFUPL <checksum>)."""
    x = 0
    n = len(data)
    for i in range(0, n - 1, 2):
        x ^= (data[i] << 8) | data[i + 1]
    if n & 1:
        x ^= data[n - 1] << 8
    return x
