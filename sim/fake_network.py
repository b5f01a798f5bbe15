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


class PPP:
    SEC_NONE = 0
    SEC_PAP = 1
    SEC_CHAP = 2

    def __init__(self, stream, polls=2):
        self.stream = stream
        self.polls = polls  # isconnected() calls until the link is up (LCP/IPCP negotiation)
        self.log = [("new",)]
        self._n = None

    def connect(self, security=0, user=None, key=None):
        self.log.append(("connect", security, user))
        self._n = 0

    def isconnected(self):
        if self._n is None:
            return False
        self._n += 1
        return self._n > self.polls

    def disconnect(self):
        self.log.append(("disconnect",))
        self._n = None
