# The sensors of a virtual board: fake buses with plausible, smoothly varying values.
# Simulation only (MicroPython unix port), never deployed.
#
# Used by simworld.py (one call per bus, all sharing one World per seed):
#   make_i2c(seed, scenario)       -> FakeI2C: BME280 at 0x76, SHT4x at 0x44
#   make_onewire(seed, scenario)   -> FakeOneWire with one DS18B20
#   make_adc(seed, scenario)       -> FakeADC: battery behind the divider
#   make_gnss_uart(seed, scenario) -> GnssUart (machine.UART look-alike that receives NMEA
#                                     at 1 Hz by itself), or None if the scenario has no GNSS
# and by tests: make_sensors(seed, start_ticks, scenario, clock) -> dict with the same objects
# under "i2c", "ow", "adc", "uart", plus "gnss_lines" (GnssSim: next() gives the list of
# NMEA lines, bytes with CR LF, that became due since the previous call, one GGA + RMC per
# simulated second) and "world".
#
# Time: `clock` is a ticks_ms function (default time.ticks_ms; a test passes a virtual one).
# Simulated UTC = start + time_scale * elapsed ticks, where start is scenario "start_utc" or
# the host's time.time() at creation. Every profile is a function of that absolute UTC (plus
# per-seed phases), so values are continuous across a virtual board's reboots and deep
# sleeps; with "start_utc" every boot replays from the same instant instead.
#
# Scenario keys read here (the lead's docs/scenario.md is the contract; all optional):
#   "start_utc": epoch s, "time_scale": sim seconds per tick second (default 1)
#   "env": {"temp_c": 14, "temp_amp": 6, "hum": 65, "press_sl": 101325, "alt_m": 520,
#           "probe_c": 11, "noise": true}
#   "battery": {"start_v": 4.15, "end_v": 3.4, "hours": 48, "divider": 2.0, "absent": false}
#   "sensors": {"bme280"|"sht4x"|"ds18b20": {"absent": B, "crc_error": B, "error": "ETIMEDOUT"}}
#       B is true/false or a list of [from_s, to_s] windows in simulated seconds since start
#       (e.g. unplugged from 60 to 120 s). crc_error does not apply to the BME280 (no CRC).
#   "gnss": {"absent": false, "ttff_s": 0, "fix": true, "speed_ms": 8.0,
#            "route": [[lat, lon], ...], "alt_m": 520,
#            "nmea": ["$GPGGA,...", ...], "per_second": 2, "loop": true}
#       "nmea" replays the given sentences, per_second of them each simulated second; a
#       sentence without "*hh" gets its checksum appended, one with "*hh" is sent as given
#       (so a scenario can inject bad checksums).
import errno
import math
import time

from fake_bme280 import FakeBme280
from fake_ds18b20 import FakeDs18b20
from fake_sht4x import FakeSht4x
from fakebus import FakeADC, FakeI2C, FakeOneWire
from sim_gnss import GnssSim, GnssUart, civil_from_days, nmea_sentence  # noqa: F401 (re-export)

_DAY_S = 86400.0
_TWO_PI = 2 * math.pi


class Rng:
    """xorshift32: deterministic per seed, independent of the global `random` state."""

    def __init__(self, seed):
        self.s = (seed * 2654435761 + 1) & 0xFFFFFFFF or 1

    def uniform(self):
        s = self.s
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        self.s = s
        return s / 4294967296.0

    def gauss(self):
        # Irwin-Hall with 4 terms: mean 0, sd 1, bounded: noise never produces outliers.
        return (self.uniform() + self.uniform() + self.uniform() + self.uniform() - 2.0) * 1.7320508


def _active(spec, t_s):
    """Scenario switch: bool, or list of [from_s, to_s] windows."""
    if isinstance(spec, (list, tuple)):
        for w in spec:
            if w[0] <= t_s < w[1]:
                return True
        return False
    return bool(spec)


