# Fake X-Powers AXP2101 PMU: a register map at 0x34 for the virtual board and tests.
# Simulation only, never deployed.
#
# Registers as documented in lewisxhe/XPowersLib src/REG/AXP2101Constants.h and
# src/XPowersAXP2101.tpp (see firmware/mobiot_fw/drivers/axp2101.py for the table):
#   0x00 bit 3 battery present; 0x03 IC type 0x4A; 0x30 bit 0 VBAT ADC enable;
#   0x34/0x35 VBAT (13 bits, 1 mV/LSB) - only converted while 0x30 bit 0 is set, else 0;
#   0x80 DCDC on/off bits, 0x84 DCDC3 voltage, 0x90 LDO on/off bits, 0x92..0x97 LDO voltages.
# The reserved top bits of 0x34 read as 1 here, so a driver that forgets XPowersLib's 0x1F
# mask reads a wrong voltage in tests. The rail decoders below are written from the same
# range tables independently of the driver, so tests can ask "is the modem powered at 3.0 V".
from fakebus import FakeI2CDevice

ADDR = 0x34
CHIP_ID = 0x4A

# name -> (on/off register, bit, voltage register)
_RAILS = {
    "DC1": (0x80, 0, 0x82),
    "DC3": (0x80, 2, 0x84),
    "ALDO1": (0x90, 0, 0x92),
    "ALDO2": (0x90, 1, 0x93),
    "ALDO3": (0x90, 2, 0x94),
    "ALDO4": (0x90, 3, 0x95),
    "BLDO1": (0x90, 4, 0x96),
    "BLDO2": (0x90, 5, 0x97),
}


class FakeAxp2101(FakeI2CDevice):
    def __init__(self, vbat_mv=3900, battery=True, clock=None):
        super().__init__(clock)
        self.vbat_mv = vbat_mv
        self.battery = battery
        r = self.regs
        r[0x03] = CHIP_ID
        # what LilyGO boards come up with: DC1 (ESP32-S3 core) and BLDO1 (level shifters) on
        r[0x80] = 0x01
        r[0x90] = 0x10
        r[0x82] = (3300 - 1500) // 100
        r[0x96] = (3300 - 500) // 100
        self.writes = []  # (reg, value) in order, for tests

    def on_write(self, reg, value):
        self.writes.append((reg, value))

    def before_read(self, reg):
        r = self.regs
        r[0x00] = (r[0x00] | 0x08) if self.battery else (r[0x00] & ~0x08 & 0xFF)
        if r[0x30] & 0x01:
            v = int(self.vbat_mv) & 0x1FFF
            r[0x34] = 0xE0 | (v >> 8)  # reserved bits 7:5 read as 1 (see header)
            r[0x35] = v & 0xFF
        else:
            r[0x34] = 0xE0
            r[0x35] = 0

    # -- state a test or the virtual board can ask about --------------------------------
    def rail_on(self, name):
        reg, bit, _ = _RAILS[name]
        return bool(self.regs[reg] & (1 << bit))

    def rail_mv(self, name):
        _, _, vreg = _RAILS[name]
        v = self.regs[vreg]
        if name == "DC3":
            v &= 0x7F
            if v <= 70:
                return 500 + 10 * v
            if v <= 87:
                return 1220 + 20 * (v - 71)
            return 1600 + 100 * (v - 88) if v <= 106 else None
        if name == "DC1":
            return 1500 + 100 * (v & 0x1F)
        return 500 + 100 * (v & 0x1F)
