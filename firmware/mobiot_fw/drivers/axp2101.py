# X-Powers AXP2101 PMU on I2C: the rails that power the modem, and the battery voltage.
#
# On the LilyGO T-SIM7080G-S3 the SIM7080G runs from DCDC3 (3.0 V) and its GNSS antenna from
# BLDO2 (3.3 V); the battery is measured by the PMU's ADC, not by an ESP32 ADC pin
# (boards/lilygo-t-sim7080g-s3.json, modem.pmu; LilyGo-T-SIM7080G
# examples/MinimalModemGPSExample/MinimalModemGPSExample.ino: PMU.setDC3Voltage(3000);
# PMU.enableDC3(); PMU.setBLDO2Voltage(3300); PMU.enableBLDO2()).
#
# Register map. Sources: lewisxhe/XPowersLib (the library LilyGO's examples use)
# src/REG/AXP2101Constants.h (addresses, ranges, steps) and src/XPowersAXP2101.tpp /
# Micropython/src/AXP2101.py (which bit of which register each call touches). The library
# ships X-Powers' "AXP2101 Datasheet V1.4" (datasheet/AXP2101_Datasheet_V1.4_en.pdf); the
# register names below are the library's, the PDF itself was not re-read for this driver.
#   0x00 STATUS1          bit 3: battery present (isBatteryConnect)
#   0x03 IC_TYPE          reads 0x4A on an AXP2101 (XPOWERS_AXP2101_CHIP_ID)
#   0x30 ADC_CHANNEL_CTRL bit 0: VBAT measurement enable (enableBattVoltageMeasure)
#   0x34/0x35 ADC_DATA_RELUST0/1: VBAT, 13 bits = (H & 0x1F) << 8 | L, 1 mV per LSB
#                         (getBattVoltage -> readRegisterH5L8, returned as millivolts)
#   0x80 DC_ONOFF_DVM_CTRL bits 0..4: DCDC1..DCDC5 on (enableDC3 sets bit 2)
#   0x82 DC_VOL0_CTRL     DCDC1: bits 4:0, 1500-3400 mV in 100 mV steps
#   0x84 DC_VOL2_CTRL     DCDC3: bits 6:0 (bit 7 kept), three ranges:
#                         500-1200 mV / 10 mV -> 0..70; 1220-1540 mV / 20 mV -> 71..87;
#                         1600-3400 mV / 100 mV -> 88..106 (setDC3Voltage)
#   0x90 LDO_ONOFF_CTRL0  bits 0..3 ALDO1..4, bit 4 BLDO1, bit 5 BLDO2 (enableBLDO2)
#   0x92..0x97 LDO_VOL0..5_CTRL ALDO1..4, BLDO1, BLDO2: bits 4:0 (bits 7:5 kept),
#                         500-3500 mV in 100 mV steps (setBLDO2Voltage)
#
# Errors: a missing PMU NACKs, which the ESP32 port raises as OSError(ENODEV); a device at
# the address that is not an AXP2101 (wrong IC_TYPE) is reported the same way. A voltage
# the rail cannot make, or switching off a rail the board needs (keep_on), is a ValueError:
# that is a configuration mistake, not a bus fault.
import errno

from micropython import const  # MicroPython only: the host never imports drivers

_REG_STATUS1 = const(0x00)
_REG_IC_TYPE = const(0x03)
_REG_ADC_CTRL = const(0x30)
_REG_VBAT_H = const(0x34)
_REG_VBAT_L = const(0x35)
_REG_DC_ONOFF = const(0x80)
_REG_LDO_ONOFF0 = const(0x90)

_CHIP_ID = const(0x4A)
_BIT_BAT_PRESENT = const(0x08)  # STATUS1 bit 3
_BIT_ADC_VBAT = const(0x01)  # ADC_CHANNEL_CTRL bit 0
_VBAT_H_MASK = const(0x1F)

# DCDC3 ranges (mV): first, last, step, first code
_DC3_R1 = (500, 1200, 10, 0)
_DC3_R2 = (1220, 1540, 20, 71)
_DC3_R3 = (1600, 3400, 100, 88)
_DC3_MASK = const(0x7F)

# Rails: name -> (on/off register, bit, voltage register, kind). kind "dc1" / "dc3" / "ldo"
# selects the voltage code (ranges above). Only the rails this project drives or must
# protect are listed; adding one is adding a row.
_RAILS = {
    "DC1": (0x80, 0, 0x82, "dc1"),
    "DC3": (0x80, 2, 0x84, "dc3"),
    "ALDO1": (0x90, 0, 0x92, "ldo"),
    "ALDO2": (0x90, 1, 0x93, "ldo"),
    "ALDO3": (0x90, 2, 0x94, "ldo"),
    "ALDO4": (0x90, 3, 0x95, "ldo"),
    "BLDO1": (0x90, 4, 0x96, "ldo"),
    "BLDO2": (0x90, 5, 0x97, "ldo"),
}


def dc3_code(mv):
    """DCDC3 millivolts -> register code (bits 6:0 of 0x84). ValueError off the grid."""
    for lo, hi, step, base in (_DC3_R1, _DC3_R2, _DC3_R3):
        if lo <= mv <= hi:
            if (mv - lo) % step:
                break
            return base + (mv - lo) // step
    raise ValueError("DC3 cannot make %d mV" % mv)


