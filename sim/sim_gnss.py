# Simulated GNSS receiver for virtual boards and tests: NMEA 0183 GGA + RMC at 1 Hz along a
# closed route, or replay of a scenario's sentences. Simulation only, never deployed.
# Sentence layout as parsed by firmware/mobiot_fw/drivers/nmea.py (u-blox M8 NMEA chapter):
#   $GNGGA,hhmmss.ss,ddmm.mmmmm,N,dddmm.mmmmm,E,q,nn,hdop,alt,M,sep,M,,*CS
#   $GNRMC,hhmmss.ss,A,ddmm.mmmmm,N,dddmm.mmmmm,E,sog_kn,cog,ddmmyy,,,A,V*CS
# Time and randomness come from a sim_sensors.World (world.utc(), world.rng, world.phase).
import math
from array import array

from fakebus import FakeUART

_TWO_PI = 2 * math.pi
_KNOT_MS = 0.514444


def nmea_checksum(body):
    x = 0
    for ch in body:
        x ^= ord(ch)
    return x


def nmea_sentence(body):
    return "$%s*%02X" % (body, nmea_checksum(body))


def _latlon(value, lat):
    hemi = ("N" if value >= 0 else "S") if lat else ("E" if value >= 0 else "W")
    v = abs(value)
    deg = int(v)
    minutes = round((v - deg) * 60.0, 5)
    if minutes >= 60.0:
        deg += 1
        minutes = 0.0
    return ("%02d%08.5f" if lat else "%03d%08.5f") % (deg, minutes), hemi


def civil_from_days(z):
    """Days since 1970-01-01 -> (y, m, d) (H. Hinnant's algorithm)."""
    z += 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return (y + (m <= 2), m, d)


def default_route(n=36):
    """A loop of n points, roughly 2 x 2 km, around Munich's old town (Marienplatz), as a
    flat array lat0, lon0, lat1, lon1, ...: one allocation instead of n tuples of boxed
    floats, which on a small heap would pin fragments all over it."""
    lat0, lon0 = 48.1374, 11.5755
    pts = array("d", bytearray(16 * n))
    for i in range(n):
        a = _TWO_PI * i / n
        r = 1.0 + 0.15 * math.sin(3 * a) + 0.05 * math.cos(7 * a)
        pts[2 * i] = lat0 + 0.009 * r * math.sin(a)
        pts[2 * i + 1] = lon0 + 0.0135 * r * math.cos(a)
    return pts


_default = None


def _dist_m(lat_a, lon_a, lat_b, lon_b):
    # Equirectangular: exact enough for points a few hundred metres apart.
    k = math.pi / 180.0
    x = (lon_b - lon_a) * k * math.cos((lat_a + lat_b) * 0.5 * k)
    y = (lat_b - lat_a) * k
    return 6371000.0 * math.sqrt(x * x + y * y)


