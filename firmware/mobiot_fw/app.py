# The terminal: its parts, connected, and their tasks. The wiring that builds the parts from the
# board definition and the config is build.py, run once per boot and dropped. Each part owns
# its state and its failure policy:
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
# The Terminal's attributes are set by build.parts(), which pyright does not follow.
# pyright: reportAttributeAccessIssue=false
import asyncio
from micropython import const

# The parts' modules, imported with the app, before the config and the queue exist (build.py
# builds the parts from them): the heap fragments less than with build.py loaded first.
import mobiot_fw.clock  # noqa: F401
import mobiot_fw.cycle  # noqa: F401
import mobiot_fw.sensors  # noqa: F401
import mobiot_fw.store.flashq  # noqa: F401
import mobiot_fw.store.outbox  # noqa: F401
import mobiot_fw.supervisor  # noqa: F401
from mobiot_fw import once
from mobiot_fw.link.session import stdin_reader

_REPL_WDT_MS = const(3600000)


class Terminal:
    """The parts of a terminal, connected (by build.py, loaded for it and dropped)."""

    def __init__(self, plat, cfg, board, out=None, qroot="/q", cfg_path="config.json", wdt=None, at_clock=None):
        once("mobiot_fw.build").parts(self, plat, cfg, board, out, qroot, cfg_path, wdt, at_clock)

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


def main():
    st = {}
    try:
        # Imported, not once(): Terminal() inside boot() takes it out of sys.modules (once), so
        # it is read from flash once and is garbage when boot() returns and `build` is cleared.
        from mobiot_fw import build

        t = build.boot(Terminal, st)
        build = None
        asyncio.run(run(t))
    except KeyboardInterrupt:
        # Ctrl-C: a person or a host tool (mpremote, `mobiot provision`) takes the REPL. It may
        # come at any point once the watchdog runs: while the parts are built, in the first
        # cycle of a sleeping board, or in the loop. The ESP32 watchdog cannot be stopped, only
        # given a new timeout (ports/esp32/machine_wdt.c): an hour for the session, after which
        # a board left at the REPL resets and goes back to work. (By the config, not by `wdt`:
        # a Ctrl-C inside plat.watchdog() may come after the chip's watchdog started.)
        cfg = st.get("cfg")
        if cfg is not None and cfg["wdt_ms"]:
            st["plat"].watchdog(_REPL_WDT_MS)
        raise
