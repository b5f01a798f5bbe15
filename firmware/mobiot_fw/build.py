# The terminal's wiring (app.py): builds the parts from the board definition (docs/boards.md)
# and the config (docs/config.md). Run once per boot and dropped (mobiot_fw.once,
# docs/memory.md): none of this code is in RAM while the terminal runs.
import sys

from micropython import const

from mobiot_fw import VERSION as FW_VERSION
from mobiot_fw import once
# The parts' modules: app.py imported them already (before the config and the queue exist).
from mobiot_fw.clock import Clock
from mobiot_fw.cycle import Cycle
from mobiot_fw.link.session import Session
from mobiot_fw.sensors import Sensors
from mobiot_fw.store.flashq import Queue
from mobiot_fw.store.outbox import Outbox
from mobiot_fw.supervisor import Supervisor

_EV_MAX = const(4)  # config errors reported per boot: a broken file must not flood the queue


def parts(t, plat, cfg, board, out, qroot, cfg_path, wdt, at_clock):
    """Terminal `t`'s parts, connected (app.Terminal)."""
    t.plat, t.cfg, t.board = plat, cfg, board
    qc = cfg["queue"]
    t.q = Queue(qroot, max_records=qc["max_records"], max_bytes=qc["max_bytes"])
    t.outbox = ob = Outbox(t.q, cfg.get("device_id") or plat.unique_id(), Clock())
    t.sup = sup = Supervisor(cfg, ob, wdt, FW_VERSION, plat)
    t.sensors = Sensors(plat, board, cfg, ob, ob.clock, t.pmu)
    t.modem = None
    if board.get("modem") and cfg["modem"]["enabled"]:
        from mobiot_fw.cell.lifecycle import ModemPart

        t.modem = ModemPart(plat, board, cfg, ob, t.sensors, t.pmu, sup.beater("modem"), at_clock)
    t.cfg_path = cfg_path
    t._commands = None
    # read once: the manifest's code is not kept for it (docs/memory.md)
    t.fwid = once("mobiot_fw.manifest").fwid()
    t.session = Session(ob, cfg["link"], (ob.device, FW_VERSION, board.get("name", cfg.get("board", "?")), t.fwid),
                        t.dispatch, out, sup.beater("link"))
    t.cycle = Cycle(cfg, t.sensors, sup, t.modem, t.session, sup.beater("sampler"))
    t._pmu = None
    t.uplink = None
    if cfg["uplink"]["enabled"]:
        # the cellular uplink (docs/uplink.md); part.py only builds it: not kept in RAM
        t.uplink = once("mobiot_fw.uplink.part").make(t, FW_VERSION)


def config():
    """The config (config.json) and its errors. The config module is needed again only to save
    a key (!interval): not kept in RAM."""
    import mobiot_fw
    from mobiot_fw import config

    cfg, errors = config.load("config.json")
    del sys.modules["mobiot_fw.config"]
    delattr(mobiot_fw, "config")
    return cfg, errors


def boot(terminal, st):
    """The terminal of this board, built and announced (boot events, the crash report, config
    errors), its sensors set up: what app.main() runs. `st` gets "cfg" and "plat" as soon as they
    exist, for main()'s Ctrl-C handling."""
    import json

    from mobiot_fw.hw import Platform

    try:
        with open("board.json") as f:
            board = json.load(f)
    except (OSError, ValueError) as e:
        print("mobiot: board.json unreadable (%s); no peripherals" % e)
        board = {}
    cfg, errors = config()
    st["cfg"] = cfg
    st["plat"] = plat = Platform(board)
    wdt = plat.watchdog(cfg["wdt_ms"]) if cfg["wdt_ms"] else None
    t = terminal(plat, cfg, board, wdt=wdt)
    reset = plat.reset_cause()
    ev = t.outbox.event
    ev("boot", ("reset", reset), ("fw", FW_VERSION), ("fwid", t.fwid))
    once("mobiot_fw.crash").report(ev, reset)
    for msg in errors[:_EV_MAX]:
        ev("config_fallback", ("reason", msg[:120]))
    t.sensors.setup()
    return t