class GnssSim:
    """NMEA source of a virtual receiver: one GGA + RMC per simulated second along a closed
    route (or the scenario's own sentences). next() -> list of bytes lines due now."""

    _MAX_BACKLOG_S = 3  # after a long pause, send only the last few epochs (as a UART would)

    def __init__(self, world, cfg=None):
        cfg = cfg or {}
        self.world = world
        self.replay = cfg.get("nmea")
        self.per_second = int(cfg.get("per_second", 2))
        self.loop = bool(cfg.get("loop", True))
        self.ttff_s = float(cfg.get("ttff_s", 0))
        self.fix = bool(cfg.get("fix", True))
        self.speed = float(cfg.get("speed_ms", 8.0))
        self.alt = float(cfg.get("alt_m", world.alt_m))
        global _default
        route = cfg.get("route")
        if route:
            pts = array("d", bytearray(16 * len(route)))
            for i in range(len(route)):
                pts[2 * i], pts[2 * i + 1] = route[i][0], route[i][1]
        else:
            if _default is None:
                _default = default_route()
            pts = _default
        self.pts = pts
        self.n = n = len(pts) // 2
        self._seg = seg = array("d", bytearray(8 * n))
        total = 0.0
        for i in range(n):
            j = (i + 1) % n
            seg[i] = _dist_m(pts[2 * i], pts[2 * i + 1], pts[2 * j], pts[2 * j + 1])
            total += seg[i]
        self.loop_m = total
        self._replay_i = 0
        self._last_sec = None
        self.emitted = 0

    def position(self, t):
        """(lat, lon, course_deg) at simulated UTC t on the route."""
        p = self.pts
        if self.speed <= 0 or self.loop_m <= 0 or self.n < 2:
            return p[0], p[1], 0.0
        s = (self.speed * t) % self.loop_m
        i = 0
        while i < self.n - 1 and s > self._seg[i]:
            s -= self._seg[i]
            i += 1
        j = (i + 1) % self.n
        dlat = p[2 * j] - p[2 * i]
        dlon = p[2 * j + 1] - p[2 * i + 1]
        f = s / self._seg[i] if self._seg[i] else 0.0
        lat = p[2 * i] + dlat * f
        lon = p[2 * i + 1] + dlon * f
        k = math.pi / 180.0
        course = math.atan2(dlon * math.cos(lat * k), dlat) / k % 360.0
        return lat, lon, course

    def sentences(self, sec):
        """GGA and RMC (str, with checksum) for the simulated UTC second `sec`."""
        day, sod = divmod(int(sec), 86400)
        y, mo, d = civil_from_days(day)
        hhmmss = "%02d%02d%02d.00" % (sod // 3600, sod // 60 % 60, sod % 60)
        ddmmyy = "%02d%02d%02d" % (d, mo, y % 100)
        if not self.fix or self.world.elapsed_s() < self.ttff_s:
            # Before the first fix a receiver sends time but no position (u-blox style).
            return [
                nmea_sentence("GNGGA,%s,,,,,0,00,99.99,,,,,," % hhmmss),
                nmea_sentence("GNRMC,%s,V,,,,,,,%s,,,N,V" % (hhmmss, ddmmyy)),
            ]
        lat, lon, course = self.position(sec)
        la, ns = _latlon(lat, True)
        lo, ew = _latlon(lon, False)
        r = self.world.rng
        sats = 9 + int(3 * math.sin(sec / 600.0 + self.world.phase[3]))
        hdop = 0.9 + 0.3 * r.uniform()
        alt = self.alt + 3.0 * math.sin(sec / 300.0)  # hills along the route, slow
        kn = self.speed / _KNOT_MS
        return [
            nmea_sentence(
                "GNGGA,%s,%s,%s,%s,%s,1,%02d,%.2f,%.1f,M,47.0,M,," % (hhmmss, la, ns, lo, ew, sats, hdop, alt)
            ),
            nmea_sentence(
                "GNRMC,%s,A,%s,%s,%s,%s,%.3f,%.2f,%s,,,A,V" % (hhmmss, la, ns, lo, ew, kn, course, ddmmyy)
            ),
        ]

    def _replay_lines(self):
        out = []
        lines = self.replay
        for _ in range(self.per_second):
            if self._replay_i >= len(lines):
                if not self.loop or not lines:
                    break
                self._replay_i = 0
            s = lines[self._replay_i]
            self._replay_i += 1
            s = s.strip()
            if "*" not in s:
                s = nmea_sentence(s.lstrip("$"))
            out.append(s)
        return out

    def due(self):
        sec = int(self.world.utc())
        if self._last_sec is None:
            first = sec
        elif sec <= self._last_sec:
            return []
        else:
            first = max(self._last_sec + 1, sec - self._MAX_BACKLOG_S + 1)
        self._last_sec = sec
        out = []
        for s in range(first, sec + 1):
            for line in self._replay_lines() if self.replay is not None else self.sentences(s):
                out.append(line.encode() + b"\r\n")
        self.emitted += len(out)
        return out

    def __iter__(self):
        return self

    def __next__(self):
        return self.due()


class GnssUart(FakeUART):
    """The firmware's end of the GNSS UART: NMEA arrives by itself as simulated time passes
    (checked whenever the firmware looks: any/read/readline/readinto/poll)."""

    def __init__(self, gnss, rxbuf=512):
        super().__init__(rxbuf)
        self.gnss = gnss

    def _fill(self):
        for line in self.gnss.due():
            self.inject(line)

    def any(self):
        self._fill()
        return super().any()

    def read(self, n=-1):
        self._fill()
        return super().read(n)

    def readinto(self, buf, n=-1):
        self._fill()
        return super().readinto(buf, n)

    def readline(self):
        self._fill()
        return super().readline()

    def ioctl(self, req, arg):
        self._fill()
        return super().ioctl(req, arg)

    def init(self, *a, **k):
        pass

    def deinit(self):
        pass
