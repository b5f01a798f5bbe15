# SHT4x driver against the datasheet: CRC example (4.4), conversion formulas (4.6) with raw
# words chosen by hand, command protocol, CRC failure and absent device.
import errno
import time

import micropython
from fakebus import FakeI2C, FakeI2CDevice, FakeSht4x
from mobiot_fw.drivers.sht4x import Sht4x, crc8
from fwtest import Clock, raises


def ref_crc(data):
    # Straight from 4.4: width 8, poly 0x31, init 0xFF, no reflection, final XOR 0.
    crc = 0xFF
    for b in data:
        for bit in range(7, -1, -1):
            fb = ((crc >> 7) ^ (b >> bit)) & 1
            crc = (crc << 1) & 0xFF
            if fb:
                crc ^= 0x31
    return crc


class RawSht(FakeI2CDevice):
    """Answers any command with fixed bytes: the driver seen apart from the fake model."""

    def __init__(self, answer):
        super().__init__()
        self.answer = answer
        self.commands = []

    def write(self, buf):
        self.commands.append(bytes(buf))

    def read(self, buf):
        for i in range(len(buf)):
            buf[i] = self.answer[i]


def answer(st, srh):
    a = bytearray(6)
    a[0], a[1] = st >> 8, st & 0xFF
    a[2] = ref_crc(a[0:2])
    a[3], a[4] = srh >> 8, srh & 0xFF
    a[5] = ref_crc(a[3:5])
    return a




def test_crc_datasheet_example():
    assert ref_crc(b"\xbe\xef") == 0x92  # datasheet 4.4 example
    assert crc8(b"\xbe\xef") == 0x92
    assert crc8(bytearray(b"\x00\xbe\xef"), 1) == 0x92


def test_conversion_worked_values():
    # 0x6666 = 26214 = 0.4 * 65535 -> T = -45 + 175 * 0.4 = 25.00 degC
    # 0x8000 = 32768 -> RH = -6 + 125 * 32768 / 65535 = 56.5009 -> 56.50 %RH
    i2c = FakeI2C()
    dev = i2c.add(0x44, RawSht(answer(0x6666, 0x8000)))
    s = Sht4x(i2c)
    assert s.start() == 10
    assert dev.commands == [b"\xfd"]  # high precision, no heater (table 7)
    t, rh = s.read()
    assert abs(t - 25.00) < 0.001, t
    assert abs(rh - 56.50) < 0.001, rh


def test_extremes_and_clamp():
    i2c = FakeI2C()
    dev = i2c.add(0x44, RawSht(answer(0, 0)))
    s = Sht4x(i2c)
    t, rh = s.read()
    assert abs(t - -45.0) < 0.001 and rh == 0.0  # -6 %RH clamped to 0 (4.6)
    dev.answer = answer(0xFFFF, 0xFFFF)
    t, rh = s.read()
    assert abs(t - 130.0) < 0.001 and rh == 100.0  # 119 %RH clamped to 100
    # RH 100 exactly at S_RH = 106 * 65535 / 125 = 55573.68 -> 55574 reads 100.00
    dev.answer = answer(0x6666, 55574)
    assert s.read()[1] == 100.0


def test_round_trip_through_fake():
    for t, h in ((21.37, 45.5), (-20.0, 95.0), (60.25, 3.2)):
        i2c = FakeI2C()
        i2c.add(0x44, FakeSht4x(temp=t, hum=h))
        s = Sht4x(i2c)
        time.sleep_ms(s.start())
        rt, rh = s.read()
        assert abs(rt - t) <= 0.01, (rt, t)
        assert abs(rh - h) <= 0.01, (rh, h)


def test_crc_error_is_eio():
    i2c = FakeI2C()
    i2c.add(0x44, FakeSht4x(corrupt_crc=True))
    s = Sht4x(i2c)
    time.sleep_ms(s.start())
    raises(errno.EIO, s.read)
    # Humidity word's CRC too.
    a = answer(0x6666, 0x8000)
    a[5] ^= 0x80
    i2c2 = FakeI2C()
    i2c2.add(0x44, RawSht(a))
    raises(errno.EIO, Sht4x(i2c2).read)


def test_absent_device_enodev():
    s = Sht4x(FakeI2C())
    raises(errno.ENODEV, s.start)
    raises(errno.ENODEV, s.read)


def test_read_before_result_is_nacked():
    i2c = FakeI2C()
    clk = Clock()  # the measurement's 8.3 ms pass only when the test says so
    i2c.add(0x44, FakeSht4x(clock=clk))
    s = Sht4x(i2c)
    raises(errno.ENODEV, s.read)  # no command sent: the sensor NACKs the read header
    s.start()
    clk.advance(8)
    raises(errno.ENODEV, s.read)  # still measuring (8.3 ms max)
    clk.advance(2)
    s.read()


def test_serial_number():
    i2c = FakeI2C()
    i2c.add(0x44, FakeSht4x(serial=0x12345678))
    assert Sht4x(i2c).serial_number() == 0x12345678


def test_fake_matches_datasheet_ticks():
    # The fake's encoding is the inverse of 4.6: 25 degC -> 0x6666, 56.5009 %RH -> 0x8000.
    assert FakeSht4x.ticks_for(25.0, -6 + 125 * 32768 / 65535) == (0x6666, 0x8000)


def test_read_raw_does_not_allocate():
    i2c = FakeI2C()
    i2c.add(0x44, RawSht(answer(0x6666, 0x8000)))
    s = Sht4x(i2c)
    s.read_raw()
    micropython.heap_lock()
    try:
        s.read_raw()
    finally:
        micropython.heap_unlock()
    assert s.raw_t == 0x6666 and s.raw_rh == 0x8000
