# Battery driver: V = read_uv / 1e6 * divider * scale + offset, averaged over N samples.
import micropython
from fakebus import FakeADC
from mobiot_fw.drivers.battery import Battery


class SeqADC:
    """read_uv() returns the given values in turn (cycling): samples differ, as with noise."""

    def __init__(self, values):
        self.values = values
        self.i = 0

    def read_uv(self):
        v = self.values[self.i % len(self.values)]
        self.i += 1
        return v


def test_names_and_no_wait():
    b = Battery(FakeADC())
    assert Battery.NAMES == ("bat",)
    assert b.start() == 0


def test_divider_formula():
    # Full Li-ion cell 4.150 V behind a 1:2 divider -> 2.075 V at the pin.
    assert Battery(FakeADC(uv=2075000)).read() == (4.150,)
    # 3:1 divider (200k over 100k): 1.234567 V at the pin -> 3.703701 V -> 3.704.
    assert Battery(FakeADC(uv=1234567), divider=3.0).read() == (3.704,)


def test_scale_and_offset():
    # 1.850123 V * 2 * 1.02 + 0.015 = 3.789251 -> 3.789
    b = Battery(FakeADC(uv=1850123), divider=2.0, scale=1.02, offset=0.015)
    (v,) = b.read()
    assert abs(v - 3.789) < 1e-6, v


def test_average_of_samples():
    vals = [1800000, 1810000, 1790000, 1805000, 1795000, 1820000, 1780000, 1800000]
    adc = SeqADC(vals)
    b = Battery(adc, samples=8)
    (v,) = b.read()
    mean = sum(vals) / len(vals)  # 1800000
    assert adc.i == 8
    assert abs(v - round(mean * 2 / 1e6, 3)) < 1e-6, v
    # Fewer samples: the mean of the first four of the next cycle.
    adc.i = 0
    b4 = Battery(adc, samples=4)
    (v4,) = b4.read()
    assert abs(v4 - round(sum(vals[:4]) / 4 * 2 / 1e6, 3)) < 1e-6, v4


def test_samples_bounded():
    for n in (0, 65):
        try:
            Battery(FakeADC(), samples=n)
        except ValueError:
            continue
        raise AssertionError("samples=%d accepted" % n)


def test_read_raw_does_not_allocate():
    b = Battery(FakeADC(uv=2000000), samples=16)
    b.read_raw()
    micropython.heap_lock()
    try:
        b.read_raw()
    finally:
        micropython.heap_unlock()
    assert b.mean_uv == 2000000
