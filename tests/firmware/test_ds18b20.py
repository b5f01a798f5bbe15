# DS18B20 driver against the datasheet: table 1 temperature/data pairs, Maxim AN27 CRC,
# Convert T timing (table 2), 85 degC power-on value, ROM addressing, failures.
import errno

import micropython
from fakebus import FakeDs18b20, FakeOneWire, dallas_crc8, ds18b20_rom
from mobiot_fw.drivers.ds18b20 import Ds18b20
from fwtest import Clock, raises


def ref_crc(data):
    # AN27: shift register with feedback at bits 0, 4, 5 (x^8 + x^5 + x^4 + 1), LSB first.
    crc = 0
    for byte in data:
        for i in range(8):
            bit = (byte >> i) & 1
            fb = (crc ^ bit) & 1
            crc >>= 1
            if fb:
                crc ^= 0x8C
    return crc




def bus(**kw):
    kw.setdefault("time_scale", 0)  # conversions complete at once; timing tested apart
    dev = FakeDs18b20(**kw)
    return FakeOneWire([dev]), dev


def set_raw(dev, raw):
    dev.sp[0], dev.sp[1] = raw & 0xFF, (raw >> 8) & 0xFF
    dev.sp[8] = ref_crc(dev.sp[:8])


def test_crc_an27_example():
    rom = bytes((0x02, 0x1C, 0xB8, 0x01, 0x00, 0x00, 0x00))
    assert ref_crc(rom) == 0xA2  # Maxim application note 27 worked example
    assert dallas_crc8(rom) == 0xA2
    assert FakeOneWire().crc8(rom + b"\xa2") == 0


def test_table1_temperature_data_relationship():
    # Datasheet table 1 (12-bit), expected values rounded to 0.01 by hand.
    table = (
        (0x07D0, 125.0), (0x0191, 25.06), (0x00A2, 10.13), (0x0008, 0.5),
        (0x0000, 0.0), (0xFFF8, -0.5), (0xFF5E, -10.12), (0xFE6F, -25.06), (0xFC90, -55.0),
    )  # fmt: skip
    ow, dev = bus()
    s = Ds18b20(ow)
    for raw, expect in table:
        set_raw(dev, raw)
        (t,) = s.read()
        assert abs(t - expect) < 0.001, (hex(raw), t, expect)


def test_convert_then_read_through_fake():
    ow, dev = bus(temp=23.4375)  # 375/16, exactly representable at 12 bits
    s = Ds18b20(ow)
    assert s.start() == 750  # table 2, 12-bit
    assert dev.conversions == 1
    (t,) = s.read()
    assert abs(t - 23.44) < 0.001, t


def test_power_on_85_without_conversion_is_eio():
    ow, dev = bus(temp=20.0)
    s = Ds18b20(ow)
    raises(errno.EIO, s.read)  # scratchpad still 0x0550 = +85.0 (power-on value)
    s.start()
    assert abs(s.read()[0] - 20.0) < 0.001


def test_read_before_conversion_done_is_eio():
    clk = Clock()  # the conversion's 750 ms pass only when the test says so
    ow, dev = bus(temp=20.0, time_scale=1.0, clock=clk)
    s = Ds18b20(ow)
    s.start()
    clk.advance(749)
    raises(errno.EIO, s.read)  # 750 ms not elapsed: the register still holds 85.0
    clk.advance(1)
    assert abs(s.read()[0] - 20.0) < 0.001


def test_resolution_sets_conversion_time():
    ow, dev = bus(temp=20.0)
    dev.sp[4] = 0x1F  # 9-bit (R1R0 = 00), figure 10
    dev.sp[8] = ref_crc(dev.sp[:8])
    s = Ds18b20(ow)
    s.start()
    s.read()
    assert s.start() == 94  # 93.75 ms, table 2
    assert s.read()[0] == 20.0
    set_raw(dev, 0x0197)  # undefined low bits set: 9-bit value is 0x0190 = 25.0
    assert s.read()[0] == 25.0


def test_crc_error_is_eio():
    ow, dev = bus(temp=20.0, corrupt_crc=True)
    s = Ds18b20(ow)
    s.start()
    raises(errno.EIO, s.read)


def test_all_zero_scratchpad_is_eio():
    # Data line stuck low: nine zero bytes have a valid CRC (0); the config byte's fixed
    # bits (figure 10) expose it.
    ow, dev = bus()
    for i in range(9):
        dev.sp[i] = 0
    assert ref_crc(dev.sp) == 0
    raises(errno.EIO, Ds18b20(ow).read)


def test_no_presence_is_enodev():
    s = Ds18b20(FakeOneWire())
    raises(errno.ENODEV, s.start)
    raises(errno.ENODEV, s.read)
    ow, dev = bus()
    dev.present = False
    raises(errno.ENODEV, Ds18b20(ow).start)


def test_match_rom_two_sensors():
    a = FakeDs18b20(serial=0x111111, temp=12.5, time_scale=0)
    b = FakeDs18b20(serial=0x222222, temp=-3.25, time_scale=0)
    ow = FakeOneWire([a, b])
    roms = ow.scan()
    assert len(roms) == 2
    for rom in roms:
        assert rom[0] == 0x28 and ref_crc(rom) == 0  # family code, valid ROM CRC
    sa, sb = Ds18b20(ow, rom=a.rom), Ds18b20(ow, rom=b.rom)
    sa.start()
    sb.start()
    assert sa.read() == (12.5,)
    assert sb.read() == (-3.25,)
    # Skip ROM with two sensors: both answer at once (wired-AND), the CRC fails.
    raises(errno.EIO, Ds18b20(ow).read)


def test_rom_helper_matches_an27():
    # ds18b20_rom builds family + serial + CRC; check against the reference CRC.
    rom = ds18b20_rom(0x0000_01B8_1C02)
    assert rom[1:7] == bytes((0x02, 0x1C, 0xB8, 0x01, 0x00, 0x00))
    assert rom[7] == ref_crc(rom[:7])


def test_read_raw_does_not_allocate():
    ow, dev = bus(temp=20.0)
    s = Ds18b20(ow)
    s.start()
    s.read_raw()
    micropython.heap_lock()
    try:
        s.read_raw()
    finally:
        micropython.heap_unlock()
    assert s.raw == 320
