# Fake Maxim DS18B20 (scratchpad per datasheet 19-7487). Sim only; see fakebus.py.
import time

from fakebus import dallas_crc8


def ds18b20_rom(serial):
    """8-byte ROM: family 0x28, 48-bit serial LSB first, CRC (datasheet figure 6)."""
    rom = bytearray(8)
    rom[0] = 0x28
    for i in range(6):
        rom[1 + i] = (serial >> (8 * i)) & 0xFF
    rom[7] = dallas_crc8(rom[:7])
    return rom


class FakeDs18b20:
    """DS18B20 scratchpad (figure 7) with CRC. Convert T copies the current temperature
    (attribute temp, or env() -> degC) into bytes 0/1 after the conversion time of the
    configured resolution (table 2: 750 ms at 12 bits, scaled by `time_scale` so tests
    need not sleep); until then, and after power-up, the old value (power-on +85.0) stays."""

    _CONV_MS = (94, 188, 375, 750)

    def __init__(
        self, serial=0x00000A1B2C3D, temp=21.0, env=None, corrupt_crc=False, time_scale=1.0, clock=None
    ):
        self.clock = clock or time.ticks_ms
        self.rom = ds18b20_rom(serial)
        self.temp, self.env = temp, env
        self.corrupt_crc = corrupt_crc
        self.present = True
        self.time_scale = time_scale
        # Power-on scratchpad: 85.0 degC, TH/TL from EEPROM (factory 0x4B/0x46), 12-bit
        # config 0x7F, reserved FF/0C/10.
        self.sp = bytearray(b"\x50\x05\x4b\x46\x7f\xff\x0c\x10\x00")
        self._crc()
        self._ready_ms = None
        self._pending = 0
        self.conversions = 0

    def _crc(self):
        self.sp[8] = dallas_crc8(self.sp[:8])

    @staticmethod
    def raw_for(temp, res_bits=12):
        if temp < -55:
            temp = -55
        if temp > 125:
            temp = 125
        raw = int(temp * 16 + (0.5 if temp >= 0 else -0.5)) & 0xFFFF
        return raw & ~((1 << (12 - res_bits)) - 1) & 0xFFFF

    def resolution(self):
        return 9 + ((self.sp[4] >> 5) & 3)

    def convert(self):
        t = self.env() if self.env else self.temp
        self._pending = self.raw_for(t, self.resolution())
        ms = int(self._CONV_MS[(self.sp[4] >> 5) & 3] * self.time_scale)
        self._ready_ms = time.ticks_add(self.clock(), ms)
        self.conversions += 1

    def _update(self):
        if self._ready_ms is not None and time.ticks_diff(self.clock(), self._ready_ms) >= 0:
            self._ready_ms = None
            self.sp[0] = self._pending & 0xFF
            self.sp[1] = self._pending >> 8
            self._crc()

    def scratch_byte(self, i):
        self._update()
        if i >= 9:
            return 0xFF
        b = self.sp[i]
        if i == 8 and self.corrupt_crc:
            b ^= 0x5A
        return b

    def write_scratch(self, i, value):
        # Write Scratchpad (0x4E): TH, TL, config; config's fixed bits stay as they are.
        if i == 2:
            value = (value & 0x60) | 0x1F
        self.sp[2 + i] = value
        self._crc()

    def power_cycle(self):
        self.sp[0], self.sp[1] = 0x50, 0x05
        self._ready_ms = None
        self._crc()
