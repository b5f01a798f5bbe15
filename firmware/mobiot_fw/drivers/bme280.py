# Bosch BME280 temperature / humidity / pressure sensor on I2C.
#
# Source: Bosch Sensortec "BME280 Combined humidity and pressure sensor", datasheet
# BST-BME280-DS002 (rev. 1.6+). Section numbers below refer to it.
# The compensation is the datasheet's *integer* code (4.2.3 / 8.2): BME280_compensate_T_int32,
# BME280_compensate_P_int64 and bme280_compensate_H_int32, transcribed line for line.
# MicroPython ints are arbitrary precision, so the int64 pressure code works unchanged; C's
# ">>" on a negative signed value is an arithmetic shift, which is what Python's ">>" does.
#
# Driver contract (used by the main loop): NAMES, start() -> ms to wait, read() -> tuple.
import errno

from micropython import const  # MicroPython only: the host never imports drivers

# Registers, section 5.3 / 5.4 (memory map, table 18).
_REG_CALIB00 = const(0x88)  # 0x88..0xA1: dig_T1..dig_P9, (0xA0 unused), dig_H1 (table 16)
_CALIB00_LEN = const(26)
_REG_CHIP_ID = const(0xD0)  # 5.4.1: reads 0x60
_REG_RESET = const(0xE0)  # 5.4.2: write 0xB6 for a power-on reset
_REG_CALIB26 = const(0xE1)  # 0xE1..0xE7: dig_H2..dig_H6 (table 16)
_CALIB26_LEN = const(7)
_REG_CTRL_HUM = const(0xF2)  # 5.4.3: osrs_h[2:0]; takes effect after a write to ctrl_meas
_REG_STATUS = const(0xF3)  # 5.4.4: bit 3 measuring, bit 0 im_update
_REG_CTRL_MEAS = const(0xF4)  # 5.4.5: osrs_t[7:5] osrs_p[4:2] mode[1:0]
_REG_CONFIG = const(0xF5)  # 5.4.6: t_sb[7:5] filter[4:2] spi3w_en[0]
_REG_DATA = const(0xF7)  # 5.4.7-5.4.9: press[F7..F9] temp[FA..FC] hum[FD..FE], one burst
_DATA_LEN = const(8)

_CHIP_ID = const(0x60)
_STATUS_MEASURING = const(0x08)
_MODE_FORCED = const(0x01)  # 5.4.5 table 25: 01 and 10 are both forced mode
# Oversampling x1 for T, P and H, filter off: the datasheet's recommended "weather
# monitoring" setting (3.5.1), forced mode, lowest power, noise well below our rounding.
_OSRS_X1 = const(1)
# A skipped measurement reads back as 0x80000 (T, P) / 0x8000 (H) (4.2.2 / 5.4.7-5.4.9).
_SKIPPED_20 = const(0x80000)
_SKIPPED_16 = const(0x8000)


def _u16(b, i):
    return b[i] | (b[i + 1] << 8)


def _s16(b, i):
    v = b[i] | (b[i + 1] << 8)
    return v - 0x10000 if v & 0x8000 else v


def _s8(v):
    return v - 0x100 if v & 0x80 else v


def _cdiv(a, b):
    q = (a if a >= 0 else -a) // (b if b >= 0 else -b)
    return q if (a < 0) == (b < 0) else -q


def measure_time_ms(osrs_t=1, osrs_p=1, osrs_h=1):
    """Maximum measurement time, datasheet 9.1 (appendix B):
    t_measure,max = 1.25 + 2.3*T + (2.3*P + 0.575) + (2.3*H + 0.575) ms, with T/P/H the
    oversampling factors (a skipped measurement contributes nothing). Rounded up to whole ms.
    """
    us = 1250 + 2300 * osrs_t
    if osrs_p:
        us += 2300 * osrs_p + 575
    if osrs_h:
        us += 2300 * osrs_h + 575
    return (us + 999) // 1000


