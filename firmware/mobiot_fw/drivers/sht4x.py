# Sensirion SHT4x (SHT40/41/45) humidity and temperature sensor on I2C.
#
# Source: Sensirion "Datasheet SHT4x", version 1 (October 2020) and later revisions.
#   4.3 command overview (table 7): 0xFD measure T & RH high precision, 0x89 read serial
#       number, 0x94 soft reset; every answer is 2 data bytes + 1 CRC byte per word.
#   3.2 / table 4: high-precision measurement takes at most 8.3 ms; the device NACKs a read
#       header until the result is ready (on the ESP32 that NACK is OSError ENODEV).
#   4.4 checksum: CRC-8, polynomial 0x31 (x^8+x^5+x^4+1), init 0xFF, no reflection, no
#       final XOR; example CRC(0xBEEF) = 0x92.
#   4.5/4.6 conversion: T = -45 + 175 * S_T / (2^16 - 1)  [degC]
#                       RH = -6 + 125 * S_RH / (2^16 - 1) [%RH], cropped to 0..100 as the
#       datasheet recommends (values outside are physically impossible, caused by tolerance).
import errno
import time

from micropython import const  # MicroPython only: the host never imports drivers

_CMD_MEASURE_HIGH = b"\xfd"
_CMD_SERIAL = b"\x89"
_CMD_SOFT_RESET = b"\x94"
# 8.3 ms max for high precision (table 4), rounded up with margin for the ESP32's coarse
# asyncio timer; the brief for this product asks for 10 ms.
_MEASURE_MS = const(10)
_RESET_MS = const(1)  # table 4: soft reset time t_SR 1 ms max
# The datasheet gives no duration for 0x89; wait as long as a measurement, which is what
# Sensirion's own drivers do, since this runs once at boot.
_SERIAL_MS = const(10)
_CRC_POLY = const(0x31)
_CRC_INIT = const(0xFF)


def crc8(buf, start=0, n=2):
    """Sensirion CRC-8 over buf[start:start+n] (datasheet 4.4). Allocation-free."""
    crc = _CRC_INIT
    for i in range(start, start + n):
        crc ^= buf[i]
        for _ in range(8):
            if crc & 0x80:
                crc = ((crc << 1) ^ _CRC_POLY) & 0xFF
            else:
                crc = (crc << 1) & 0xFF
    return crc


def _check(buf):
    # Two words, each followed by its CRC: [d0 d1 c][d2 d3 c].
    if crc8(buf, 0) != buf[2] or crc8(buf, 3) != buf[5]:
        raise OSError(errno.EIO)


class Sht4x:
    NAMES = ("temp", "hum")

    def __init__(self, i2c, addr=0x44):
        # No bus traffic here: the first start() NACKs with ENODEV if the sensor is absent.
        self._i2c = i2c
        self._addr = addr
        self._buf = bytearray(6)
        self.raw_t = 0
        self.raw_rh = 0

    def serial_number(self):
        """32-bit serial number (command 0x89); blocks 10 ms. For boot logs."""
        self._i2c.writeto(self._addr, _CMD_SERIAL)
        time.sleep_ms(_SERIAL_MS)
        b = self._buf
        self._i2c.readfrom_into(self._addr, b)
        _check(b)
        return (b[0] << 24) | (b[1] << 16) | (b[3] << 8) | b[4]

    def soft_reset(self):
        self._i2c.writeto(self._addr, _CMD_SOFT_RESET)
        time.sleep_ms(_RESET_MS)

    def start(self):
        self._i2c.writeto(self._addr, _CMD_MEASURE_HIGH)
        return _MEASURE_MS

    def read_raw(self):
        """Read the 6-byte answer into the preallocated buffer, check both CRCs, store the
        raw ticks in raw_t / raw_rh. Allocation-free. EIO on CRC mismatch."""
        b = self._buf
        self._i2c.readfrom_into(self._addr, b)
        _check(b)
        self.raw_t = (b[0] << 8) | b[1]
        self.raw_rh = (b[3] << 8) | b[4]

    def read(self):
        """(temp degC 0.01, hum %RH 0.01)."""
        self.read_raw()
        # Integer arithmetic in 0.01 units keeps single-precision floats out of the
        # conversion; +32767 rounds to nearest.
        t = -4500 + (17500 * self.raw_t + 32767) // 65535
        rh = -600 + (12500 * self.raw_rh + 32767) // 65535
        if rh < 0:
            rh = 0
        elif rh > 10000:
            rh = 10000
        return (t / 100, rh / 100)
