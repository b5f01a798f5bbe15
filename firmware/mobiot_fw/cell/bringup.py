# Bringing the modem part up (cell/lifecycle.py ModemPart), once per boot: the PMU rails, the
# AT engine, the driver, the GNSS reader in the modem, the DTR and RI lines. ModemPart.run()
# imports this for the call and drops it again (mobiot_fw.once). Functions take the part as `p`.
import asyncio

from micropython import const

_PMU_RETRY_S = const(60)
_RAIL_OFF_MS = const(200)


async def power_rails(p, gnss):
    pc = p.mc.get("pmu")
    while pc:
        # The modem's supply is a PMU rail (LilyGO T-SIM7080G-S3: AXP2101 DC3, GNSS antenna
        # on BLDO2; MinimalModemGPSExample.ino). After a cold boot LilyGO cycles the rail
        # off for 200 ms so the module starts from a clean power-on.
        try:
            pmu = p.pmu()
            if p.plat.reset_cause() == "power_on":
                pmu.disable(pc["modem_rail"])
                await asyncio.sleep_ms(_RAIL_OFF_MS)
            pmu.power_modem(pc, gnss=gnss)
            return
        except OSError as e:
            p.out.event("modem_error", ("err", "pmu"), ("at", str(e)[:40]))
            await asyncio.sleep(_PMU_RETRY_S)


def make(p, gnss):
    """(Modem, ModemGnss or None, the RI flag or None) for the part p."""
    from mobiot_fw.cell.at import At
    from mobiot_fw.cell.modem import Modem

    mc, mcfg, plat = p.mc, p.cfg["modem"], p.plat
    at = At(plat.uart("modem"), clock=p.at_clock).start()
    mgnss = ri = None
    if gnss:
        from mobiot_fw.cell.gnss import ModemGnss

        g = p.gcfg
        mgnss = ModemGnss(at, mc["model"], on_at=g.get("on_at"), read_at=g.get("at"), exclusive=g.get("exclusive"),
                          stale_ms=(3 * p.cfg["interval_s"] + 300) * 1000)
        p.sensors.use_modem_gnss(mgnss)
    if "power_en" in mc:
        # The modem's supply switch (LilyGO T-A7670 utilities.h BOARD_POWERON_PIN: "must be
        # set to HIGH for the modem to supply power"): on before the first power-key press.
        p.power_en = plat.pin_out(mc["power_en"], 1)
    active = mc.get("pwrkey_active", 1)
    pk = plat.pin_out(mc["pwrkey"], 1 - active) if "pwrkey" in mc else None
    ra = mc.get("reset_active", 1)
    rst = plat.pin_out(mc["reset"], 1 - ra) if "reset" in mc else None
    # DTR low keeps the modem awake; Modem.sleep() raises it between reports (docs/boards.md)
    dtr = plat.pin_out(mc["dtr"], 0) if "dtr" in mc else None
    if "ri" in mc:
        # RI pulses low when the modem has a URC or data for the host (SIM7080 Hardware
        # Design "RI behaviour"; BG95 Hardware Design "RI"): from a pin interrupt, so a
        # ThreadSafeFlag, the asyncio primitive that may be set there.
        ri = asyncio.ThreadSafeFlag()
        plat.pin_in(mc["ri"], ri.set)
    psm = mcfg["psm"]
    edrx = mcfg["edrx"]["cycle_s"]
    modem = Modem(at, mc["model"], pwrkey=pk, apn=mcfg["apn"],
                  psm=(psm["t3412_s"], psm["t3324_s"]) if psm["t3412_s"] else None,
                  edrx=edrx or None, on_event=p.on_modem_event, on_reg=p.on_reg,
                  pwrkey_active=active, dtr=dtr, reset=rst, reset_active=ra)
    if rst is not None and "reset_ms" in mc:
        modem.reset_ms = mc["reset_ms"]
    return modem, mgnss, ri
