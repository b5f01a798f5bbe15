# The terminal's main loop (firmware/mobiot_fw/app.py) on fake buses and real littlefs in RAM.
import binascii
import errno
import json

import fileblockdev as fb
from fakebus import FakeI2C
from fake_bme280 import FakeBme280
from fake_sht4x import FakeSht4x
from mobiot_fw import config
from mobiot_fw.app import Terminal
from mobiot_fw.link.proto import encode_command

MNT = "/tapp"


class Out:
    def __init__(self):
        self.data = bytearray()

    def write(self, b):
        self.data += bytes(b)

    def frames(self):
        """(type, payload dict) of every frame, each checked against its CRC-32 as the
        host does (docs/protocol.md)."""
        out = []
        for line in bytes(self.data).split(b"\r\n"):
            if not line.startswith(b"@"):
                continue
            star = line.rfind(b"*")
            body = line[1:star]
            assert "%08X" % binascii.crc32(body) == line[star + 1:].decode(), line
            out.append((chr(body[0]), json.loads(body[2:])))
        self.data = bytearray()
        return out


class Plat:
    def __init__(self, i2c=None, adc=None):
        self._i2c = i2c if i2c is not None else FakeI2C()
        self._adc = adc

    def i2c(self):
        return self._i2c

    def battery_adc(self):
        if self._adc is None:
            raise OSError(errno.ENODEV)
        return self._adc

    def unique_id(self):
        return "a0b1c2d3e4f5"

    def deepsleep(self, ms):
        raise AssertionError("no sleep in this test")


BOARD = {"name": "test", "sensors": ["bme280", "sht4x"], "battery": {"pin": 35, "divider": 2.0}}


def _fresh():
    import os

    path = "/tmp/mobiot-test-app-%d.img" % id(MNT)
    try:
        os.remove(path)
    except OSError:
        pass
    bd = fb.FileBlockDev(path, 96)
    fb.mount(bd, MNT, mkfs=True)
    return bd


class _T:
    """The wired terminal (app.Terminal) and the test's view of its output."""

    def __init__(self, plat, cfg, board, out):
        self.t = Terminal(plat, cfg, board, out=out, qroot=MNT + "/q", cfg_path=MNT + "/config.json")
        self.t.sensors.setup()
        self.out, self.q, self.cfg = out, self.t.q, cfg
        self.boot = self.t.outbox.boot

    def sample(self):
        return self.t.cycle.once()

    def command(self, line):
        self.t.session.line(line)

    def pump(self):
        return self.t.session.pump()

    def status(self):
        return self.t.sup.status()

    def emit(self, kind, values):
        return self.t.outbox.emit(kind, values)


def _term(plat, raw=None, board=BOARD, out=None):
    cfg, errs = config.validate(raw or {"device_id": "356938035643809"})
    assert errs == [], errs
    return _T(plat, cfg, board, out or Out())


def _run(coro):
    import asyncio

    return asyncio.run(coro)


def test_absent_sensor_is_an_event_and_the_others_keep_reporting():
    _fresh()
    i2c = FakeI2C({0x76: FakeBme280(temp=21.5, hum=40.0, press=100000.0)})  # no SHT4x at 0x44
    t = _term(Plat(i2c))
    _run(t.sample())
    fr = t.out.frames()
    kinds = [(typ, p["kind"], p["values"].get("event")) for typ, p in fr]
    assert ("R", "event", "sensor_error") in kinds, kinds
    err = [p for _, p in fr if p["values"].get("event") == "sensor_error"][0]
    assert err["values"]["sensor"] == "sht4x" and err["values"]["errno"] == errno.ENODEV
    reading = [p for _, p in fr if p["kind"] == "reading"][0]["values"]
    assert abs(reading["temp"] - 21.5) < 0.02, reading
    assert abs(reading["hum"] - 40.0) < 0.2 and abs(reading["press"] - 100000) < 2
    assert "sht_temp" not in reading
    # The next cycle does not repeat the same error event (no flooding)...
    _run(t.sample())
    assert not [p for _, p in t.out.frames() if p["values"].get("event") == "sensor_error"]
    # ...and when the device appears, it is retried, reports, and a recovery event is sent.
    i2c.devices[0x44] = FakeSht4x(temp=22.0, hum=45.0)
    for _ in range(31):
        _run(t.sample())
    fr = t.out.frames()
    assert [p for _, p in fr if p["values"].get("event") == "sensor_recovered"]
    assert "sht_temp" in [p for _, p in fr if p["kind"] == "reading"][-1]["values"]


