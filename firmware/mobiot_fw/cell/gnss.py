# GNSS inside the cellular module, read over AT (boards with "gnss": {"source": "modem"}).
#
# Contract: docs/records.md (lat/lon decimal degrees WGS-84, alt m MSL, spd m/s, sats used,
# fix 0/1); the simulator that answers these commands is described in docs/scenario.md
# ("modem.gnss").
#
# Response formats (one pure parser each, no I/O, no clock; each returns
# (fix, lat, lon, alt_m, spd_m_s, sats, epoch_s) with fix 0 and None values when there is
# no position):
#   SIMCom SIM7000 / SIM7080 AT+CGNSINF (SIM7000 Series AT Command Manual, SIM7070_SIM7080_
#   SIM7090 Series AT Command Manual, "GNSS navigation information", parameter table):
#     +CGNSINF: <GNSS run status>,<Fix status>,<UTC yyyyMMddhhmmss.sss>,<Latitude ±dd.dddddd>,
#     <Longitude ±ddd.dddddd>,<MSL Altitude m>,<Speed Over Ground km/h>,<Course Over Ground deg>,
#     <Fix Mode>,<Reserved1>,<HDOP>,<PDOP>,<VDOP>,<Reserved2>,<GNSS Satellites in View>,
#     <GNSS Satellites Used>,<GLONASS Satellites in View>,<Reserved3>,<C/N0 max>,<HPA>,<VPA>
#   SIMCom A76XX AT+CGNSSINFO (A76XX Series AT Command Manual, AT+CGNSSINFO; same as the
#   SIM7500/SIM7600 manual):
#     +CGNSSINFO: <mode>,<GPS-SVs>,[<GLONASS-SVs>],[<GALILEO-SVs>],[<BEIDOU-SVs>],<lat>,<N/S>,
#     <log>,<E/W>,<date ddmmyy>,<UTC-time hhmmss.s>,<alt m>,<speed knots>,<course>,<PDOP>,
#     <HDOP>,<VDOP>[,...]
#     The number of satellite-count fields differs between firmware releases, and newer ones
#     print lat/lon in decimal degrees instead of ddmm.mmmmmm; the parser finds the N/S field
#     and tells the two notations apart by the digits before the point.
#   SIMCom A76XX AT+CGPSINFO: +CGPSINFO: <lat ddmm.mmmmmm>,<N/S>,<log dddmm.mmmmmm>,<E/W>,
#     <date ddmmyy>,<UTC hhmmss.s>,<alt m>,<speed knots>,<course>
#   Quectel BG95/BG96 AT+QGPSLOC=2 (BG95&BG77&BG600L Series GNSS Application Note, AT+QGPSLOC):
#     +QGPSLOC: <UTC hhmmss.sss>,<latitude>,<longitude>,<HDOP>,<altitude>,<fix 2|3>,<COG>,
#     <spkm km/h>,<spkn knots>,<date ddmmyy>,<nsat>; mode 2 prints ±dd.ddddd / ±ddd.ddddd
#     (mode 0/1: ddmm.mmmmN, accepted too). No fix yet: +CME ERROR: 516 ("Not fixed now");
#     GNSS off: +CME ERROR: 505 ("Session is not active"); on already: 504.
#
# Scheduling (who calls update() when):
#   SIM7080G: GNSS and the LTE link cannot run at the same time (LilyGo-T-SIM7080G README.MD
#   Tips 1: "SIM7080G cannot connect to cellular network and GPS positioning at the same
#   time"; the module has one RF chain). The main loop must take a fix *between* cellular
#   sessions: after a report, stop the radio (AT+CFUN=0, or let PSM put it to sleep), call
#   acquire(timeout_s) which powers GNSS, polls update() until a fix or the timeout and, on
#   an exclusive model, powers GNSS off again; then AT+CFUN=1 and let Modem re-attach
#   (Modem.needs_attach = True). The position is then reused from read() until the next
#   acquisition, so stale_ms must cover the time between acquisitions.
#   SIM7000G, A7670: GNSS runs next to LTE; power it once (power_on) and call update() from
#   the modem task once per report cycle (the At lock serialises it with the cellular
#   commands). BG95/BG96: also polled per cycle; the module arbitrates GNSS against LTE
#   itself (not modelled by the simulator).
#   Antenna power is the board's business: gnss.on_at (e.g. SIM7000G AT+CGPIO=0,48,1,1) is
#   sent before the model's own power command, the AXP2101 BLDO2 rail (T-SIM7080G) is the
#   PMU driver's.
import errno
import time