class Bme280:
    NAMES = ("temp", "hum", "press")

    def __init__(self, i2c, addr=0x76):
        self._i2c = i2c
        self._addr = addr
        self._buf = bytearray(_CALIB00_LEN)  # reused: calibration at init, data later
        self._b1 = bytearray(1)
        self._data = bytearray(_DATA_LEN)
        self.t_fine = 0
        self.adc_T = self.adc_P = self.adc_H = 0
        self._b1[0] = 0
        i2c.readfrom_mem_into(addr, _REG_CHIP_ID, self._b1)  # ENODEV here if absent
        if self._b1[0] != _CHIP_ID:
            # Something answers at the address but it is not a BME280 (a BMP280 says 0x58).
            raise OSError(errno.ENODEV)
        self._read_calibration()
        # ctrl_hum first: it is only latched by the following ctrl_meas write (5.4.3).
        i2c.writeto_mem(addr, _REG_CTRL_HUM, bytes((_OSRS_X1,)))
        i2c.writeto_mem(addr, _REG_CONFIG, b"\x00")
        self._ctrl_forced = bytes(((_OSRS_X1 << 5) | (_OSRS_X1 << 2) | _MODE_FORCED,))
        self._ctrl_sleep = bytes(((_OSRS_X1 << 5) | (_OSRS_X1 << 2),))
        i2c.writeto_mem(addr, _REG_CTRL_MEAS, self._ctrl_sleep)
        self.wait_ms = measure_time_ms(_OSRS_X1, _OSRS_X1, _OSRS_X1)

    def _read_calibration(self):
        # Table 16 (4.2.2): little-endian words; dig_H4/H5 are 12-bit values sharing 0xE5.
        b = self._buf
        self._i2c.readfrom_mem_into(self._addr, _REG_CALIB00, b)
        self.dig_T1 = _u16(b, 0)
        self.dig_T2 = _s16(b, 2)
        self.dig_T3 = _s16(b, 4)
        self.dig_P1 = _u16(b, 6)
        self.dig_P2 = _s16(b, 8)
        self.dig_P3 = _s16(b, 10)
        self.dig_P4 = _s16(b, 12)
        self.dig_P5 = _s16(b, 14)
        self.dig_P6 = _s16(b, 16)
        self.dig_P7 = _s16(b, 18)
        self.dig_P8 = _s16(b, 20)
        self.dig_P9 = _s16(b, 22)
        self.dig_H1 = b[25]  # 0xA1
        h = memoryview(b)[:_CALIB26_LEN]
        self._i2c.readfrom_mem_into(self._addr, _REG_CALIB26, h)
        self.dig_H2 = _s16(h, 0)  # 0xE1/0xE2
        self.dig_H3 = h[2]  # 0xE3
        # dig_H4 = 0xE4[7:0] << 4 | 0xE5[3:0]; dig_H5 = 0xE6[7:0] << 4 | 0xE5[7:4]; both
        # signed 16-bit in the datasheet's table, the MSB byte carrying the sign.
        self.dig_H4 = (_s8(h[3]) << 4) | (h[4] & 0x0F)
        self.dig_H5 = (_s8(h[5]) << 4) | (h[4] >> 4)
        self.dig_H6 = _s8(h[6])

    # --- datasheet compensation, 4.2.3 / 8.2 -----------------------------------------------
    def compensate_t(self, adc_T):
        """BME280_compensate_T_int32: returns 0.01 degC; sets t_fine."""
        var1 = (((adc_T >> 3) - (self.dig_T1 << 1)) * self.dig_T2) >> 11
        var2 = (((((adc_T >> 4) - self.dig_T1) * ((adc_T >> 4) - self.dig_T1)) >> 12) * self.dig_T3) >> 14
        self.t_fine = var1 + var2
        return (self.t_fine * 5 + 128) >> 8

    def compensate_p(self, adc_P):
        """BME280_compensate_P_int64: returns Pa in Q24.8 (divide by 256); needs t_fine."""
        var1 = self.t_fine - 128000
        var2 = var1 * var1 * self.dig_P6
        var2 = var2 + ((var1 * self.dig_P5) << 17)
        var2 = var2 + (self.dig_P4 << 35)
        var1 = ((var1 * var1 * self.dig_P3) >> 8) + ((var1 * self.dig_P2) << 12)
        var1 = (((1 << 47) + var1) * self.dig_P1) >> 33
        if var1 == 0:
            return 0  # the datasheet's guard against division by zero
        p = 1048576 - adc_P
        # C's int64 "/" truncates toward zero where Python's "//" floors.
        p = _cdiv(((p << 31) - var2) * 3125, var1)
        var1 = (self.dig_P9 * (p >> 13) * (p >> 13)) >> 25
        var2 = (self.dig_P8 * p) >> 19
        return ((p + var1 + var2) >> 8) + (self.dig_P7 << 4)

    def compensate_h(self, adc_H):
        """bme280_compensate_H_int32: returns %RH in Q22.10 (divide by 1024); needs t_fine."""
        v = self.t_fine - 76800
        v = ((((adc_H << 14) - (self.dig_H4 << 20) - (self.dig_H5 * v)) + 16384) >> 15) * (
            (
                (((((v * self.dig_H6) >> 10) * (((v * self.dig_H3) >> 11) + 32768)) >> 10) + 2097152)
                * self.dig_H2
                + 8192
            )
            >> 14
        )
        v = v - (((((v >> 15) * (v >> 15)) >> 7) * self.dig_H1) >> 4)
        if v < 0:
            v = 0
        if v > 419430400:
            v = 419430400
        return v >> 12

    # --- driver contract -------------------------------------------------------------------
    def start(self):
        """Trigger one forced-mode conversion (3.3.3); returns ms to wait before read()."""
        self._i2c.writeto_mem(self._addr, _REG_CTRL_MEAS, self._ctrl_forced)
        return self.wait_ms

    def read_raw(self):
        """Burst-read the data registers into the preallocated buffer and decode adc_T,
        adc_P, adc_H into attributes; allocates nothing (tested with heap_lock).
        Raises ETIMEDOUT if the conversion is still running, EIO if the registers still
        hold the 'skipped' reset pattern (no conversion ever completed)."""
        b1 = self._b1
        self._i2c.readfrom_mem_into(self._addr, _REG_STATUS, b1)
        if b1[0] & _STATUS_MEASURING:
            raise OSError(errno.ETIMEDOUT)
        # A single burst read keeps T, P and H from the same conversion (shadowing, 4.1).
        d = self._data
        self._i2c.readfrom_mem_into(self._addr, _REG_DATA, d)
        adc_P = (d[0] << 12) | (d[1] << 4) | (d[2] >> 4)
        adc_T = (d[3] << 12) | (d[4] << 4) | (d[5] >> 4)
        adc_H = (d[6] << 8) | d[7]
        if adc_T == _SKIPPED_20 or adc_P == _SKIPPED_20 or adc_H == _SKIPPED_16:
            raise OSError(errno.EIO)
        self.adc_T = adc_T
        self.adc_P = adc_P
        self.adc_H = adc_H

    def read(self):
        """(temp degC 0.01, hum %RH 0.01, press Pa 1). The integer formulas allocate only
        for the pressure code's >31-bit intermediates and the returned floats/tuple."""
        self.read_raw()
        t = self.compensate_t(self.adc_T)
        p = self.compensate_p(self.adc_P)
        h = self.compensate_h(self.adc_H)
        if p == 0:
            raise OSError(errno.EIO)  # only with dig_P1 == 0: calibration NVM unreadable
        # Q24.8 -> Pa rounded to 1 Pa; Q22.10 -> %RH rounded to 0.01.
        return (t / 100, ((h * 100 + 512) >> 10) / 100, (p + 128) >> 8)
