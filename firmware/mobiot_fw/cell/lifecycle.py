# The modem part of a terminal: power (PMU rails), the AT engine, the driver (cell/modem.py)
# and, where the GNSS is in the modem, its reader (cell/gnss.py); connectivity values and the
# modem's events into records (docs/records.md). Every AT command is the driver's: this file
# names none. The one hang policy is the driver's too (Modem: hang_limit AT timeouts in a row
# -> power-cycle, then needs_attach); here a recovery only resets the GNSS reader.
#
# States, one pass of run()'s loop each: power on -> SIM ready -> attach (NITZ on, then the
# network's time) -> report every interval_s while registered. A lost registration or a
# recovery goes back to attach; GNSS in a modem that cannot run it beside LTE (SIM7080G) turns
# the radio off for a fix every gnss_every reports, then attaches again.
#
# A data call (PPP over the AT UART, uplink/ppp.py) takes the UART with hold(): it returns once
# the loop is between two pieces of AT work, and from then on the loop sends nothing (the driver's
# held flag makes every command return None at once, uncounted by the hang policy) and only
# checks in with the supervisor, every second, until release(). The connectivity record of
# those cycles repeats the last values read (without CMUX the modem cannot be asked while PPP runs).
import asyncio
import time
from micropython import const

from mobiot_fw import once

_POWER_RETRY_S = const(30)
_SIM_RETRY_S = const(60)
_GNSS_FIX_S = const(90)
# After a denied or timed-out attach: the modem's NAS retries by itself (TS 24.301 §5.5.1.2.6,
# T3411 10 s); configuring it again at once would only keep the AT port busy.
_ATTACH_RETRY_S = const(10)
_HOLD_MS = const(60000)  # longest wait for the loop to finish a report (or an attach) for a hold


