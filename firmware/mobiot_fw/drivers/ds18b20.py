# Maxim (Analog Devices) DS18B20 1-Wire digital thermometer.
#
# Source: Maxim "DS18B20 Programmable Resolution 1-Wire Digital Thermometer", 19-7487 Rev 6.
#   Figure 7 memory map: scratchpad byte 0/1 temperature LSB/MSB, 2 TH, 3 TL, 4 config,
#       5..7 reserved, 8 CRC.
#   Figure 4 / table 1: temperature register, 16-bit two's complement, 1/16 degC per LSB at
#       12-bit resolution (0x0191 = +25.0625, 0xFF5E = -10.125); power-on value 0x0550 (+85).
#   Figure 10 config register: "0 R1 R0 1 1 1 1 1"; table 2: conversion time 93.75 / 187.5
#       / 375 / 750 ms for 9 / 10 / 11 / 12 bits.
#   ROM commands: Match ROM 0x55, Skip ROM 0xCC; function commands: Convert T 0x44, Read
#       Scratchpad 0xBE ("1-Wire Signaling" / "DS18B20 Function Commands").
#   CRC: Dallas/Maxim CRC-8, x^8+x^5+x^4+1, LSB first (reflected poly 0x8C), the CRC of the
#       9 scratchpad bytes including byte 8 is 0 (Maxim application note 27).
#
# The bus object is anything with MicroPython's onewire.OneWire API (reset, writebyte,
# write, readinto, crc8). On the ESP32 that is onewire.OneWire(Pin(n)); this module never
# constructs it. Parasite power (strong pull-up during Convert T) is not supported:
# the sensor must have VDD wired.
import errno

from micropython import const  # MicroPython only: the host never imports drivers

_CMD_MATCH_ROM = const(0x55)
_CMD_SKIP_ROM = const(0xCC)
_CMD_CONVERT_T = const(0x44)
_CMD_READ_SCRATCHPAD = const(0xBE)
_SCRATCHPAD_LEN = const(9)
_POWER_ON_RAW = const(0x0550)  # +85.0 degC, the temperature register's reset value
_CFG_FIXED_MASK = const(0x9F)  # config bit 7 reads 0 and bits 4..0 read 1 (figure 10)
_CFG_FIXED_VALUE = const(0x1F)
_CONV_MS_12BIT = const(750)  # table 2; R1R0 = 11 is the power-on default


class Ds18b20:
    NAMES = ("temp",)
    # Conversion time by resolution (R1R0 = 0..3), table 2, rounded up to whole ms.
    _CONV_MS = (94, 188, 375, 750)

    def __init__(self, ow, rom=None):
        self._ow = ow
        self._rom = rom  # 8-byte ROM code, or None for a single sensor (Skip ROM)
        self._sp = bytearray(_SCRATCHPAD_LEN)
        self.conv_ms = _CONV_MS_12BIT
        self.raw = 0

    def _select(self):
        # reset() returns the presence pulse; no pulse means nothing is on the bus.
        # (onewire.select_rom() resets too but ignores presence, so it is not used.)
        ow = self._ow
        if not ow.reset():
            raise OSError(errno.ENODEV)
        if self._rom is None:
            ow.writebyte(_CMD_SKIP_ROM)
        else:
            ow.writebyte(_CMD_MATCH_ROM)
            ow.write(self._rom)

    def start(self):
        """Convert T; returns the conversion time for the resolution last seen in the
        scratchpad (750 ms at the power-on 12-bit default)."""
        self._select()
        self._ow.writebyte(_CMD_CONVERT_T)
        return self.conv_ms

    def read_raw(self):
        """Read and check the scratchpad into the preallocated buffer; sets self.raw.
        Allocation-free on the driver side. EIO on CRC error or impossible config byte."""
        self._select()
        ow = self._ow
        ow.writebyte(_CMD_READ_SCRATCHPAD)
        sp = self._sp
        ow.readinto(sp)
        if ow.crc8(sp) != 0:
            raise OSError(errno.EIO)
        # An all-zero scratchpad (data line held low) has a valid CRC; the config register's
        # fixed bits catch it, and also a device that is not a DS18B20.
        if sp[4] & _CFG_FIXED_MASK != _CFG_FIXED_VALUE:
            raise OSError(errno.EIO)
        self.conv_ms = self._CONV_MS[(sp[4] >> 5) & 3]
        raw = sp[0] | (sp[1] << 8)
        self.raw = raw - 0x10000 if raw & 0x8000 else raw

    def read(self):
        """(temp degC, 1/16 resolution, rounded to 0.01).

        Exactly +85.0 degC is the power-on reset value of the temperature register: it is what
        a sensor returns when no conversion completed since it powered up (start() not called,
        read too early, or a brown-out during the conversion). It is reported as EIO, so a
        real 85.0 degC reading is lost; that is far outside this product's range."""
        self.read_raw()
        if self.raw == _POWER_ON_RAW:
            raise OSError(errno.EIO)
        # Lower resolutions leave undefined low bits (figure 4 note); mask them.
        raw = self.raw & ~((1 << (3 - ((self._sp[4] >> 5) & 3))) - 1)
        # raw/16 degC in hundredths = raw*25/4, rounded half up in integers.
        return (((raw * 25 + 2) // 4) / 100,)