class World:
    """Simulated time and the physical quantities around the board."""

    def __init__(self, seed=1, scenario=None, clock=None, start_ticks=None):
        sc = scenario or {}
        self.seed = seed
        self.scenario = sc
        self.clock = clock or time.ticks_ms
        self.scale = float(sc.get("time_scale", 1))
        start = sc.get("start_utc")
        self.start_utc = float(start) if start is not None else float(time.time())
        self._last = self.clock() if start_ticks is None else start_ticks
        self._elapsed_ms = 0
        self.rng = Rng(seed)
        env = sc.get("env") or {}
        self.temp_c = float(env.get("temp_c", 14.0))
        self.temp_amp = float(env.get("temp_amp", 6.0))
        self.hum0 = float(env.get("hum", 65.0))
        self.press_sl = float(env.get("press_sl", 101325.0))
        self.alt_m = float(env.get("alt_m", 520.0))
        self.probe_c = float(env.get("probe_c", 11.0))
        self.noise = 1.0 if env.get("noise", True) else 0.0
        self.lon = 11.5755  # solar time of the default route (Munich)
        r = Rng(seed * 31 + 7)
        self.phase = [r.uniform() * _TWO_PI for _ in range(4)]
        bat = sc.get("battery") or {}
        self.bat_start = float(bat.get("start_v", 4.15))
        self.bat_end = float(bat.get("end_v", 3.4))
        self.bat_hours = float(bat.get("hours", 48.0))
        self.bat_divider = float(bat.get("divider", 2.0))
        self.bat_absent = bool(bat.get("absent", False))
        # A fixed start time means a replay: start full. Otherwise each board is somewhere in
        # its discharge cycle, the same after a reboot.
        self.bat_anchor = float(
            bat.get("start_utc", start if start is not None else -r.uniform() * self.bat_hours * 3600)
        )

    # --- time ------------------------------------------------------------------------------
    def _tick(self):
        now = self.clock()
        d = time.ticks_diff(now, self._last)
        if d > 0:  # accumulate deltas: immune to ticks wrap-around over long runs
            self._elapsed_ms += d
            self._last = now

    def elapsed_s(self):
        """Simulated seconds since this world was created."""
        self._tick()
        return self.scale * self._elapsed_ms / 1000.0

    def utc(self):
        """Simulated UTC, Unix seconds (float)."""
        return self.start_utc + self.elapsed_s()

    # --- profiles --------------------------------------------------------------------------
    def _solar_hour(self, t):
        return ((t / 3600.0) + self.lon / 15.0) % 24.0

    def air_temp(self, t=None):
        t = self.utc() if t is None else t
        # Daily cycle peaking mid-afternoon, plus multi-day weather swings.
        daily = self.temp_amp * math.sin(_TWO_PI * (self._solar_hour(t) - 9.0) / 24.0)
        weather = 2.0 * math.sin(_TWO_PI * t / (3.7 * _DAY_S) + self.phase[0])
        return self.temp_c + daily + weather

    def humidity(self, t=None):
        t = self.utc() if t is None else t
        # Anti-correlated with temperature (roughly constant absolute humidity).
        rh = self.hum0 - 3.0 * (self.air_temp(t) - self.temp_c)
        rh += 4.0 * math.sin(_TWO_PI * t / (2.9 * _DAY_S) + self.phase[1])
        return max(5.0, min(99.0, rh))

    def pressure(self, t=None):
        t = self.utc() if t is None else t
        sl = self.press_sl + 800.0 * math.sin(_TWO_PI * t / (4.3 * _DAY_S) + self.phase[2])
        sl += 60.0 * math.sin(_TWO_PI * t / (_DAY_S / 2))  # semidiurnal atmospheric tide
        # Station pressure at the board's altitude (international barometric formula).
        return sl * (1.0 - 2.25577e-5 * self.alt_m) ** 5.25588

    def probe_temp(self, t=None):
        t = self.utc() if t is None else t
        # A probe in soil or water: damped, three hours behind the air.
        h = self._solar_hour(t)
        return self.probe_c + 0.3 * self.temp_amp * math.sin(_TWO_PI * (h - 12.0) / 24.0)

    def battery_v(self, t=None):
        t = self.utc() if t is None else t
        period = self.bat_hours * 3600.0
        x = ((t - self.bat_anchor) % period) / period  # fraction discharged; recharged at 1
        # Li-ion shape: quick drop off full charge, long plateau, knee at the end.
        drop = 0.25 * (1.0 - math.exp(-x / 0.08)) + 0.35 * x + 0.15 * x**8
        span = self.bat_start - self.bat_end
        return self.bat_start - span * drop / (0.25 * (1.0 - math.exp(-12.5)) + 0.5)

    def n(self, sd):
        return sd * self.noise * self.rng.gauss()

    # --- sensor readings as the fakes want them ---------------------------------------------
    def bme280_env(self):
        t = self.utc()
        # BME280 runs ~0.2 degC warm (self-heating on the board).
        return (
            self.air_temp(t) + 0.2 + self.n(0.02),
            max(0.0, min(100.0, self.humidity(t) + self.n(0.15))),
            self.pressure(t) + self.n(2.0),
        )

    def sht4x_env(self):
        t = self.utc()
        return (self.air_temp(t) + self.n(0.02), max(0.0, min(100.0, self.humidity(t) + self.n(0.1))))

    def ds18b20_env(self):
        return self.probe_temp() + self.n(0.03)

    def adc_uv(self):
        if self.bat_absent:
            return int(abs(self.n(20000.0)))  # floating pin: a few tens of mV
        return int(self.battery_v() / self.bat_divider * 1e6 + self.n(3000.0))