import asyncio

from micropython import const

from mobiot_fw import once
from mobiot_fw.cell.at import AtError, AtTimeout
from mobiot_fw.cell.parse import row_values
from mobiot_fw.drivers.nmea import days_from_civil, parse_date, parse_latlon, parse_time

_KMH_MS = 1 / 3.6
_KNOT_MS = 1852 / 3600  # international knot: 1852 m per hour
_READ_MS = const(3000)  # a fix query answers at once; margin for a busy module
_ON_MS = const(5000)
_POLL_MS = const(2000)
_STALE_MS = const(120000)

# Quectel GNSS error codes (BG95 GNSS Application Note, "Summary of Error Codes")
_Q_ONGOING = const(504)
_Q_NOT_ACTIVE = const(505)
_Q_NOT_FIXED = const(516)

_NOFIX = (0, None, None, None, None, None, None)


def _body(line, prefix):
    s = line.strip()
    if s.startswith(prefix):
        s = s[len(prefix) :]
    return s.strip().split(",")


def _f(s):
    return float(s) if s else None


def _i(s):
    return int(s) if s else None


def _epoch_ymd_hms(ymdhms):
    """ "yyyyMMddhhmmss[.sss]" -> Unix seconds (fraction dropped)."""
    if len(ymdhms) < 14:
        raise ValueError("utc")
    y, mo, d = int(ymdhms[0:4]), int(ymdhms[4:6]), int(ymdhms[6:8])
    if not (1 <= mo <= 12 and 1 <= d <= 31):
        raise ValueError("utc")
    return days_from_civil(y, mo, d) * 86400 + parse_time(ymdhms[8:])


def _epoch_dmy(ddmmyy, hhmmss):
    if not ddmmyy or not hhmmss:
        return None
    return parse_date(ddmmyy) * 86400 + parse_time(hhmmss)


def _angle(value, hemi):
    """A76XX/Quectel coordinate: ddmm.mmmm / dddmm.mmmm (4+ digits before the point) or
    decimal degrees (at most 3), with the hemisphere letter."""
    dot = value.find(".")
    ip = value[:dot] if dot >= 0 else value
    if len(ip.lstrip("-")) >= 4:
        return parse_latlon(value, hemi)
    d = float(value)
    if hemi == "S" or hemi == "W":
        d = -d
    return d


def parse_cgnsinf(line):
    """+CGNSINF line (SIM7000/SIM7080) -> (fix, lat, lon, alt, spd_m_s, sats_used, epoch)."""
    f = _body(line, "+CGNSINF:")
    if len(f) < 16:
        raise ValueError("CGNSINF fields")
    if f[0] != "1" or f[1] != "1":
        return _NOFIX
    lat, lon = float(f[3]), float(f[4])
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError("CGNSINF position")
    kmh = _f(f[6])
    return (1, lat, lon, _f(f[5]), None if kmh is None else kmh * _KMH_MS, _i(f[15]), _epoch_ymd_hms(f[2]))


def parse_cgnssinfo(line):
    """+CGNSSINFO line (A76XX) -> (fix, lat, lon, alt, spd_m_s, sats, epoch). sats is the sum
    of the per-constellation counts."""
    f = _body(line, "+CGNSSINFO:")
    if not f or not f[0]:
        return _NOFIX
    if int(f[0]) < 2:  # <mode> 2 = 2D fix, 3 = 3D fix
        return _NOFIX
    j = 2
    while j < len(f) and f[j] not in ("N", "S"):
        j += 1
    if j > len(f) - 7 or j < 3:
        raise ValueError("CGNSSINFO fields")
    sats = 0
    for k in range(1, j - 1):
        if f[k]:
            sats += int(f[k])
    lat = _angle(f[j - 1], f[j])
    lon = _angle(f[j + 1], f[j + 2])
    kn = _f(f[j + 6])
    return (1, lat, lon, _f(f[j + 5]), None if kn is None else kn * _KNOT_MS, sats, _epoch_dmy(f[j + 3], f[j + 4]))