def test_sequence_is_plus_one_across_reboots_and_boot_counter_grows():
    _fresh()
    plat = Plat(FakeI2C({0x76: FakeBme280()}))
    t = _term(plat, board={"name": "t", "sensors": ["bme280"]})
    for _ in range(3):
        _run(t.sample())
    seqs1 = [p["seq"] for _, p in t.out.frames()]
    t2 = _term(plat, board={"name": "t", "sensors": ["bme280"]})
    _run(t2.sample())
    fr = t2.out.frames()
    seqs2 = [p["seq"] for _, p in fr]
    assert seqs1 == list(range(1, len(seqs1) + 1))
    assert seqs2[0] == seqs1[-1] + 1
    assert fr[0][1]["boot"] == t.boot + 1


def test_host_hello_window_ack_and_resend():
    _fresh()
    t = _term(Plat(FakeI2C({0x76: FakeBme280()})), {"device_id": "1", "link": {"window": 4, "resend_s": 1},
                                                    "sensors": {"sht4x": False}})
    for _ in range(10):
        _run(t.sample())
    t.out.frames()
    depth = t.q.depth
    assert depth >= 10
    t.command(encode_command("hello"))
    fr = t.out.frames()
    assert fr[0][0] == "H" and fr[0][1]["hold"] is True and fr[0][1]["proto"] == 1
    assert t.pump() == 4  # the window
    sent = [p["seq"] for _, p in t.out.frames()]
    assert sent == [1, 2, 3, 4]
    assert t.pump() == 0  # all in flight, none due for a resend yet
    t.command(encode_command("ack", "1-2,4"))
    assert t.q.depth == depth - 3
    t.pump()
    assert [p["seq"] for _, p in t.out.frames()] == [5, 6, 7]
    import time

    time.sleep_ms(1100)
    t.pump()  # 3 and 5..7 are due again
    assert [p["seq"] for _, p in t.out.frames()][:1] == [3]


def test_bad_commands_are_answered_and_change_nothing():
    _fresh()
    t = _term(Plat(), {"device_id": "1", "sensors": {"bme280": False, "sht4x": False}})
    t.emit("event", (("event", "boot"),))
    t.out.frames()
    t.command("!ack 1*00")  # wrong checksum
    t.command(encode_command("ack", "1-x"))  # malformed list
    t.command(encode_command("frobnicate"))
    fr = t.out.frames()
    assert [p["ok"] for _, p in fr] == [False, False, False]
    assert fr[0][1]["err"] == "checksum" and fr[2][1]["err"] == "unknown command"
    assert t.q.depth == 1
    t.command("mobiot: a log line, not a command")
    assert t.out.frames() == []


def test_interval_command_is_persisted_in_the_config():
    _fresh()
    with open(MNT + "/config.json", "w") as f:
        json.dump({"device_id": "1", "interval_s": 60}, f)
    t = _term(Plat(), {"device_id": "1", "sensors": {"bme280": False, "sht4x": False}})
    t.command(encode_command("interval", "15"))
    fr = t.out.frames()
    assert fr[0][1] == {"cmd": "interval", "ok": True, "interval_s": 15}
    assert t.cfg["interval_s"] == 15
    cfg, errs = config.load(MNT + "/config.json")
    assert cfg["interval_s"] == 15 and errs == []
    t.command(encode_command("interval", "0"))
    assert t.out.frames()[0][1]["ok"] is False


