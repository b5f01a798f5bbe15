# Fake Bosch BME280 (register map per BST-BME280-DS002). Sim only; see fakebus.py.
import time

from fakebus import FakeI2CDevice

# T/P coefficients: the worked example of the BMP280 datasheet (BST-BMP280-DS001, 3.12),
# whose T/P formulas and register layout the BME280 shares; H coefficients: values read from
# a BME280 breakout (typical of the part: H1 75, H3 0, H6 30).
BME280_DEFAULT_CALIB = {
    "T1": 27504, "T2": 26435, "T3": -1000,
    "P1": 36477, "P2": -10685, "P3": 3024, "P4": 2855, "P5": 140, "P6": -7,
    "P7": 15500, "P8": -14600, "P9": 6000,
    "H1": 75, "H2": 362, "H3": 0, "H4": 313, "H5": 50, "H6": 30,
}  # fmt: skip


def _put16(regs, at, v):
    v &= 0xFFFF
    regs[at] = v & 0xFF
    regs[at + 1] = v >> 8


class Bme280Float:
    """The datasheet's double-precision compensation (8.1), used to invert raw values.
    Deliberately not the driver's integer code, so the simulation cross-checks it."""

    def __init__(self, c):
        self.c = c
        self.t_fine = 0

    def t(self, adc_T):
        c = self.c
        var1 = (adc_T / 16384.0 - c["T1"] / 1024.0) * c["T2"]
        x = adc_T / 131072.0 - c["T1"] / 8192.0
        var2 = x * x * c["T3"]
        self.t_fine = int(var1 + var2)
        return (var1 + var2) / 5120.0

    def p(self, adc_P):
        c = self.c
        var1 = self.t_fine / 2.0 - 64000.0
        var2 = var1 * var1 * c["P6"] / 32768.0
        var2 = var2 + var1 * c["P5"] * 2.0
        var2 = var2 / 4.0 + c["P4"] * 65536.0
        var1 = (c["P3"] * var1 * var1 / 524288.0 + c["P2"] * var1) / 524288.0
        var1 = (1.0 + var1 / 32768.0) * c["P1"]
        if var1 == 0.0:
            return 0.0
        p = 1048576.0 - adc_P
        p = (p - var2 / 4096.0) * 6250.0 / var1
        var1 = c["P9"] * p * p / 2147483648.0
        var2 = p * c["P8"] / 32768.0
        return p + (var1 + var2 + c["P7"]) / 16.0

    def h(self, adc_H):
        c = self.c
        v = self.t_fine - 76800.0
        v = (adc_H - (c["H4"] * 64.0 + c["H5"] / 16384.0 * v)) * (
            c["H2"] / 65536.0 * (1.0 + c["H6"] / 67108864.0 * v * (1.0 + c["H3"] / 67108864.0 * v))
        )
        v = v * (1.0 - c["H1"] * v / 524288.0)
        return 100.0 if v > 100.0 else (0.0 if v < 0.0 else v)


def _bisect(f, target, lo, hi):
    # f is monotonic on [lo, hi] (direction depends on the calibration's signs): first x
    # at which f reaches target going from the f(lo) side.
    increasing = f(hi) >= f(lo)
    while lo < hi:
        mid = (lo + hi) // 2
        v = f(mid)
        if (v >= target) if increasing else (v <= target):
            hi = mid
        else:
            lo = mid + 1
    return lo