def parse_cgpsinfo(line):
    """+CGPSINFO line (A76XX) -> (fix, lat, lon, alt, spd_m_s, None, epoch): no satellite
    count in this format."""
    f = _body(line, "+CGPSINFO:")
    if len(f) < 8:
        raise ValueError("CGPSINFO fields")
    if not f[0]:
        return _NOFIX
    kn = _f(f[7])
    return (
        1,
        parse_latlon(f[0], f[1]),
        parse_latlon(f[2], f[3]),
        _f(f[6]),
        None if kn is None else kn * _KNOT_MS,
        None,
        _epoch_dmy(f[4], f[5]),
    )


def _qcoord(v):
    c = v[-1:]
    if c in ("N", "S", "E", "W"):
        return parse_latlon(v[:-1], c)
    return float(v)


def parse_qgpsloc(line):
    """+QGPSLOC line (BG95/BG96) -> (fix, lat, lon, alt, spd_m_s, nsat, epoch)."""
    f = _body(line, "+QGPSLOC:")
    if len(f) < 11:
        raise ValueError("QGPSLOC fields")
    if _i(f[5]) not in (2, 3):
        return _NOFIX
    kmh = _f(f[7])
    return (
        1,
        _qcoord(f[1]),
        _qcoord(f[2]),
        _f(f[4]),
        None if kmh is None else kmh * _KMH_MS,
        _i(f[10]),
        _epoch_dmy(f[9], f[0]),
    )


PARSERS = {
    "AT+CGNSINF": parse_cgnsinf,
    "AT+CGNSSINFO": parse_cgnssinfo,
    "AT+CGPSINFO": parse_cgpsinfo,
    "AT+QGPSLOC=2": parse_qgpsloc,
    "AT+QGPSLOC": parse_qgpsloc,
}

def _prefix(cmd):
    name = cmd[2:]
    for c in "=?":
        i = name.find(c)
        if i >= 0:
            name = name[:i]
    return name + ":"