def test_a_config_change_does_not_keep_the_config_module():
    # build.config() drops the config module after boot (11 KB on the 64-bit port): an !interval
    # or !config (over serial or MQTT, link/cfgcmd.py) loads it for the change only
    import sys

    import mobiot_fw

    _fresh()
    with open(MNT + "/config.json", "w") as f:
        json.dump({"device_id": "1", "interval_s": 60}, f)
    t = _term(Plat(), {"device_id": "1", "sensors": {"bme280": False, "sht4x": False}})
    sys.modules.pop("mobiot_fw.config", None)  # as on a board after boot
    if hasattr(mobiot_fw, "config"):
        delattr(mobiot_fw, "config")
    t.command(encode_command("interval", "15"))
    assert t.out.frames()[0][1]["ok"] is True
    assert "mobiot_fw.config" not in sys.modules and not hasattr(mobiot_fw, "config")
    t.command(encode_command("config", '{"device_id": "1", "interval_s": 30}'))
    assert [p["ok"] for _, p in t.out.frames() if p.get("cmd") == "config"] == [True]
    assert "mobiot_fw.config" not in sys.modules and not hasattr(mobiot_fw, "config")
    # the module the test imported still reads the file the commands wrote
    cfg, errs = config.load(MNT + "/config.json")
    assert cfg["interval_s"] == 30 and errs == []


def test_full_queue_drops_oldest_and_says_so():
    _fresh()
    t = _term(Plat(FakeI2C({0x76: FakeBme280()})), {"device_id": "1", "queue": {"max_records": 16},
                                                    "sensors": {"sht4x": False}})
    for _ in range(40):
        _run(t.sample())
    fr = t.out.frames()
    drops = [p["values"] for _, p in fr if p["values"].get("event") == "queue_drop"]
    # One event at the first drop (then at most one a minute), every drop counted.
    assert len(drops) == 1 and drops[0]["total"] >= 1, drops
    assert t.q.drops >= 40 - 16
    assert t.q.depth <= 16
    drops, depth = t.q.drops, t.q.depth
    t.status()
    st = [p["values"] for _, p in t.out.frames() if p["kind"] == "status"][-1]
    assert st["qdrops"] == drops and st["qdepth"] == depth


def test_config_errors_fall_back_per_key():
    cfg, errs = config.validate({"interval_s": "fast", "link": {"window": 8}, "bogus": 1,
                                 "sensors": {"bme280": {"addr": 500}, "nope": {}}})
    assert cfg["interval_s"] == 60 and cfg["link"]["window"] == 8
    assert len(errs) == 4, errs
    assert all(e.startswith("config.json: ") for e in errs)
    assert any("interval_s" in e for e in errs) and any("bogus" in e for e in errs)


def test_a_flash_that_refuses_writes_does_not_stop_the_terminal():
    _fresh()
    t = _term(Plat(FakeI2C({0x76: FakeBme280()})), {"device_id": "1", "sensors": {"sht4x": False}})

    def refuse(*a):
        raise OSError(28)  # ENOSPC (not in the unix port's errno module)

    t.q.append = refuse
    t.q.ack_ranges = refuse
    _run(t.sample())
    fr = t.out.frames()
    assert [p["kind"] for _, p in fr][:1] == ["reading"]  # still sent, live
    assert t.t.outbox.store_errors >= 1
    assert [p for _, p in fr if p["kind"] == "status"][0]["values"]["qerr"] >= 1
    t.command(encode_command("ack", "1"))
    r = t.out.frames()
    assert r[0][1]["cmd"] == "ack" and r[0][1]["ok"] is False and "28" in r[0][1]["err"]


def test_an_exception_in_any_task_ends_the_terminal_for_the_crash_guard():
    # main.py's guard sees what a task raised: run() must not go on without the task
    from mobiot_fw import app

    _fresh()
    t = _term(Plat(FakeI2C({0x76: FakeBme280()})), {"device_id": "1", "sensors": {"sht4x": False}})

    async def broken(wait=True):
        raise MemoryError("no heap for the cycle")

    t.t.cycle.once = broken
    try:
        _run(app.run(t.t))
        raise AssertionError("run() went on")
    except MemoryError as e:
        assert "no heap" in str(e)
    assert t.out.frames()[0][0] == "H"  # the link came up first