def dc3_mv(code):
    code &= _DC3_MASK
    for lo, hi, step, base in (_DC3_R3, _DC3_R2, _DC3_R1):
        if code >= base:
            mv = lo + (code - base) * step
            return mv if mv <= hi else None
    return None


def _step_code(mv, lo, hi, step, name):
    if not lo <= mv <= hi or (mv - lo) % step:
        raise ValueError("%s cannot make %d mV" % (name, mv))
    return (mv - lo) // step


def _code(kind, mv, name):
    if kind == "dc3":
        return dc3_code(mv), _DC3_MASK
    if kind == "dc1":
        return _step_code(mv, 1500, 3400, 100, name), 0x1F
    return _step_code(mv, 500, 3500, 100, name), 0x1F


def _mv(kind, v):
    if kind == "dc3":
        return dc3_mv(v)
    if kind == "dc1":
        return 1500 + (v & 0x1F) * 100
    return 500 + (v & 0x1F) * 100


class Axp2101:
    def __init__(self, i2c, addr=0x34, keep_on=()):
        # No bus traffic here (like the sensor drivers): check() or the first access NACKs
        # with ENODEV if the PMU is absent.
        self._i2c = i2c
        self._addr = addr
        self.keep_on = tuple(keep_on)
        self._b = bytearray(1)

    # -- registers ---------------------------------------------------------------------
    def _rd(self, reg):
        self._i2c.readfrom_mem_into(self._addr, reg, self._b)
        return self._b[0]

    def _wr(self, reg, value):
        self._b[0] = value
        self._i2c.writeto_mem(self._addr, reg, self._b)

    def _update(self, reg, mask, value):
        old = self._rd(reg)
        new = (old & ~mask & 0xFF) | (value & mask)
        if new != old:
            self._wr(reg, new)

    # -- identity ----------------------------------------------------------------------
    def chip_id(self):
        return self._rd(_REG_IC_TYPE)

    def check(self):
        """ENODEV unless an AXP2101 answers at the address."""
        if self.chip_id() != _CHIP_ID:
            raise OSError(errno.ENODEV)
        return self

    # -- rails -------------------------------------------------------------------------
    @staticmethod
    def _rail(name):
        r = _RAILS.get(name)
        if r is None:
            raise ValueError("unknown AXP2101 rail: %s" % name)
        return r

    def set_mv(self, name, mv):
        """Set a rail's output voltage (mV); the other bits of its register are kept."""
        _, _, vreg, kind = self._rail(name)
        code, mask = _code(kind, mv, name)
        self._update(vreg, mask, code)

    def get_mv(self, name):
        _, _, vreg, kind = self._rail(name)
        return _mv(kind, self._rd(vreg))

    def enable(self, name, on=True):
        reg, bit, _, _ = self._rail(name)
        if not on and name in self.keep_on:
            raise ValueError("%s must stay on (board keep_on)" % name)
        self._update(reg, 1 << bit, (1 << bit) if on else 0)

    def disable(self, name):
        self.enable(name, False)

    def is_enabled(self, name):
        reg, bit, _, _ = self._rail(name)
        return bool(self._rd(reg) & (1 << bit))

    def power_modem(self, pc, gnss=False):
        """Switch the modem supply on from a board's modem.pmu block: voltage first, then
        enable (LilyGO's order), and the GNSS antenna rail too when gnss is true. Checks
        the chip first, so a missing PMU is ENODEV before anything is written."""
        self.check()
        rail = pc.get("modem_rail")
        if rail:
            self.set_mv(rail, pc["modem_mv"])
            self.enable(rail)
        if gnss:
            self.power_gnss(pc, True)

    def power_gnss(self, pc, on=True):
        rail = pc.get("gnss_rail")
        if not rail:
            return
        if on:
            self.set_mv(rail, pc["gnss_mv"])
        self.enable(rail, on)

    # -- battery -------------------------------------------------------------------------
    def battery_present(self):
        return bool(self._rd(_REG_STATUS1) & _BIT_BAT_PRESENT)

    def enable_vbat_adc(self):
        self._update(_REG_ADC_CTRL, _BIT_ADC_VBAT, _BIT_ADC_VBAT)

    def vbat_mv(self):
        """Battery voltage in mV (13-bit ADC result, 1 mV/LSB). Allocation-free."""
        h = self._rd(_REG_VBAT_H) & _VBAT_H_MASK
        return (h << 8) | self._rd(_REG_VBAT_L)

    def battery(self):
        return Axp2101Battery(self)


class Axp2101Battery:
    """The PMU's battery measurement as a sensor (driver contract: NAMES, start, read)."""

    NAMES = ("bat",)

    def __init__(self, pmu):
        self.pmu = pmu
        self._ready = False

    def start(self):
        # First start (and after a failure, since the slot rebuilds the driver): check the
        # chip and make sure the VBAT channel converts. Later cycles cost no bus traffic.
        if not self._ready:
            self.pmu.check()
            self.pmu.enable_vbat_adc()
            self._ready = True
        return 0

    def read(self):
        """(volts,) rounded to mV; (None,) with no battery fitted (on USB power the ADC
        reads the charger's output, which is not a battery voltage)."""
        if not self.pmu.battery_present():
            return (None,)
        return (self.pmu.vbat_mv() / 1000,)