class ModemGnss:
    """Last GNSS fix of the cellular module, as a sensor (NAMES, start, read) fed by
    update(). Optional board overrides: on_at (commands sent before the model's power
    command, e.g. the SIM7000G antenna switch), read_at (e.g. "AT+CGPSINFO" on an A7670),
    exclusive (board gnss.exclusive)."""

    NAMES = ("lat", "lon", "alt", "spd", "sats", "fix")

    def __init__(self, at, model, on_at=None, read_at=None, exclusive=None, stale_ms=_STALE_MS):
        # the model's gnss_* lines: the one model table (cell/models.py), aliases and "like" included
        name, row = once("mobiot_fw.cell.models").row(model)
        on = row_values(row, "gnss_on")
        if not on:
            raise ValueError("no modem GNSS for %s" % model)
        self.at = at
        self.model = name
        self.on_cmds = tuple(on_at or ()) + tuple(c for c in on if not on_at or c not in on_at)
        self.off_cmds = tuple(row_values(row, "gnss_off"))
        self.read_at = read_at or row_values(row, "gnss_read")[0]
        self._parse = PARSERS[self.read_at]
        self._pfx = _prefix(self.read_at)
        self.exclusive = row_values(row, "gnss_exclusive") == ["1"] if exclusive is None else bool(exclusive)
        self.stale_ms = stale_ms
        self._clock = getattr(at, "clock", None) or time.ticks_ms
        self.powered = False
        self.fix = 0
        self.lat = self.lon = self.alt = self.spd = self.sats = None
        self._answer_ms = None  # ticks of the last answer (fix or not)
        self._utc = None
        self.utc_ticks_ms = 0
        self.errors = 0  # timeouts, errors and unparsable answers
        self.fixes = 0

    # -- power -------------------------------------------------------------------------
    async def power_on(self):
        for c in self.on_cmds:
            try:
                await self.at.cmd(c, _ON_MS)
            except AtError as e:
                if e.code != _Q_ONGOING:  # BG95: already running is fine
                    self.errors += 1
                    return False
            except AtTimeout:
                self.errors += 1
                return False
        self.powered = True
        return True

    async def power_off(self):
        self.powered = False
        for c in self.off_cmds:
            try:
                await self.at.cmd(c, _ON_MS)
            except AtError as e:
                if e.code != _Q_NOT_ACTIVE:
                    self.errors += 1
            except AtTimeout:
                self.errors += 1

    # -- polling -------------------------------------------------------------------------
    async def update(self):
        """Query the module once (powering GNSS first if needed) and keep the answer.
        True if it carried a fix. Never raises: failures are counted in errors and leave
        the last answer's time unchanged, so read() goes stale."""
        if not self.powered and not await self.power_on():
            return False
        try:
            lines, _ = await self.at.cmd(self.read_at, _READ_MS)
        except AtError as e:
            if e.code == _Q_NOT_FIXED:
                self._keep(_NOFIX)
                return False
            if e.code == _Q_NOT_ACTIVE:
                self.powered = False  # the module restarted or GNSS was switched off
            self.errors += 1
            return False
        except AtTimeout:
            self.errors += 1
            return False
        for line in lines:
            if line.startswith(self._pfx):
                try:
                    r = self._parse(line)
                except (ValueError, IndexError):
                    break
                self._keep(r)
                if self._pfx == "+CGNSINF:" and line[9:].strip()[:1] == "0":
                    self.powered = False  # <GNSS run status> 0: GNSS is off (modem restarted)
                return bool(r[0])
        self.errors += 1
        return False

    def reset(self):
        """Forget that GNSS was powered: call after the modem was power-cycled or reset (a
        module boots with GNSS off; A76XX answers an empty line then, like "no fix")."""
        self.powered = False

    def _keep(self, r):
        now = self._clock()
        self._answer_ms = now
        self.fix, self.lat, self.lon, self.alt, self.spd, self.sats, epoch = r
        if self.fix:
            self.fixes += 1
            if epoch is not None:
                self._utc = epoch
                self.utc_ticks_ms = now

    async def acquire(self, timeout_s, poll_ms=_POLL_MS):
        """Power GNSS, poll until a fix or timeout_s, then (exclusive models) power it off
        so the cellular link can run again. True if a fix was taken."""
        t0 = self._clock()
        got = False
        try:
            while True:
                if await self.update():
                    got = True
                    break
                if time.ticks_diff(self._clock(), t0) + poll_ms > timeout_s * 1000:
                    break
                await asyncio.sleep_ms(poll_ms)
        finally:
            if self.exclusive:
                await self.power_off()
        return got

    # -- driver contract -------------------------------------------------------------------
    def utc_epoch(self):
        """Unix seconds of the last fix's UTC, taken at ticks_ms() == utc_ticks_ms (as
        drivers.nmea.Gnss), or None before the first fix."""
        return self._utc

    def start(self):
        return 0  # the main loop calls update(); reading is free

    def read(self, now_ms=None):
        """(lat, lon, alt, spd, sats, fix) of the last answer; (None,)*5 + (0,) without a
        fix; ETIMEDOUT if the module has not answered within stale_ms."""
        if now_ms is None:
            now_ms = self._clock()
        t = self._answer_ms
        if t is None or time.ticks_diff(now_ms, t) > self.stale_ms:
            raise OSError(errno.ETIMEDOUT)
        if not self.fix or self.lat is None or self.lon is None:
            return (None, None, None, None, None, 0)
        alt, spd = self.alt, self.spd
        return (
            round(self.lat, 6),
            round(self.lon, 6),
            None if alt is None else round(alt, 1),
            None if spd is None else round(spd, 2),
            self.sats,
            1,
        )