def test_once_per_boot_code_is_not_held_after_set_up():
    # docs/memory.md: the wiring (build.py), the queue's recovery, the manifest reader and the
    # sensor slot builder run once per boot and are dropped; the parts themselves stay.
    import sys

    _fresh()
    i2c = FakeI2C({0x76: FakeBme280(temp=21.5, hum=40.0, press=100000.0), 0x44: FakeSht4x(temp=22.0, hum=45.0)})
    for m in ("mobiot_fw.build", "mobiot_fw.store.recover", "mobiot_fw.manifest", "mobiot_fw.sensor_slots"):
        sys.modules.pop(m, None)
    t = _term(Plat(i2c))
    _run(t.sample())
    held = [m for m in sys.modules if m.startswith("mobiot_fw.")]
    for m in ("mobiot_fw.build", "mobiot_fw.store.recover", "mobiot_fw.manifest", "mobiot_fw.sensor_slots",
              "mobiot_fw.crash_report"):
        assert m not in held, (m, held)
    for m in ("mobiot_fw.store.flashq", "mobiot_fw.sensors", "mobiot_fw.drivers.bme280", "mobiot_fw.drivers.sht4x"):
        assert m in held, (m, held)
    # the slots were built all the same, and the queue opened
    assert [s.name for s in t.t.sensors.slots] == ["bme280", "sht4x"]
    assert t.q.next_seq() > 1


def test_main_reads_the_wiring_from_flash_once_per_boot():
    # app.main() imports build.py and Terminal() inside build.boot() takes it out of
    # sys.modules: one load. A once() in main() as well had the Terminal's once() find it gone
    # and load it from flash a second time during set-up (9a9bb72). Counted through the import
    # hook every import statement and once() go through: the distinct module objects.
    import builtins
    import os
    import sys

    import mobiot_fw.app as app
    import mobiot_fw.config  # noqa: F401  - main() drops it; imported before the chdir below
    import mobiot_fw.crash  # noqa: F401
    import mobiot_fw.hw as hw

    _fresh()
    i2c = FakeI2C({0x76: FakeBme280(temp=21.5, hum=40.0, press=100000.0), 0x44: FakeSht4x(temp=22.0, hum=45.0)})

    class BootPlat(Plat):
        def __init__(self, board):
            super().__init__(i2c)

        def reset_cause(self):
            return "power_on"

    class BootTerminal(Terminal):
        def __init__(self, plat, cfg, board, wdt=None):
            super().__init__(plat, cfg, board, out=Out(), qroot=MNT + "/q", cfg_path=MNT + "/config.json", wdt=wdt)

    builds = []
    started = []
    real_import = builtins.__import__

    def counting(name, *a):
        m = real_import(name, *a)
        for mod in (m, getattr(m, "build", None)):
            if getattr(mod, "__name__", "") == "mobiot_fw.build" and not any(b is mod for b in builds):
                builds.append(mod)
        return m

    async def run(t):
        started.append(("mobiot_fw.build" in sys.modules, [s.name for s in t.sensors.slots]))

    sys.modules.pop("mobiot_fw.build", None)
    here = os.getcwd()
    os.chdir(MNT)
    with open("config.json", "w") as f:
        f.write('{"device_id": "356938035643809", "wdt_ms": 0}')
    with open("board.json", "w") as f:
        f.write(json.dumps(BOARD))
    real = hw.Platform, app.Terminal, app.run
    hw.Platform, app.Terminal, app.run = BootPlat, BootTerminal, run
    builtins.__import__ = counting
    try:
        app.main()
    finally:
        builtins.__import__ = real_import
        hw.Platform, app.Terminal, app.run = real
        os.chdir(here)
    assert started == [(False, ["bme280", "sht4x"])], started  # booted, wiring dropped
    assert len(builds) == 1, builds
