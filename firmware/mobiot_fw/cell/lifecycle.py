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
import asyncio
from micropython import const

_POWER_RETRY_S = const(30)
_SIM_RETRY_S = const(60)
_PMU_RETRY_S = const(60)
_RAIL_OFF_MS = const(200)
_GNSS_FIX_S = const(90)
# After a denied or timed-out attach: the modem's NAS retries by itself (TS 24.301 §5.5.1.2.6,
# T3411 10 s); configuring it again at once would only keep the AT port busy.
_ATTACH_RETRY_S = const(10)


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

    # -- what the driver tells us ------------------------------------------------------------
    def _modem_event(self, name, detail):
        if name == "modem_recovered":
            self.out.event("modem_recovered", ("tries", self.modem.recoveries if self.modem else 0))
        else:
            self.out.event("modem_error", ("err", name), ("at", str(detail)[:80]))
        if name in ("modem_recovered", "recovery_failed") and self.mgnss is not None:
            self.mgnss.reset()  # power-cycled: the receiver starts cold

    def _on_reg(self, reg, values):
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

    # -- set-up ------------------------------------------------------------------------------
    async def _power_rails(self, gnss):
        pc = self.mc.get("pmu")
        while pc:
            # The modem's supply is a PMU rail (LilyGO T-SIM7080G-S3: AXP2101 DC3, GNSS antenna
            # on BLDO2; MinimalModemGPSExample.ino). After a cold boot LilyGO cycles the rail
            # off for 200 ms so the module starts from a clean power-on.
            try:
                pmu = self.pmu()
                if self.plat.reset_cause() == "power_on":
                    pmu.disable(pc["modem_rail"])
                    await asyncio.sleep_ms(_RAIL_OFF_MS)
                pmu.power_modem(pc, gnss=gnss)
                return
            except OSError as e:
                self.out.event("modem_error", ("err", "pmu"), ("at", str(e)[:40]))
                await asyncio.sleep(_PMU_RETRY_S)

    def _make(self, gnss):
        from .at import At
        from .modem import Modem

        mc, mcfg, plat = self.mc, self.cfg["modem"], self.plat
        at = At(plat.uart("modem"), clock=self.at_clock).start()
        if gnss:
            from .gnss import ModemGnss

            g = self.gcfg
            self.mgnss = ModemGnss(at, mc["model"], on_at=g.get("on_at"), read_at=g.get("at"),
                                   exclusive=g.get("exclusive"),
                                   stale_ms=(3 * self.cfg["interval_s"] + 300) * 1000)
            self.sensors.use_modem_gnss(self.mgnss)
        active = mc.get("pwrkey_active", 1)
        pk = plat.pin_out(mc["pwrkey"], 1 - active) if "pwrkey" in mc else None
        # DTR low keeps the modem awake; Modem.sleep() raises it between reports (docs/boards.md)
        dtr = plat.pin_out(mc["dtr"], 0) if "dtr" in mc else None
        if "ri" in mc:
            # RI pulses low when the modem has a URC or data for the host (SIM7080 Hardware
            # Design "RI behaviour"; BG95 Hardware Design "RI"): from a pin interrupt, so a
            # ThreadSafeFlag, the asyncio primitive that may be set there.
            self.ri = asyncio.ThreadSafeFlag()
            plat.pin_in(mc["ri"], self.ri.set)
        psm = mcfg["psm"]
        edrx = mcfg["edrx"]["cycle_s"]
        self.modem = Modem(at, mc["model"], pwrkey=pk, apn=mcfg["apn"],
                           psm=(psm["t3412_s"], psm["t3324_s"]) if psm["t3412_s"] else None,
                           edrx=edrx or None, on_event=self._modem_event, on_reg=self._on_reg,
                           pwrkey_active=active, dtr=dtr)
        return self.modem

    # -- the task ----------------------------------------------------------------------------
    async def run(self):
        gnss = self.gcfg.get("source") == "modem" and self.sensors.wants("gnss")
        await self._power_rails(gnss)
        m = self._make(gnss)
        mcfg = self.cfg["modem"]
        while True:
            self.beat()
            if not await m.power_on():
                await asyncio.sleep(_POWER_RETRY_S)
                continue
            if not await m.check_sim():
                await asyncio.sleep(_SIM_RETRY_S)
                continue
            if m.needs_attach or not m.registered():
                await m.nitz_on()
                if not await m.attach(mcfg["attach_timeout_s"]):
                    await asyncio.sleep(_ATTACH_RETRY_S)
                    continue
                await self._network_time(m)
            await self._report_loop(m)

    async def _network_time(self, m):
        """UTC from the network (NITZ through the modem's clock) until GNSS gives better."""
        e = await m.network_utc()
        if e is not None:
            clock = self.out.clock
            up = clock.uptime_s()
            if clock.set_utc(e):
                self.out.event("time_set", ("delta_s", e - up), ("source", "network"))

    async def _report_loop(self, m):
        every = self.cfg["modem"]["gnss_every"]
        while True:
            self.beat()
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
                    await m.set_radio(False)
                    await mg.acquire(_GNSS_FIX_S)
                    await m.set_radio(True)
                    return
            await m.sleep()
            await self._wait(self.cfg["interval_s"])
            await m.wake()

    async def _wait(self, s):
        # until the next report, or until the modem rings
        if self.ri is None:
            await asyncio.sleep(s)
            return
        try:
            await asyncio.wait_for(self.ri.wait(), s)
        except asyncio.TimeoutError:
            pass


def _nop():
    pass
