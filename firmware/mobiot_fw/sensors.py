# The sensors of a terminal: one slot per configured sensor (board definition + config), read
# once per report cycle into a `reading` record, with `sensor_error` / `sensor_recovered`
# events (docs/records.md). Drivers (drivers/) take their bus from the platform (hw.py).
import errno
import time

import asyncio
from micropython import const

from mobiot_fw import once

_RECOVER_CYCLES = const(30)  # a failed sensor is retried (re-initialised) every N cycles
_GNSS_QUIET_MS = const(60000)  # no GNSS error reported in the first minute after boot
_ERRNAMES = {19: "ENODEV", 5: "EIO", 110: "ETIMEDOUT", 116: "ETIMEDOUT"}


class Slot:
    """One configured sensor (made by sensor_slots.build): its driver class and options (the
    driver is made lazily by Sensors.ensure: the device may be absent at boot), its value names
    with the prefix, and its error state."""

    def __init__(self, name, make, opts, prefix):
        self.name = name
        self.make = make
        self.opts = opts
        self.prefix = prefix
        self.drv = None
        self.keys = ()
        self.err = 0  # errno of the current failure, 0 when healthy
        self.failed_at = 0
        self.retry = 0
        self.live = False  # started this cycle


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
        """Build the slots from the board definition and the config, once per boot: that code
        is imported for the call and dropped (sensor_slots.py)."""
        once("mobiot_fw.sensor_slots").build(self)

    def ensure(self, s):
        """The slot's driver, made on first use and again after a failure."""
        drv = s.drv
        if drv is not None:
            return drv
        name, make, o, plat = s.name, s.make, s.opts, self.plat
        if name == "bme280":
            drv = make(plat.i2c(), o.get("addr", 0x76))
        elif name == "sht4x":
            drv = make(plat.i2c(), o.get("addr", 0x44))
        elif name == "ds18b20":
            drv = make(plat.onewire())
        elif name == "battery":
            if make is None:
                drv = self.pmu().battery()
            else:
                bc = self.board.get("battery", {})
                drv = make(plat.battery_adc(), o.get("divider", bc.get("divider", 2.0)), o.get("scale", 1.0),
                           o.get("offset", 0.0))
        elif self.gnss is not None:
            drv = self.gnss
        else:
            drv = self._modem_gnss()
        keys = []
        for n in drv.NAMES:
            keys.append(s.prefix + n)
        s.keys = tuple(keys)
        s.drv = drv
        return drv

    def wants(self, name):
        for s in self.slots:
            if s.name == name:
                return True
        return False

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
                ms = self.ensure(s).start()
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
