# Sensor slots (firmware/mobiot_fw/sensors.py): which slots a board and config give, one
# reading record per cycle, sensor_error once per failure and sensor_recovered after retries.
# Fakes follow the datasheets (sim/fake_*.py); records go to a list, not to a queue.
import errno
import time

from fakebus import FakeI2C
from fake_bme280 import FakeBme280
from fake_sht4x import FakeSht4x
from mobiot_fw import config
from mobiot_fw.clock import Clock
from mobiot_fw.sensors import Sensors


class Outbox:
    def __init__(self):
        self.got = []

    def emit(self, kind, values):
        self.got.append((kind, dict(values)))

    def event(self, name, *pairs):
        self.emit("event", (("event", name),) + pairs)

    def take(self):
        g, self.got = self.got, []
        return g


class Plat:
    def __init__(self, i2c):
        self._i2c = i2c

    def i2c(self):
        return self._i2c

    def uart(self, part):
        raise OSError(errno.ENODEV)


def _sensors(board, raw=None, i2c=None, clock=None):
    cfg, errs = config.validate(raw or {})
    assert errs == [], errs
    ob = Outbox()
    s = Sensors(Plat(i2c or FakeI2C()), board, cfg, ob, clock or Clock(), None)
    s.setup()
    return s, ob


def _run(coro):
    import asyncio

    return asyncio.run(coro)


def test_board_and_config_choose_the_slots():
    board = {"sensors": ["bme280", "sht4x"]}
    s, _ = _sensors(board, {"sensors": {"sht4x": False, "ds18b20": {"prefix": "probe_"}}})
    assert [(x.name, x.prefix) for x in s.slots] == [("bme280", ""), ("ds18b20", "probe_")]
    s, _ = _sensors(board)
    assert [(x.name, x.prefix) for x in s.slots] == [("bme280", ""), ("sht4x", "sht_")]
    s, _ = _sensors({"sensors": ["battery"]})  # no battery pin and no PMU source: no slot
    assert s.slots == []


def test_one_reading_record_with_prefixed_names():
    i2c = FakeI2C({0x76: FakeBme280(temp=18.25, hum=61.0, press=99000.0), 0x44: FakeSht4x(temp=19.5, hum=55.0)})
    s, ob = _sensors({"sensors": ["bme280", "sht4x"]}, i2c=i2c)
    _run(s.sample())
    got = ob.take()
    assert [k for k, _ in got] == ["reading"], got
    v = got[0][1]
    assert abs(v["temp"] - 18.25) < 0.02 and abs(v["sht_temp"] - 19.5) < 0.02, v
    assert abs(v["press"] - 99000) < 2 and abs(v["sht_hum"] - 55.0) < 0.1, v


def test_a_failure_is_one_event_and_the_retry_brings_it_back():
    i2c = FakeI2C({0x76: FakeBme280()})
    s, ob = _sensors({"sensors": ["bme280", "sht4x"]}, i2c=i2c)
    _run(s.sample())
    got = ob.take()
    ev = [v for k, v in got if k == "event"]
    assert ev == [{"event": "sensor_error", "sensor": "sht4x", "err": "ENODEV", "errno": errno.ENODEV}], ev
    assert "temp" in [v for k, v in got if k == "reading"][0]  # the others keep reporting
    for _ in range(5):
        _run(s.sample())
    assert [v for k, v in ob.take() if k == "event"] == []  # not repeated while it stays failed
    i2c.devices[0x44] = FakeSht4x()
    n = 0
    while not [v for k, v in ob.got if k == "event"]:
        _run(s.sample())
        n += 1
        assert n <= 31, "not retried within 30 cycles"
    ev = [v for k, v in ob.take() if k == "event"]
    assert ev[0]["event"] == "sensor_recovered" and ev[0]["sensor"] == "sht4x" and ev[0]["after_s"] >= 0, ev


def test_gnss_in_the_modem_is_quiet_for_a_minute_then_an_error():
    clk = Clock()
    s, ob = _sensors({"sensors": ["gnss"], "gnss": {"source": "modem"}}, clock=clk)
    assert s.wants("gnss")
    _run(s.sample())
    assert ob.take() == []  # the modem part has not made its reader yet: not an error yet
    clk.boot_ms = time.ticks_add(time.ticks_ms(), -61000)
    _run(s.sample())
    ev = [v for k, v in ob.take() if k == "event"]
    assert ev and ev[0]["sensor"] == "gnss" and ev[0]["err"] == "ETIMEDOUT", ev

    class G:
        NAMES = ("lat", "lon", "alt", "spd", "sats", "fix")
        utc_ticks_ms = 0

        def start(self):
            return 0

        def read(self):
            return (47.5, 8.25, 400.0, 0.0, 9, 1)

        def utc_epoch(self):
            return None

    s.use_modem_gnss(G())
    _run(s.sample())
    got = ob.take()
    assert ("reading", {"lat": 47.5, "lon": 8.25, "alt": 400.0, "spd": 0.0, "sats": 9, "fix": 1}) in got, got
    assert [v["event"] for k, v in got if k == "event"] == ["sensor_recovered"]
