# AXP2101 PMU driver against a register-map fake. Expected register values are computed
# here from XPowersLib's range tables (src/REG/AXP2101Constants.h: DCDC3 1.6-3.4 V in
# 100 mV steps from code 88; BLDO2 0.5-3.5 V in 100 mV steps from code 0; on/off bits from
# src/XPowersAXP2101.tpp), not read back from the driver.
import errno
import json

import micropython
from fake_axp2101 import FakeAxp2101
from fakebus import FakeI2C, FakeI2CDevice
from fwtest import raises
from mobiot_fw.drivers.axp2101 import Axp2101, dc3_code

_BOARD = __file__.rpartition("/")[0] + "/../../boards/lilygo-t-sim7080g-s3.json"


def rig(**kw):
    i2c = FakeI2C()
    dev = i2c.add(0x34, FakeAxp2101(**kw))
    return i2c, dev


def test_chip_id():
    i2c, dev = rig()
    p = Axp2101(i2c)
    assert p.chip_id() == 0x4A
    assert p.check() is p


def test_wrong_chip_is_enodev():
    i2c = FakeI2C()
    other = i2c.add(0x34, FakeI2CDevice())
    other.regs[0x03] = 0x03  # an AXP192 answers 0x03 in the same register
    raises(errno.ENODEV, Axp2101(i2c).check)


def test_absent_device():
    i2c = FakeI2C()
    p = Axp2101(i2c)
    raises(errno.ENODEV, p.check)
    raises(errno.ENODEV, p.enable, "DC3")
    raises(errno.ENODEV, p.battery().start)


def test_dc3_voltage_codes_from_the_range_table():
    # 0.5-1.2 V / 10 mV from 0; 1.22-1.54 V / 20 mV from 71; 1.6-3.4 V / 100 mV from 88
    assert dc3_code(500) == 0
    assert dc3_code(1200) == (1200 - 500) // 10
    assert dc3_code(1220) == 71
    assert dc3_code(1540) == 71 + (1540 - 1220) // 20
    assert dc3_code(1600) == 88
    assert dc3_code(3000) == 88 + (3000 - 1600) // 100
    assert dc3_code(3400) == 88 + 18
    for bad in (400, 1205, 1550, 3050, 3500):
        try:
            dc3_code(bad)
        except ValueError:
            continue
        raise AssertionError("accepted %d mV" % bad)


def test_dc3_set_and_enable_write_the_right_bits():
    i2c, dev = rig()
    dev.regs[0x84] = 0x80  # bit 7 is not part of the voltage: it must survive
    before_80 = dev.regs[0x80]
    p = Axp2101(i2c)
    p.set_mv("DC3", 3000)
    assert dev.regs[0x84] == 0x80 | (88 + (3000 - 1600) // 100)
    assert not dev.rail_on("DC3")
    p.enable("DC3")
    assert dev.regs[0x80] == before_80 | (1 << 2)
    assert dev.rail_on("DC3") and dev.rail_mv("DC3") == 3000
    assert p.is_enabled("DC3") and p.get_mv("DC3") == 3000
    p.disable("DC3")
    assert dev.regs[0x80] == before_80


def test_bldo2_voltage_and_enable():
    i2c, dev = rig()
    dev.regs[0x97] = 0xE0  # bits 7:5 kept
    before_90 = dev.regs[0x90]
    p = Axp2101(i2c)
    p.set_mv("BLDO2", 3300)
    assert dev.regs[0x97] == 0xE0 | ((3300 - 500) // 100)
    p.enable("BLDO2")
    assert dev.regs[0x90] == before_90 | (1 << 5)
    assert dev.rail_mv("BLDO2") == 3300
    try:
        p.set_mv("BLDO2", 3350)  # not on the 100 mV grid
    except ValueError:
        pass
    else:
        raise AssertionError("3350 mV accepted")


def test_keep_on_rails_cannot_be_switched_off():
    i2c, dev = rig()
    p = Axp2101(i2c, keep_on=("DC1", "BLDO1"))
    for r in ("DC1", "BLDO1"):
        try:
            p.disable(r)
        except ValueError:
            pass
        else:
            raise AssertionError(r)
        assert dev.rail_on(r)


def test_power_modem_from_the_board_json():
    with open(_BOARD) as f:
        pc = json.load(f)["modem"]["pmu"]
    i2c, dev = rig()
    p = Axp2101(i2c, pc["addr"], keep_on=pc["keep_on"])
    p.power_modem(pc)
    assert dev.rail_on("DC3") and dev.rail_mv("DC3") == 3000
    assert not dev.rail_on("BLDO2")
    # voltage is written before the rail is switched on (LilyGO's order)
    regs = [w[0] for w in dev.writes]
    assert regs.index(0x84) < regs.index(0x80)
    p.power_gnss(pc)
    assert dev.rail_on("BLDO2") and dev.rail_mv("BLDO2") == 3300
    p.power_gnss(pc, False)
    assert not dev.rail_on("BLDO2") and dev.rail_on("DC3")


def test_vbat_decoding():
    i2c, dev = rig(vbat_mv=3987)
    bat = Axp2101(i2c).battery()
    assert bat.NAMES == ("bat",)
    assert not dev.regs[0x30] & 1
    assert bat.start() == 0
    assert dev.regs[0x30] & 1  # VBAT channel enabled by start()
    (v,) = bat.read()
    assert abs(v - 3.987) < 1e-6
    # full 13-bit range: high byte bits 4:0 carry bits 12:8 (reserved bits read as 1)
    dev.vbat_mv = 0x1ABC
    assert bat.pmu.vbat_mv() == 0x1ABC
    dev.vbat_mv = 4200
    assert abs(bat.read()[0] - 4.2) < 1e-6


def test_no_battery_reads_none():
    i2c, dev = rig(battery=False)
    bat = Axp2101(i2c).battery()
    bat.start()
    assert bat.read() == (None,)


def test_vbat_read_allocates_nothing():
    i2c, dev = rig(vbat_mv=3700)
    p = Axp2101(i2c)
    p.enable_vbat_adc()
    p.vbat_mv()
    micropython.heap_lock()
    try:
        mv = p.vbat_mv()
    finally:
        micropython.heap_unlock()
    assert mv == 3700
