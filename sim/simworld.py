# The simulated world around a virtual board: which fake device answers on which bus.
# Loaded by vboot.py before the board's flash is mounted; read by the simulated `machine`
# and `onewire` modules. Simulation only: never deployed to a real board.
#
# STATE_DIR/sim.json, written by `mobiot vboard`:
#   {"index": 0, "device_id": "356938035643809", "scenario": {...}, "board": {...}}
# where "board" is the board definition (boards/sim.json) that says which bus and pins carry
# which device, exactly as the firmware reads it from its own flash.
import json
import sys
import time

info = {}
board = {}
scenario = {}
reset_cause = 1
state_dir = ""
_devices = {}  # ("i2c", id) / ("uart", id) / ("adc", pin) / ("ow", pin) -> fake
_started_ms = 0
clock = None  # ticks_ms for the modem simulator (bench/fw_boards.py: virtual time); None: real
_wdt = None  # STATE_DIR/wdt, opened while the host filesystem is mounted (machine.WDT)
WDT_FILE = "wdt"  # host/mobiot/vboard.py reads it: "<timeout ms>", mtime = the last feed


def setup(sdir, cause):
    global info, board, scenario, reset_cause, state_dir, _started_ms
    state_dir = sdir
    reset_cause = cause
    _started_ms = time.ticks_ms()
    try:
        with open(sdir + "/sim.json") as f:
            info = json.load(f)
    except OSError:
        info = {}
    board = info.get("board") or {}
    scenario = info.get("scenario") or {}
    global _wdt
    _wdt = open(sdir + "/" + WDT_FILE, "wb")  # empty until the firmware starts its watchdog


def wdt_write(timeout_ms):
    """A watchdog feed: the host's file gets the timeout, its mtime is now (unbuffered: one
    write(2) of a fixed length at offset 0)."""
    if _wdt is not None:
        _wdt.seek(0)
        _wdt.write(b"%10d\n" % timeout_ms)


def preload():
    # The host filesystem is unmounted once the board's flash is mounted at "/", so every
    # simulation module must be imported now.
    names = ["sim_sensors", "modem_sim"]
    if info.get("sockets"):
        names.append("sim_sockets")  # the modem's TCP/TLS commands (vboard --uplink)
    if _cfg("modem").get("pmu"):
        names.append("fake_axp2101")
    for name in names:
        try:
            __import__(name)
        except ImportError as e:
            print("vboard: no", name, e)
    ms = sys.modules.get("modem_sim")
    if ms is not None:
        # The simulator's AT log is for in-process tests, which read it; nothing reads it on a
        # virtual board, where its 256 rotating lines (and their socket payloads) pepper the
        # board's one heap with long-lived strings: 96 KB free and no 2 KB block left.
        ms._LOG_MAX = 8


def seed():
    return info.get("index", 0) * 7919 + 17


def device(kind, key):
    """The fake on bus `kind` at `key` (bus id or pin), built on first use; None if the
    simulated board has nothing there (the driver then sees a NACK / timeout)."""
    k = (kind, key)
    if k in _devices:
        return _devices[k]
    dev = _build(kind, key)
    _devices[k] = dev
    return dev


def _cfg(name):
    return board.get(name) or {}


def _build(kind, key):
    try:
        import sim_sensors
    except ImportError:
        sim_sensors = None
    if kind == "i2c" and key == _cfg("i2c").get("id", 0) and sim_sensors:
        bus = sim_sensors.make_i2c(seed(), scenario)
        pc = _cfg("modem").get("pmu")
        if pc:  # the board's PMU sits on the same bus (LilyGO T-SIM7080G-S3: AXP2101 at 0x34)
            from fake_axp2101 import FakeAxp2101

            bus.devices[pc.get("addr", 0x34)] = FakeAxp2101()
        return bus
    if kind == "ow" and key == _cfg("onewire").get("pin") and sim_sensors:
        return sim_sensors.make_onewire(seed(), scenario)
    if kind == "adc" and key == _cfg("battery").get("pin") and sim_sensors:
        return sim_sensors.make_adc(seed(), scenario)
    if kind == "uart" and key == _cfg("gnss").get("uart") and sim_sensors:
        return sim_sensors.make_gnss_uart(seed(), scenario)
    if kind == "pin" and key == _cfg("modem").get("pwrkey"):
        device("uart", _cfg("modem").get("uart"))
        sim = _devices.get(("modem", _cfg("modem").get("uart")))
        return sim.pwrkey.value if sim is not None else None
    if kind == "uart" and key == _cfg("modem").get("uart"):
        try:
            import modem_sim
        except ImportError:
            return None
        mcfg = dict(scenario.get("modem") or {})
        mcfg.setdefault("model", _cfg("modem").get("model", "SIM7080G"))
        mcfg.setdefault("imei", info.get("device_id"))
        sim = modem_sim.ModemSim(mcfg.get("model"), {"modem": mcfg}, seed(), clock=clock)
        _devices[("modem", key)] = sim
        return sim.uart()
    return None