class ModemPart:
    def __init__(self, plat, board, cfg, outbox, sensors, pmu, beat=None, clock=None):
        self.plat = plat
        self.mc = board["modem"]
        self.gcfg = board.get("gnss", {})
        self.cfg = cfg
        self.out = outbox
        self.sensors = sensors
        self.pmu = pmu  # () -> the board's PMU, for boards whose modem supply is a PMU rail
        self.beat = beat or _nop
        self.at_clock = clock  # ticks_ms for the AT engine (tests: the virtual one)
        self.modem = None
        self.mgnss = None
        self.conn = {}  # latest connectivity values
        self.reports = 0
        self.ri = None  # set by the modem's RI line (URC or data waiting): wakes the report loop
        self.power_en = None  # the modem's supply switch (board file modem.power_en), held on
        self.busy = True  # the loop is doing AT work (False only between reports and while held)
        self.held = False  # a data call owns the UART (hold / release)
        self.pauses = 0  # seconds spent held (tests; docs/uplink.md)

    # -- what the driver tells us ------------------------------------------------------------
    def on_modem_event(self, name, detail):
        if name == "modem_recovered":
            self.out.event("modem_recovered", ("tries", self.modem.recoveries if self.modem else 0))
        else:
            self.out.event("modem_error", ("err", name), ("at", str(detail)[:80]))
        if name in ("modem_recovered", "recovery_failed") and self.mgnss is not None:
            self.mgnss.reset()  # power-cycled: the receiver starts cold

    def on_reg(self, reg, values):
        # A connectivity record on every registration change, with what the URC carried
        # merged over the last full report.
        conn = self.conn
        old = conn.get("reg")
        for k in values:
            conn[k] = values[k]
        conn["reg"] = reg
        if old != reg:
            self.out.event("reg_change", ("old", old or "unknown"), ("new", reg))
            self.out.emit("connectivity", conn)

    def record(self):
        """The cycle's connectivity record (none before the first report)."""
        if self.conn:
            self.out.emit("connectivity", self.conn)

    # -- a data call owns the UART (uplink/ppp.py) --------------------------------------------
    async def hold(self, timeout_ms=_HOLD_MS):
        """Stop this part's AT traffic for a data call: True once no command is in flight, none
        will be sent until release(), and the modem is awake (DTR low); False (and not held)
        when there is no driver yet or the loop stays busy for timeout_ms."""
        m = self.modem
        if m is None:
            return False
        self.held = True
        t0 = time.ticks_ms()
        while self.busy:
            if time.ticks_diff(time.ticks_ms(), t0) > timeout_ms:
                self.release()
                return False
            await asyncio.sleep_ms(50)
        m.held = True
        await m.wake()  # DTR low: DTR high would end the call (AT&D)
        return True

    def release(self):
        """The data call gave the UART back (the AT engine runs again): polls resume within 1 s."""
        self.held = self.modem.held = False

    async def _paused(self):
        # held: only check in with the supervisor (every second) until release()
        self.busy = False
        while self.held:
            self.beat()
            self.pauses += 1
            await asyncio.sleep_ms(1000)
        self.busy = True

    # -- the task ----------------------------------------------------------------------------
    async def run(self):
        gnss = self.gcfg.get("source") == "modem" and self.sensors.wants("gnss")
        # power rails, AT engine, driver, GNSS reader, DTR / RI pins: once per boot, so that
        # code is imported for it and dropped again (cell/bringup.py)
        bu = once("mobiot_fw.cell.bringup")
        await bu.power_rails(self, gnss)
        m, self.mgnss, self.ri = bu.make(self, gnss)
        self.modem = m
        del bu
        mcfg = self.cfg["modem"]
        while True:
            self.beat()
            if self.held:
                await self._paused()
                continue
            if not await m.power_on():
                await asyncio.sleep(_POWER_RETRY_S)
                continue
            if not await m.check_sim():
                await asyncio.sleep(_SIM_RETRY_S)
                continue
            if m.needs_attach or not m.registered():
                ctl = once("mobiot_fw.cell.ctl")
                await ctl.nitz_on(m)
                del ctl
                if not await m.attach(mcfg["attach_timeout_s"]):
                    await asyncio.sleep(_ATTACH_RETRY_S)
                    continue
                await self._network_time(m)
            await self._report_loop(m)

    async def _network_time(self, m):
        """UTC from the network (NITZ through the modem's clock) until GNSS gives better."""
        ctl = once("mobiot_fw.cell.ctl")
        e = await ctl.network_utc(m)
        del ctl
        if e is not None:
            clock = self.out.clock
            up = clock.uptime_s()
            if clock.set_utc(e):
                self.out.event("time_set", ("delta_s", e - up), ("source", "network"))

    async def _report_loop(self, m):
        every = self.cfg["modem"]["gnss_every"]
        while True:
            self.beat()
            if self.held:
                await self._paused()
                continue
            vals = await m.report()
            self.reports += 1
            old = self.conn.get("reg")
            self.conn = vals
            if vals.get("reg") != old and old is not None:
                self.out.event("reg_change", ("old", old), ("new", vals.get("reg", "unknown")))
            if m.needs_attach or not m.registered():
                return  # recovered from a hang, or the network is gone: attach again
            mg = self.mgnss
            if mg is not None:
                if not mg.exclusive:
                    await mg.update()
                elif every and self.reports % every == 0:
                    # SIM7080G: GNSS and LTE share the RF path (LilyGO T-SIM7080G README,
                    # Tips 1): radio off, take a fix, radio on, attach again.
                    ctl = once("mobiot_fw.cell.ctl")
                    await ctl.set_radio(m, False)
                    del ctl
                    await mg.acquire(_GNSS_FIX_S)
                    ctl = once("mobiot_fw.cell.ctl")
                    await ctl.set_radio(m, True)
                    del ctl
                    return
            await m.sleep()
            await self._wait(self.cfg["interval_s"])
            await m.wake()

    async def _wait(self, s):
        # until the next report, or until the modem rings; not busy meanwhile (a hold may start)
        self.busy = False
        try:
            if self.ri is None:
                await asyncio.sleep(s)
            else:
                await asyncio.wait_for(self.ri.wait(), s)
        except asyncio.TimeoutError:
            pass
        self.busy = True


def _nop():
    pass
