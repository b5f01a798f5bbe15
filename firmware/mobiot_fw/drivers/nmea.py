# GNSS receiver over UART: NMEA 0183 GGA / RMC parsing and latest-fix keeping.
#
# Sentence formats: NMEA 0183 v4.10 as documented in u-blox "u-blox 8 / u-blox M8 Receiver
# description" (UBX-13003221), chapter "NMEA Protocol" (GGA and RMC messages), which is what
# the common modules (NEO-6M/M8N, ATGM336H, L76) emit:
#   $ttGGA,hhmmss.ss,ddmm.mmmmm,N,dddmm.mmmmm,E,q,nn,hdop,alt,M,sep,M,age,stn*CS
#     q: 0 no fix, 1 GPS (autonomous), 2 DGPS, 4 RTK fixed, 5 RTK float, 6 dead reckoning
#   $ttRMC,hhmmss.ss,A|V,ddmm.mmmmm,N,dddmm.mmmmm,E,sog_knots,cog,ddmmyy,mv,mvE,mode[,nav]*CS
#     status V (or mode N) = data not valid.
#   Checksum: two hex digits, XOR of every character between "$" and "*".
#   Talker ("tt"): GP GPS, GL GLONASS, GA Galileo, GB/BD BeiDou, GN combined; any two-letter
#   talker is accepted, so a multi-constellation receiver works without configuration.
#
# Parsers are pure functions over a line's fields (no I/O, no clock), so a captured log replays
# into the same function a test calls. A line costs one str decode and one split (a list of
# short strs, ~15 small objects, freed at once); that is the documented allocation per line, at
# most a few lines per second. The class keeps only scalars, no history.
#
# This module runs under CPython too (host log replay), hence the guarded imports.
import errno

from ..nettime import days_from_civil  # one calendar routine for GNSS and network time
import time

# This module is also imported by the host (CPython) to replay logs, so it uses no
# micropython.const and looks the ticks functions up at run time; under CPython they fall
# back to a millisecond clock and plain subtraction.
_ticks_ms = getattr(time, "ticks_ms", None) or (lambda: int(time.time() * 1000))
_ticks_diff = getattr(time, "ticks_diff", None) or (lambda a, b: a - b)

_MAX_LINE = 100  # 82 chars is the NMEA maximum; allow some slack, reject garbage
_KNOT_MS = 0.514444  # 1852 m / 3600 s
_STALE_MS = 5000  # receivers send at 1 Hz; 5 missed epochs = receiver gone

# Fix quality values that mean a real position (GGA field 6). 7 (manual input) and 8
# (simulator) are not measurements of where we are, so they count as "no fix".
_FIX_MAX = 6


def checksum_ok(line):
    """True if `line` (str or bytes, with or without CR LF) is "$...*hh" and hh matches."""
    if isinstance(line, str):
        line = line.encode()
    n = len(line)
    while n and line[n - 1] in (10, 13, 32):
        n -= 1
    if n < 4 or line[0] != 36 or line[n - 3] != 42:  # "$" ... "*hh"
        return False
    cs = 0
    for i in range(1, n - 3):
        c = line[i]
        if c == 42 or c == 36:  # a second "*" or "$": two lines run together
            return False
        cs ^= c
    try:
        return cs == int(line[n - 2 : n], 16)
    except ValueError:
        return False


def fields(line):
    """Fields of a checksum-valid sentence as a list of str, without "$" and "*hh";
    fields[0] is the address (e.g. "GNGGA"). None if the checksum is wrong or the line is
    too long."""
    if isinstance(line, (bytes, bytearray)):
        if len(line) > _MAX_LINE:
            return None
        try:
            line = line.decode()
        except UnicodeError:
            return None
    if len(line) > _MAX_LINE or not checksum_ok(line):
        return None
    return line[1 : line.rfind("*")].split(",")


def parse_latlon(value, hemi):
    """ "ddmm.mmmm"/"dddmm.mmmm" + "N"/"S"/"E"/"W" -> signed decimal degrees.
    Empty value -> None. Malformed -> ValueError."""
    if not value:
        return None
    dot = value.find(".")
    if dot < 0:
        dot = len(value)
    if dot < 3:  # at least one degree digit and two minute digits
        raise ValueError("latlon")
    deg = int(value[: dot - 2])
    minutes = float(value[dot - 2 :])
    if not 0 <= minutes < 60:
        raise ValueError("latlon")
    if hemi == "N" or hemi == "S":
        limit = 90
    elif hemi == "E" or hemi == "W":
        limit = 180
    else:
        raise ValueError("hemisphere")
    d = deg + minutes / 60
    if d > limit:
        raise ValueError("latlon")
    return -d if hemi == "S" or hemi == "W" else d


def parse_time(hhmmss):
    """ "hhmmss[.ss]" -> seconds of day (int, fraction dropped). ValueError if malformed."""
    if len(hhmmss) < 6:
        raise ValueError("time")
    h = int(hhmmss[0:2])
    m = int(hhmmss[2:4])
    s = int(hhmmss[4:6])
    if h > 23 or m > 59 or s > 60:  # 60: leap second
        raise ValueError("time")
    return h * 3600 + m * 60 + s


def parse_date(ddmmyy):
    """ "ddmmyy" -> days since 1970-01-01. Two-digit years pivot on 80 (GPS time starts in
    1980): 80..99 -> 19yy, 00..79 -> 20yy."""
    if len(ddmmyy) != 6:
        raise ValueError("date")
    d = int(ddmmyy[0:2])
    m = int(ddmmyy[2:4])
    y = int(ddmmyy[4:6])
    y += 1900 if y >= 80 else 2000
    if not (1 <= m <= 12 and 1 <= d <= 31):
        raise ValueError("date")
    return days_from_civil(y, m, d)