# ------------------------------------------------------------------------------------------
# Buses with scenario faults
# ------------------------------------------------------------------------------------------
def _sensor_cfg(world, name):
    return ((world.scenario.get("sensors") or {}).get(name)) or {}


def _apply_faults(world, name, dev, t_s):
    cfg = _sensor_cfg(world, name)
    if not cfg:
        return
    dev.present = not _active(cfg.get("absent", False), t_s)
    if "crc_error" in cfg and hasattr(dev, "corrupt_crc"):
        dev.corrupt_crc = _active(cfg["crc_error"], t_s)
    err = cfg.get("error")
    if err is not None and hasattr(dev, "error"):
        dev.error = getattr(errno, err) if isinstance(err, str) else int(err)


class SimI2C(FakeI2C):
    def __init__(self, world, named):
        super().__init__()
        self.world = world
        self.named = named  # [(name, device)]

    def _dev(self, addr):
        t = self.world.elapsed_s()
        for name, d in self.named:
            _apply_faults(self.world, name, d, t)
        return super()._dev(addr)

    def scan(self):
        t = self.world.elapsed_s()
        for name, d in self.named:
            _apply_faults(self.world, name, d, t)
        return super().scan()


class SimOneWire(FakeOneWire):
    def __init__(self, world, dev):
        super().__init__([dev])
        self.world = world

    def reset(self, required=False):
        _apply_faults(self.world, "ds18b20", self.devices[0], self.world.elapsed_s())
        return super().reset(required)


# ------------------------------------------------------------------------------------------
# Builders
# ------------------------------------------------------------------------------------------
_worlds = {}


def world_for(seed, scenario=None, clock=None, start_ticks=None):
    """One World per seed, shared by the per-bus builders simworld calls separately."""
    w = _worlds.get(seed)
    if w is None:
        w = World(seed, scenario, clock, start_ticks)
        _worlds[seed] = w
    return w


def _build_i2c(w):
    bme = FakeBme280(env=w.bme280_env, clock=w.clock)
    sht = FakeSht4x(env=w.sht4x_env, serial=0x0F000000 | (w.seed & 0xFFFFFF), clock=w.clock)
    i2c = SimI2C(w, [("bme280", bme), ("sht4x", sht)])
    i2c.add(0x76, bme)
    i2c.add(0x44, sht)
    return i2c


def _build_ow(w):
    dev = FakeDs18b20(serial=0x10000 + w.seed, env=w.ds18b20_env, clock=w.clock)
    return SimOneWire(w, dev)


def _build_gnss(w):
    cfg = w.scenario.get("gnss") or {}
    if cfg.get("absent"):
        return None
    return GnssSim(w, cfg)


def make_i2c(seed, scenario=None):
    return _build_i2c(world_for(seed, scenario))


def make_onewire(seed, scenario=None):
    return _build_ow(world_for(seed, scenario))


def make_adc(seed, scenario=None):
    w = world_for(seed, scenario)
    return FakeADC(env=w.adc_uv)


def make_gnss_uart(seed, scenario=None):
    g = _build_gnss(world_for(seed, scenario))
    return GnssUart(g) if g is not None else None


def make_sensors(seed=1, start_ticks=None, scenario=None, clock=None):
    """A fresh world and all its buses (not shared with simworld's per-seed cache)."""
    w = World(seed, scenario, clock, start_ticks)
    g = _build_gnss(w)
    return {
        "world": w,
        "i2c": _build_i2c(w),
        "ow": _build_ow(w),
        "adc": FakeADC(env=w.adc_uv),
        "gnss_lines": g,
        "uart": GnssUart(GnssSim(w, w.scenario.get("gnss") or {})) if g is not None else None,
    }
