# The terminal's wiring: builds the parts from the board definition (docs/boards.md) and the
# config (docs/config.md) and starts their tasks. Each part owns its state and its failure
# policy:
#   store/outbox.py    records into the flash queue, then to every transport (docs/records.md)
#   link/session.py    the serial link: live records, resends, acks (docs/protocol.md)
#   link/commands.py   host commands, the same for every transport
#   sensors.py         sensor slots and their reading / error events
#   cell/lifecycle.py  the modem: power, attach, connectivity, GNSS in the modem
#   uplink/part.py     the cellular uplink: MQTT over the modem's sockets (docs/uplink.md)
#   supervisor.py      watchdog, status records, deep sleep
#   cycle.py           the report cycle
# main.py runs main() inside the crash guard (crash.py): an exception from any task ends
# asyncio.run() and goes there.
import sys

import asyncio
from micropython import const

from mobiot_fw import VERSION as FW_VERSION
from mobiot_fw import once
# Imported here, not in Terminal(): loaded before the config and the queue exist, the modules
# fragment the heap less (make bench: 4 KB less heap needed).
from mobiot_fw.clock import Clock
from mobiot_fw.cycle import Cycle
from mobiot_fw.link.session import Session, stdin_reader
from mobiot_fw.sensors import Sensors
from mobiot_fw.store.flashq import Queue
from mobiot_fw.store.outbox import Outbox
from mobiot_fw.supervisor import Supervisor

_REPL_WDT_MS = const(3600000)
_EV_MAX = const(4)  # config errors reported per boot: a broken file must not flood the queue


class Terminal:
    """The parts of a terminal, connected. Nothing here but construction."""

    def __init__(self, plat, cfg, board, out=None, qroot="/q", cfg_path="config.json", wdt=None, at_clock=None):
        self.plat, self.cfg, self.board = plat, cfg, board
        qc = cfg["queue"]
        self.q = Queue(qroot, max_records=qc["max_records"], max_bytes=qc["max_bytes"])
        self.outbox = ob = Outbox(self.q, cfg.get("device_id") or plat.unique_id(), Clock())
        self.sup = sup = Supervisor(cfg, ob, wdt, FW_VERSION, plat)
        self.sensors = Sensors(plat, board, cfg, ob, ob.clock, self.pmu)
        self.modem = None
        if board.get("modem") and cfg["modem"]["enabled"]:
            from mobiot_fw.cell.lifecycle import ModemPart

            self.modem = ModemPart(plat, board, cfg, ob, self.sensors, self.pmu, sup.beater("modem"), at_clock)
        self.cfg_path = cfg_path
        self._commands = None
        # read once: the manifest's code is not kept for it (docs/memory.md)
        self.fwid = once("mobiot_fw.manifest").fwid()
        self.session = Session(ob, cfg["link"],
                               (ob.device, FW_VERSION, board.get("name", cfg.get("board", "?")), self.fwid),
                               self.dispatch, out, sup.beater("link"))
        self.cycle = Cycle(cfg, self.sensors, sup, self.modem, self.session, sup.beater("sampler"))
        self._pmu = None
        self.uplink = None
        if cfg["uplink"]["enabled"]:
            # the cellular uplink (docs/uplink.md); part.py only builds it: not kept in RAM
            self.uplink = once("mobiot_fw.uplink.part").make(self, FW_VERSION)

    def dispatch(self, line, tr):
        """A host command line from any transport (serial now, the cellular uplink later),
        answered through that transport (link/commands.py: imported with the first command,
        so a board that no host talks to never holds it)."""
        c = self._commands
        if c is None:
            from mobiot_fw.link.commands import Commands

            c = self._commands = Commands(self.q, self.cfg, self.cfg_path, self.sup.status, self.cycle.wake,
                                          event=self.outbox.event)
        c.handle(line, tr)

    def pmu(self):
        """The board's power-management chip (modem.pmu in the board definition), made once:
        the battery slot and the modem's supply share it."""
        if self._pmu is None:
            from mobiot_fw.drivers.axp2101 import Axp2101

            pc = self.board["modem"]["pmu"]
            self._pmu = Axp2101(self.plat.i2c(), pc.get("addr", 0x34), pc.get("keep_on", ()))
        return self._pmu


async def _guarded(coro, failed, done):
    # A task that raises ends the terminal (run() re-raises it into the crash guard) instead
    # of dying alone while the others go on without it.
    try:
        await coro
    except Exception as e:  # noqa: BLE001 - MemoryError and driver bugs alike
        failed.append(e)
        done.set()


async def run(t):
    """Start every part's tasks; returns only by raising what a task raised."""
    failed = []
    done = asyncio.Event()

    def start(coro):
        asyncio.create_task(_guarded(coro, failed, done))

    s = t.session
    s.hello()
    start(s.reader(stdin_reader()))
    start(s.sender())
    start(t.sup.run())
    if t.sensors.gnss is not None:
        start(t.sensors.gnss.run())
    if t.modem is not None:
        start(t.modem.run())
    if t.uplink is not None:
        start(t.uplink.run())
    if t.cfg["sleep"]["deep"]:
        await t.cycle.once()
        await t.sup.maybe_sleep(s)
    start(t.cycle.run())
    await done.wait()
    raise failed[0]


def _config():
    # The config module is needed again only to save a key (!interval): not kept in RAM.
    import mobiot_fw
    from mobiot_fw import config

    cfg, errors = config.load("config.json")
    del sys.modules["mobiot_fw.config"]
    delattr(mobiot_fw, "config")
    return cfg, errors


def main():
    import json

    from mobiot_fw.hw import Platform

    try:
        with open("board.json") as f:
            board = json.load(f)
    except (OSError, ValueError) as e:
        print("mobiot: board.json unreadable (%s); no peripherals" % e)
        board = {}
    cfg, errors = _config()
    plat = Platform(board)
    try:
        wdt = plat.watchdog(cfg["wdt_ms"]) if cfg["wdt_ms"] else None
        t = Terminal(plat, cfg, board, wdt=wdt)
        reset = plat.reset_cause()
        ev = t.outbox.event
        ev("boot", ("reset", reset), ("fw", FW_VERSION), ("fwid", t.fwid))
        once("mobiot_fw.crash").report(ev, reset)
        for msg in errors[:_EV_MAX]:
            ev("config_fallback", ("reason", msg[:120]))
        t.sensors.setup()
        asyncio.run(run(t))
    except KeyboardInterrupt:
        # Ctrl-C: a person or a host tool (mpremote, `mobiot provision`) takes the REPL. It may
        # come at any point once the watchdog runs: while the parts are built, in the first
        # cycle of a sleeping board, or in the loop. The ESP32 watchdog cannot be stopped, only
        # given a new timeout (ports/esp32/machine_wdt.c): an hour for the session, after which
        # a board left at the REPL resets and goes back to work. (By the config, not by `wdt`:
        # a Ctrl-C inside plat.watchdog() may come after the chip's watchdog started.)
        if cfg["wdt_ms"]:
            plat.watchdog(_REPL_WDT_MS)
        raise
