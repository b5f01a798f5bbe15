# A fake of MicroPython's `network` interfaces for tests and the virtual board (never deployed):
# the unix port has no `network` module, so WLAN and PPP are tested against these. They follow
# the MicroPython docs ("class WLAN": active, connect, isconnected, status; "class PPP": connect,
# isconnected, disconnect, SEC_NONE/SEC_PAP/SEC_CHAP) and keep a log of the calls. The IP
# traffic itself goes over the host's real sockets (the unix port's socket module).
import time

STA_IF = 0
STAT_IDLE = 1000  # ESP32 port values (ports/esp32/network_wlan.c)
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010


class WLAN:
    def __init__(self, iface=STA_IF, join_ms=300, ssid=None, clock=None):
        self.iface = iface
        self.join_ms = join_ms  # how long a join takes
        self.ssid = ssid  # the only network in reach (None: any)
        self.clock = clock or time.ticks_ms
        self.log = []
        self._active = False
        self._joined_at = None
        self.up = True  # False: the access point is gone (tests)

    def active(self, on=None):
        if on is None:
            return self._active
        self._active = bool(on)
        self.log.append(("active", self._active))
        return None

    def connect(self, ssid, key=None):
        if not self._active:
            raise OSError("Wifi Not Started")  # the ESP32 port's message
        self.log.append(("connect", ssid))
        if self.ssid is None or ssid == self.ssid:
            self._joined_at = time.ticks_add(self.clock(), self.join_ms)

    def disconnect(self):
        self._joined_at = None

    def isconnected(self):
        j = self._joined_at
        if not self.up:
            self._joined_at = None
            return False
        return j is not None and time.ticks_diff(self.clock(), j) >= 0

    def status(self):
        return STAT_GOT_IP if self.isconnected() else STAT_CONNECTING if self._joined_at else STAT_IDLE


# -- PPP on the wire (RFC 1662 HDLC-like framing; RFC 1661 LCP, RFC 1332 IPCP) -----------------
# Enough of PPP for the fake network.PPP below and the modem simulator's data mode
# (sim/modem_sim.py) to negotiate over the UART bytes: Configure-Request / -Ack, Terminate-Request
# / -Ack, Echo-Request / -Reply. The IP packets themselves never go over this link: the unix
# port's sockets carry them (the fake's limit, docs/uplink.md).
FLAG = 0x7E
LCP = 0xC021
IPCP = 0x8021
CONF_REQ, CONF_ACK, TERM_REQ, TERM_ACK, ECHO_REQ, ECHO_REP = 1, 2, 5, 6, 9, 10


def fcs16(data):
    """The PPP frame check sequence (RFC 1662 §C.2: reflected CRC-16/X.25, init 0xFFFF, final
    complement)."""
    fcs = 0xFFFF
    for b in data:
        fcs ^= b
        for _ in range(8):
            fcs = (fcs >> 1) ^ 0x8408 if fcs & 1 else fcs >> 1
    return fcs ^ 0xFFFF


def frame(proto, code, ident, data=b""):
    """One control packet as HDLC-like framed bytes: flag, address 0xFF, control 0x03, protocol,
    code, identifier, length, data, FCS (LSB first), flag; octets < 0x20, 0x7D and 0x7E escaped
    (RFC 1662 §4.2, the default ACCM)."""
    n = 4 + len(data)
    body = bytes((0xFF, 0x03, proto >> 8, proto & 0xFF, code, ident, n >> 8, n & 0xFF)) + bytes(data)
    f = fcs16(body)
    body += bytes((f & 0xFF, f >> 8))
    out = bytearray((FLAG,))
    for b in body:
        if b < 0x20 or b in (0x7D, 0x7E):
            out.append(0x7D)
            out.append(b ^ 0x20)
        else:
            out.append(b)
    out.append(FLAG)
    return bytes(out)


