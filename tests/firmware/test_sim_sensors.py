# The simulated sensors read through the real drivers: plausible ranges, smooth change with
# time, daily cycle, battery discharge, scenario faults, determinism. (GNSS: test_sim_gnss.py,
# split off so each file fits the unix port's -X heapsize=96k.) Time is a virtual ticks_ms
# clock so hours pass in milliseconds.
import errno
import time

# The biggest module first, compiled on the emptiest heap: keeps the -X heapsize=96k run alive.
from sim_sensors import make_sensors

# isort: split
from mobiot_fw.drivers.battery import Battery
from mobiot_fw.drivers.bme280 import Bme280
from mobiot_fw.drivers.ds18b20 import Ds18b20
from mobiot_fw.drivers.sht4x import Sht4x
from fwtest import raises

from fwtest import Clock

T0 = 1764146800  # 2025-11-26 08:46:40 UTC


class Board:
    def __init__(self, seed=3, scenario=None, start=None):
        sc = {"start_utc": T0}
        sc.update(scenario or {})
        self.clk = Clock(start)
        self.s = make_sensors(seed, scenario=sc, clock=self.clk)
        self.bme = Bme280(self.s["i2c"])
        self.sht = Sht4x(self.s["i2c"])
        self.ds = Ds18b20(self.s["ow"])
        self.bat = Battery(self.s["adc"], divider=2.0)

    def measure(self, drv):
        ms = drv.start()
        self.clk.advance(ms)
        return drv.read()

    def all(self):
        return (self.measure(self.bme), self.measure(self.sht), self.measure(self.ds), self.bat.read())




def test_plausible_values_and_sensors_agree():
    b = Board()
    (t, h, p), (t2, h2), (tp,), (v,) = b.all()
    assert -10 < t < 40 and 5 <= h <= 100, (t, h)
    # 101325 Pa at sea level is about 95,200 Pa at the default 520 m; weather +-800 Pa.
    assert 93500 < p < 97000, p
    assert abs(t - t2) < 0.5 and abs(h - h2) < 2.0, (t, t2, h, h2)
    assert 0 < tp < 25, tp
    assert abs(v - 4.15) < 0.02, v  # a replay (start_utc given) starts on a full battery
    w = b.s["world"]
    # The driver (integer datasheet formulas) recovers what the world put in, within noise.
    assert abs(t - (w.air_temp() + 0.2)) < 0.1, (t, w.air_temp())
    assert abs(p - w.pressure()) < 10, (p, w.pressure())


def test_smooth_over_time():
    b = Board()
    prev = b.all()
    for _ in range(120):  # two hours, a reading a minute
        b.clk.advance(60000)
        cur = b.all()
        assert abs(cur[0][0] - prev[0][0]) < 0.25, (prev[0], cur[0])
        assert abs(cur[0][1] - prev[0][1]) < 1.5, (prev[0], cur[0])
        assert abs(cur[0][2] - prev[0][2]) < 30, (prev[0], cur[0])
        assert abs(cur[2][0] - prev[2][0]) < 0.2
        assert abs(cur[3][0] - prev[3][0]) < 0.02
        prev = cur


def test_daily_cycle_and_humidity_anticorrelated():
    b = Board(scenario={"env": {"noise": False}})
    temps, hums = [], []
    for _ in range(48):
        b.clk.advance(1800000)
        (t, h, _), _, _, _ = b.all()
        temps.append(t)
        hums.append(h)
    swing = max(temps) - min(temps)
    assert 9 < swing < 17, swing  # 2 x 6 degC daily amplitude, +- weather
    i_hot = temps.index(max(temps))
    i_cold = temps.index(min(temps))
    assert hums[i_hot] < hums[i_cold], (hums[i_hot], hums[i_cold])


def test_battery_discharges_over_hours():
    b = Board(scenario={"battery": {"hours": 10}})
    volts = []
    for _ in range(10):
        volts.append(b.bat.read()[0])
        b.clk.advance(3590000)  # just under an hour: stay within the 10 h cycle
    assert abs(volts[0] - 4.15) < 0.02, volts
    assert abs(volts[-1] - 3.45) < 0.08, volts
    for a, c in zip(volts, volts[1:]):
        assert c < a + 0.01, volts  # monotonic but for ADC noise


def test_scenario_faults():
    sc = {
        "sensors": {
            "bme280": {"absent": [[10, 20]]},
            "sht4x": {"crc_error": True},
            "ds18b20": {"absent": True},
        }
    }
    b = Board(scenario=sc)
    b.measure(b.bme)  # t = 0: present
    b.clk.advance(15000)
    raises(errno.ENODEV, b.measure, b.bme)  # unplugged 10..20 s
    b.clk.advance(10000)
    b.measure(b.bme)  # back
    raises(errno.EIO, b.measure, b.sht)
    raises(errno.ENODEV, b.measure, b.ds)


def test_same_seed_same_values_other_seed_differs():
    a = Board(seed=5, start=1000).all()
    c = Board(seed=5, start=1000).all()
    assert a == c
    d = Board(seed=6, start=1000).all()
    assert d != a


def test_ticks_wraparound():
    start = time.ticks_add(0, -5000)  # 5 s before the ticks counter wraps
    b = Board(start=start)
    w = b.s["world"]
    b.clk.advance(20000)
    assert abs(w.elapsed_s() - 20.0) < 1e-6
    assert abs(w.utc() - (T0 + 20)) < 1e-6
