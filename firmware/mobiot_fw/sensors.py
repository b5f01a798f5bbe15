# The sensors of a terminal: one slot per configured sensor (board definition + config), read
# once per report cycle into a `reading` record, with `sensor_error` / `sensor_recovered`
# events (docs/records.md). Drivers (drivers/) take their bus from the platform (hw.py).
import errno
import time

import asyncio
from micropython import const

_RECOVER_CYCLES = const(30)  # a failed sensor is retried (re-initialised) every N cycles
_GNSS_QUIET_MS = const(60000)  # no GNSS error reported in the first minute after boot
_ERRNAMES = {19: "ENODEV", 5: "EIO", 110: "ETIMEDOUT", 116: "ETIMEDOUT"}


class _Slot:
    """One configured sensor: its driver (made lazily: the device may be absent at boot),
    its value names with the configured prefix, and its error state."""

    def __init__(self, name, make, prefix):
        self.name = name
        self.make = make
        self.prefix = prefix
        self.drv = None
        self.keys = ()
        self.err = 0  # errno of the current failure, 0 when healthy
        self.failed_at = 0
        self.retry = 0
        self.live = False  # started this cycle

    def ensure(self):
        if self.drv is None:
            drv = self.make()
            self.keys = tuple(self.prefix + n for n in drv.NAMES)
            self.drv = drv
        return self.drv


class Sensors:
    def __init__(self, plat, board, cfg, outbox, clock, pmu):
        self.plat = plat
        self.board = board
        self.cfg = cfg
        self.out = outbox
        self.clock = clock
        self.pmu = pmu  # () -> the board's PMU (battery.source "pmu"), made on first use
        self.slots = []
        self.vals = {}
        self.gnss = None  # a GNSS receiver on its own UART (its reader task runs beside)
        self.mgnss = None  # GNSS inside the cellular module, read over AT by the modem part

    def setup(self):
        """Build the slots from the board definition and the config (config may add sensors
        the board does not list, or disable one with false)."""
        want = list(self.board.get("sensors", ()))
        scfg = self.cfg.get("sensors", {})
        for name in scfg:
            if scfg[name] is False and name in want:
                want.remove(name)
            elif scfg[name] is not False and name not in want:
                want.append(name)
        plat = self.plat
        add = self.slots.append
        for name in want:
            o = scfg.get(name) or {}
            pre = o.get("prefix", "")
            if name == "bme280":
                from .drivers.bme280 import Bme280

                add(_Slot(name, lambda o=o: Bme280(plat.i2c(), o.get("addr", 0x76)), pre))
            elif name == "sht4x":
                from .drivers.sht4x import Sht4x

                add(_Slot(name, lambda o=o: Sht4x(plat.i2c(), o.get("addr", 0x44)), pre or "sht_"))
            elif name == "ds18b20":
                from .drivers.ds18b20 import Ds18b20

                add(_Slot(name, lambda: Ds18b20(plat.onewire()), pre or "ds_"))
            elif name == "battery":
                from .drivers.battery import Battery

                bc = self.board.get("battery", {})
                if bc.get("source") == "pmu":
                    add(_Slot(name, lambda: self.pmu().battery(), pre))
                    continue
                if "pin" not in bc:
                    continue

                def mk(o=o, bc=bc):
                    return Battery(plat.battery_adc(), o.get("divider", bc.get("divider", 2.0)),
                                   o.get("scale", 1.0), o.get("offset", 0.0))

                add(_Slot(name, mk, pre))
            elif name == "gnss":
                gc_ = self.board.get("gnss", {})
                if gc_.get("uart") is not None:
                    from .drivers.nmea import Gnss

                    self.gnss = Gnss(plat.uart("gnss"))
                    self.clock.sources.append(self.gnss)
                    add(_Slot(name, lambda: self.gnss, pre))
                elif gc_.get("source") == "modem":
                    # read over AT by the modem part (cell/gnss.py); absent until it runs
                    add(_Slot(name, self._modem_gnss, pre))

    def wants(self, name):
        return name in [s.name for s in self.slots]

    def use_modem_gnss(self, g):
        """The modem part made its GNSS reader: the gnss slot reads it, records take its UTC."""
        self.mgnss = g
        self.clock.sources.append(g)

    def _modem_gnss(self):
        if self.mgnss is None:
            raise OSError(errno.ETIMEDOUT)
        return self.mgnss

    def _fail(self, s, e):
        code = e.args[0] if e.args and isinstance(e.args[0], int) else 0
        if s.name != "gnss":  # a stream, not a bus device: nothing to re-initialise
            s.drv = None
            s.retry = _RECOVER_CYCLES
        if s.name == "gnss" and not s.err and time.ticks_diff(time.ticks_ms(), self.clock.boot_ms) < _GNSS_QUIET_MS:
            return  # a receiver says nothing for a while after power-on: not yet an error
        if s.err != code or code == 0:
            if not s.err:
                s.failed_at = time.ticks_ms()
            s.err = code or -1
            self.out.event("sensor_error", ("sensor", s.name), ("err", _ERRNAMES.get(code) or str(e)[:40]),
                           ("errno", code))

    def _ok(self, s):
        if s.err:
            s.err = 0
            self.out.event("sensor_recovered", ("sensor", s.name),
                           ("after_s", time.ticks_diff(time.ticks_ms(), s.failed_at) / 1000))

    async def sample(self, wait=True):
        """Start every sensor, wait for the slowest conversion, read them all into one
        reading record (none when nothing was read)."""
        wait_ms = 0
        for s in self.slots:
            s.live = False
            if s.err and s.retry > 0:
                s.retry -= 1
                continue
            try:
                ms = s.ensure().start()
                if ms > wait_ms:
                    wait_ms = ms
                s.live = True
            except OSError as e:
                self._fail(s, e)
        if wait and wait_ms:
            await asyncio.sleep_ms(wait_ms)
        vals = self.vals
        vals.clear()
        for s in self.slots:
            if not s.live:
                continue
            try:
                got = s.drv.read()
            except OSError as e:
                self._fail(s, e)
                continue
            keys = s.keys
            for i in range(len(keys)):
                v = got[i]
                if v is not None:
                    vals[keys[i]] = v
            self._ok(s)
        if vals:
            self.out.emit("reading", vals)