def parse_gga(f):
    """GGA fields (f[0] = "xxGGA") -> (quality, sats, lat, lon, alt_m).
    With quality 0 (or any non-fix quality) lat/lon/alt are None. ValueError if malformed."""
    if len(f) < 10 or not f[0].endswith("GGA"):
        raise ValueError("GGA")
    q = int(f[6]) if f[6] else 0
    sats = int(f[7]) if f[7] else 0
    if q < 1 or q > _FIX_MAX:
        return (0, sats, None, None, None)
    if f[3] not in ("N", "S") or f[5] not in ("E", "W"):
        raise ValueError("GGA hemisphere")
    lat = parse_latlon(f[2], f[3])
    lon = parse_latlon(f[4], f[5])
    if lat is None or lon is None:
        raise ValueError("GGA fix without position")
    alt = float(f[9]) if f[9] else None
    return (q, sats, lat, lon, alt)


def parse_rmc(f):
    """RMC fields (f[0] = "xxRMC") -> (valid, speed_m_s, epoch_s).
    valid: status "A" and mode (NMEA 2.3+) not "N". speed None if empty or not valid.
    epoch_s: Unix seconds from date+time, None unless valid (a receiver without a fix may
    report a time from its own unsynchronised RTC). ValueError if malformed."""
    if len(f) < 10 or not f[0].endswith("RMC"):
        raise ValueError("RMC")
    valid = f[2] == "A" and not (len(f) > 12 and f[12] == "N")
    if not valid:
        if f[2] != "V" and f[2] != "A":
            raise ValueError("RMC status")
        return (False, None, None)
    spd = float(f[7]) * _KNOT_MS if f[7] else None
    epoch = None
    if f[1] and f[9]:
        epoch = parse_date(f[9]) * 86400 + parse_time(f[1])
    return (True, spd, epoch)


class Gnss:
    """Latest fix from a GNSS receiver's NMEA stream.

    feed(line) is the core (call it from any reader); run() is an asyncio reader task over a
    UART with asyncio.StreamReader. read() follows the sensor driver contract."""

    NAMES = ("lat", "lon", "alt", "spd", "sats", "fix")

    def __init__(self, uart=None, stale_ms=_STALE_MS):
        self._uart = uart
        self.stale_ms = stale_ms
        self.bad_lines = 0  # wrong checksum, too long, or malformed GGA/RMC
        self.good_lines = 0
        self.fix = 0
        self.sats = 0
        self.lat = self.lon = self.alt = self.spd = None
        self._last_ms = None  # ticks of the last valid sentence of any type
        self._gga_ms = None
        self._rmc_ms = None
        self._utc = None
        self.utc_ticks_ms = 0  # ticks_ms() when the last valid RMC time was received

    def feed(self, line, now_ms=None):
        """Parse one line (str or bytes). Returns True if it was a valid sentence. Never
        raises for bad input: bad lines are counted in bad_lines."""
        if now_ms is None:
            now_ms = _ticks_ms()
        f = fields(line)
        if f is None:
            self.bad_lines += 1
            return False
        try:
            kind = f[0][-3:]
            if kind == "GGA":
                q, sats, lat, lon, alt = parse_gga(f)
                self.fix, self.sats, self.lat, self.lon, self.alt = q, sats, lat, lon, alt
                self._gga_ms = now_ms
            elif kind == "RMC":
                valid, spd, epoch = parse_rmc(f)
                self.spd = spd
                if epoch is not None:
                    self._utc = epoch
                    self.utc_ticks_ms = now_ms
                self._rmc_ms = now_ms
        except (ValueError, IndexError):
            self.bad_lines += 1
            return False
        self.good_lines += 1
        self._last_ms = now_ms
        return True

    async def run(self):
        import asyncio  # not at module level: the host imports this module under CPython

        sr = asyncio.StreamReader(self._uart)
        while True:
            line = await sr.readline()
            if line:
                self.feed(line)

    def utc_epoch(self):
        """Unix seconds of the last valid RMC, or None until one arrived. The reading was
        taken at ticks_ms() == utc_ticks_ms: now = utc_epoch() + ticks_diff(ticks_ms(),
        utc_ticks_ms) // 1000."""
        return self._utc

    def _fresh(self, t, now_ms):
        return t is not None and _ticks_diff(now_ms, t) <= self.stale_ms

    def start(self):
        return 0  # the receiver streams by itself

    def read(self, now_ms=None):
        """(lat, lon, alt, spd, sats, fix). ETIMEDOUT if no valid sentence arrived within
        stale_ms; with no (fresh) fix: (None, None, None, None, None, 0)."""
        if now_ms is None:
            now_ms = _ticks_ms()
        if not self._fresh(self._last_ms, now_ms):
            raise OSError(errno.ETIMEDOUT)
        lat, lon, alt = self.lat, self.lon, self.alt
        if not self.fix or lat is None or lon is None or not self._fresh(self._gga_ms, now_ms):
            return (None, None, None, None, None, 0)
        spd = self.spd if self._fresh(self._rmc_ms, now_ms) else None
        return (
            round(lat, 6),
            round(lon, 6),
            None if alt is None else round(alt, 1),
            None if spd is None else round(spd, 2),
            self.sats,
            self.fix,
        )