class Unframer:
    """Bytes in, whole packets out: (protocol, code, identifier, data) for each frame whose FCS is
    good (RFC 1662 §C.2: the FCS over the frame and its FCS is 0xF0B8); anything between frames
    that is not PPP (a modem's "NO CARRIER") is kept in .text."""

    def __init__(self):
        self.buf = bytearray()
        self.inside = False
        self.esc = False
        self.text = bytearray()
        self.ntext = 0  # bytes outside frames, in all (an AT command written into data mode)
        self.bad = 0

    def feed(self, data):
        out = []
        for b in data:
            if b == FLAG:
                if self.inside and len(self.buf) >= 8:
                    out.append(self._packet(bytes(self.buf)))
                self.buf = bytearray()
                self.inside = True
                self.esc = False
                continue
            if self.inside and not self.buf and not self.esc and b != 0xFF:
                self.inside = False  # after a closing flag: not a frame (every frame starts FF 03)
            if not self.inside:
                self.ntext += 1
                if len(self.text) >= 64:
                    self.text = self.text[32:]  # only the last line or so matters
                self.text.append(b)
                continue
            if b == 0x7D:
                self.esc = True
                continue
            if self.esc:
                b ^= 0x20
                self.esc = False
            self.buf.append(b)
        return [p for p in out if p is not None]

    def _packet(self, f):
        crc = 0xFFFF
        for b in f:
            crc ^= b
            for _ in range(8):
                crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
        if crc != 0xF0B8 or f[0] != 0xFF or f[1] != 0x03:
            self.bad += 1
            return None
        return (f[2] << 8 | f[3], f[4], f[5], f[8 : len(f) - 2])


class PPP:
    """network.PPP(stream) over a UART whose other end is the modem simulator in data mode:
    connect() sends LCP Configure-Request; when the modem acknowledges it, IPCP Configure-Request;
    isconnected() is True once IPCP is acknowledged too, and False again after the modem ended
    the call (NO CARRIER on the line, a Terminate-Request from its side) or after disconnect()
    (LCP Terminate-Request). The real interface runs these in its own task; this fake reads the
    stream whenever it is asked, so something must ask (PppLink and PppStream do)."""

    SEC_NONE = 0
    SEC_PAP = 1
    SEC_CHAP = 2

    def __init__(self, stream):
        self.stream = stream
        self.log = [("new",)]
        self.state = None  # None | "lcp" | "ipcp" | "up" | "down"
        self._un = Unframer()
        self._buf = bytearray(256)
        self._id = 0

    def _send(self, proto, code, data=b""):
        self._id = (self._id + 1) & 0xFF
        self.stream.write(frame(proto, code, self._id, data))

    def connect(self, security=0, user=None, key=None):
        self.log.append(("connect", security, user))
        self.state = "lcp"
        self._un = Unframer()
        self._send(LCP, CONF_REQ, bytes((5, 6, 0x12, 0x34, 0x56, 0x78)))  # magic number option

    def _poll(self):
        s = self.stream
        while True:
            n = s.readinto(self._buf)
            if not n:
                break
            for proto, code, ident, data in self._un.feed(memoryview(self._buf)[:n]):
                self.log.append(("rx", proto, code))
                if proto == LCP and code == CONF_ACK and self.state == "lcp":
                    self.state = "ipcp"
                    self._send(IPCP, CONF_REQ, bytes((3, 6, 0, 0, 0, 0)))  # IP-Address 0.0.0.0: give me one
                elif proto == IPCP and code == CONF_ACK and self.state == "ipcp":
                    self.state = "up"
                elif proto == LCP and code == TERM_REQ:
                    self.stream.write(frame(LCP, TERM_ACK, ident))
                    self.state = "down"
        if b"NO CARRIER" in self._un.text:
            self._un.text = bytearray()
            if self.state is not None:
                self.log.append(("no carrier",))
                self.state = "down"

    def isconnected(self):
        if self.state in ("lcp", "ipcp", "up"):
            self._poll()
        return self.state == "up"

    def disconnect(self):
        self.log.append(("disconnect",))
        if self.state in ("lcp", "ipcp", "up"):
            self._send(LCP, TERM_REQ)
        self.state = None
