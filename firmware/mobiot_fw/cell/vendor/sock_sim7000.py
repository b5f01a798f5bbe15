# SIMCom SIM7000G sockets (docs/uplink.md "Transports"): the CA* stack where the modem's firmware
# has it (sock_simcom.SimcomCA, as on SIM7080G), else the older CIP stack. Imported only on a
# SIM7000G, so a SIM7080G never carries this code.
#
# The CIP stack of SIM7000G firmware without CA* (SIM7000 Series AT Command Manual V1.03,
# chapter 8 "AT Commands for TCPIP Application Toolkit"), one connection (AT+CIPMUX=0):
#   AT+CIPSHUT -> SHUT OK (back to IP INITIAL); AT+CIPRXGET=1 (data waits in the modem,
#   "+CIPRXGET: 1" says it came; 8.2.x AT+CIPRXGET); AT+CSTT="<apn>"; AT+CIICR (bring up the
#   wireless connection, up to 85 s); AT+CIFSR (the local IP: the answer has no OK, so it is
#   sent as the compound line "AT+CIFSR;E0", whose E0 ends it with OK, as TinyGSM's SIM7000
#   driver does)
#   AT+CIPSTART="TCP","<host>",<port> -> OK, then CONNECT OK | CONNECT FAIL | ALREADY CONNECT
#   AT+CIPSEND=<len> ">" <len> bytes -> SEND OK | SEND FAIL
#   AT+CIPRXGET=2,<len> -> +CIPRXGET: 2,<cnflen>,<rest> CR LF <cnflen bytes> CR LF OK
#   AT+CIPCLOSE -> CLOSE OK; URC CLOSED when the peer closed it
# That stack has no certificate verification this code can cite (the SSL commands of the
# manual are the CA* stack's), so TLS there is refused: LinkError("tls", _NO_TLS), never a
# plain-TCP connection. Update the modem firmware to get the CA* stack.
#
# SimcomAuto asks once (the transport lives as long as the modem driver) which stack is there: AT+CAOPEN=? answers
# ERROR on firmware without the CA* commands (test command, V.250 §5.4.3.1).
from micropython import const

from mobiot_fw.cell.at import AtError
from mobiot_fw.cell.vendor.sock_at import CLOSED, DATA, SEG, AtSock
from mobiot_fw.cell.vendor.sock_simcom import SimcomCA, cfs_put
from mobiot_fw.uplink.mqtt import LinkError

_OPEN_MS = const(60000)
_CIICR_MS = const(85000)  # SIM7000 manual AT+CIICR maximum response time
_CIPSTART_MS = const(75000)  # SIM7000 manual AT+CIPSTART: 75 s when DNS is involved
_NO_TLS = const(-1)  # code of the tls error when the firmware has no CA* stack


class SimcomCIP(AtSock):
    NAME = "simcom-cip"

    def __init__(self, at, apn=""):
        super().__init__(at, 0)
        self.apn = apn

    def _kind(self, line):
        if line.startswith("+CIPRXGET: 1"):
            return DATA
        if line == "CLOSED":
            return CLOSED
        return 0

    async def open(self, host, port, tls, ca):
        if tls:
            raise LinkError("tls", _NO_TLS)  # no CA* stack: no TLS, and never plain TCP instead
        at = self.at
        await at.cmd("AT+CIPSHUT", _OPEN_MS)
        await at.cmd("AT+CIPMUX=0")
        await at.cmd("AT+CIPRXGET=1")
        await at.cmd('AT+CSTT="%s"' % self.apn)
        try:
            await at.cmd("AT+CIICR", _CIICR_MS)
            await at.cmd("AT+CIFSR;E0")
        except OSError:
            raise LinkError("network", 0)
        lines, _ = await at.cmd('AT+CIPSTART="TCP","%s",%d' % (host, port), _CIPSTART_MS, expect="CONNECT")
        ok = False
        for ln in lines:
            if ln == "CONNECT OK":
                ok = True
        if not ok:
            raise LinkError("connect", 0)
        self._opened()

    async def put_file(self, name, data):
        await cfs_put(self.at, name, data)

    def _send_cmd(self, k):
        return "AT+CIPSEND=%d" % k

    async def _recv(self):
        try:
            return await self._raw("AT+CIPRXGET=2,%d" % SEG, b"+CIPRXGET: 2,", True)
        except OSError:
            if self.closed:
                return 0
            raise

    def _close_cmd(self):
        return "AT+CIPCLOSE"


class SimcomAuto:
    """SIM7000G: the CA* stack where the firmware has it, else the CIP stack; asked on the
    first open (the modem's firmware does not change while it runs)."""

    def __init__(self, at, apn=""):
        self.at = at
        self.apn = apn
        self.impl = None

    @property
    def NAME(self):
        return self.impl.NAME if self.impl is not None else "simcom"

    async def open(self, host, port, tls, ca):
        if self.impl is None:
            try:
                await self.at.cmd("AT+CAOPEN=?")
                self.impl = SimcomCA(self.at)
            except AtError:  # ERROR: no such command (a timeout is not an answer: it propagates)
                self.impl = SimcomCIP(self.at, self.apn)
        await self.impl.open(host, port, tls, ca)

    async def write(self, mv):
        await self.impl.write(mv)  # pyright: ignore[reportOptionalMemberAccess]

    async def read_into(self, mv):
        return await self.impl.read_into(mv)  # pyright: ignore[reportOptionalMemberAccess]

    def close(self):
        if self.impl is not None:
            self.impl.close()