class FakeBme280(FakeI2CDevice):
    """BME280 register map (datasheet 5.3, table 18): id 0xD0 = 0x60, reset 0xE0, calibration
    0x88..0xA1 / 0xE1..0xE7, ctrl_hum 0xF2, status 0xF3, ctrl_meas 0xF4, config 0xF5, data
    0xF7..0xFE. A forced-mode write to ctrl_meas starts a conversion of the current physical
    values (attributes temp/hum/press, or env() -> (degC, %RH, Pa)); the status 'measuring'
    bit stays set for the datasheet's maximum measurement time (9.1), then the data
    registers hold raw ADC values that the datasheet formulas map back to those values, and
    the mode bits return to sleep (3.3.3)."""

    def __init__(self, calib=None, temp=20.0, hum=50.0, press=101325.0, env=None, chip_id=0x60, clock=None):
        super().__init__(clock)
        self.calib = dict(calib or BME280_DEFAULT_CALIB)
        self.temp, self.hum, self.press = temp, hum, press
        self.env = env
        self.chip_id = chip_id
        self.conversions = 0
        self._f = Bme280Float(self.calib)
        self._ready_ms = None
        self._pending = None
        self._osrs_h = 0
        self._reset()

    def _reset(self):
        r = self.regs
        for i in range(256):
            r[i] = 0
        r[0xD0] = self.chip_id
        c = self.calib
        at = 0x88
        for k in ("T1", "T2", "T3", "P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8", "P9"):
            _put16(r, at, c[k])
            at += 2
        r[0xA1] = c["H1"] & 0xFF
        _put16(r, 0xE1, c["H2"])
        r[0xE3] = c["H3"] & 0xFF
        h4, h5 = c["H4"] & 0xFFF, c["H5"] & 0xFFF
        r[0xE4] = h4 >> 4
        r[0xE5] = (h4 & 0x0F) | ((h5 & 0x0F) << 4)
        r[0xE6] = h5 >> 4
        r[0xE7] = c["H6"] & 0xFF
        # Data registers reset to the "skipped" pattern 0x80000 / 0x8000 (5.4.7-5.4.9).
        r[0xF7], r[0xFA], r[0xFD] = 0x80, 0x80, 0x80
        self._ready_ms = None
        self._osrs_h = 0

    def on_write(self, reg, value):
        if reg == 0xE0:
            if value == 0xB6:  # 5.4.2 soft reset
                self._reset()
            self.regs[0xE0] = 0
        elif reg == 0xF4:
            self._osrs_h = self.regs[0xF2] & 7  # ctrl_hum latched now (5.4.3)
            if value & 3 in (1, 2):  # forced mode (5.4.5 table 25)
                self._trigger(value)
        elif reg == 0xD0:
            self.regs[0xD0] = self.chip_id  # read-only

    @staticmethod
    def _os(code):
        return 0 if code == 0 else (1 << (code - 1) if code < 5 else 16)

    def _trigger(self, ctrl):
        osrs_t, osrs_p, osrs_h = self._os(ctrl >> 5), self._os((ctrl >> 2) & 7), self._os(self._osrs_h)
        us = 1250 + 2300 * osrs_t
        if osrs_p:
            us += 2300 * osrs_p + 575
        if osrs_h:
            us += 2300 * osrs_h + 575
        t, h, p = self.env() if self.env else (self.temp, self.hum, self.press)
        self._pending = (osrs_t, osrs_p, osrs_h, t, h, p)
        self._ready_ms = time.ticks_add(self.clock(), (us + 999) // 1000)
        self.regs[0xF3] |= 0x08
        self.conversions += 1

    def before_read(self, reg):
        if self._ready_ms is not None and time.ticks_diff(self.clock(), self._ready_ms) >= 0:
            self._ready_ms = None
            self._complete()

    def finish(self):
        """Complete a running conversion now (tests that do not want to sleep)."""
        if self._ready_ms is not None:
            self._ready_ms = None
            self._complete()

    def _complete(self):
        osrs_t, osrs_p, osrs_h, t, h, p = self._pending
        adc_T, adc_P, adc_H = self.raw_for(t, h, p)
        r = self.regs
        if not osrs_t:
            adc_T = 0x80000
        if not osrs_p:
            adc_P = 0x80000
        if not osrs_h:
            adc_H = 0x8000
        r[0xF7], r[0xF8], r[0xF9] = adc_P >> 12, (adc_P >> 4) & 0xFF, (adc_P & 0xF) << 4
        r[0xFA], r[0xFB], r[0xFC] = adc_T >> 12, (adc_T >> 4) & 0xFF, (adc_T & 0xF) << 4
        r[0xFD], r[0xFE] = adc_H >> 8, adc_H & 0xFF
        r[0xF3] &= ~0x08
        r[0xF4] &= ~3  # back to sleep mode after a forced conversion

    def raw_for(self, temp, hum, press):
        """Raw (adc_T, adc_P, adc_H) whose compensated values are temp degC, press Pa and
        hum %RH: bisection on the datasheet's float formulas, all monotonic in range."""
        f = self._f
        adc_T = _bisect(f.t, temp, 0, 0xFFFFF)
        f.t(adc_T)  # sets t_fine for P and H
        adc_P = _bisect(f.p, press, 0, 0xFFFFF)
        adc_H = _bisect(f.h, hum, 0, 0xFFFF)
        return adc_T, adc_P, adc_H
