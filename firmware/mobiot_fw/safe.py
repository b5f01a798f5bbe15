# Safe mode (docs/protocol.md, "Crash guard and safe mode"): after crash.py's streak of early
# crashes main.py runs this instead of the app. No sensors, no modem, no report cycle: the
# link (H frame on !hello, queued records, acks) and the REPL stay up, so a host can read the
# `crash` and `safe_mode` events and provisioning can repair the board. `!safe off` (or a
# provisioning run, which removes crash.cnt) ends it: the board resets into the app.
import time

import asyncio
from micropython import const

from mobiot_fw import crash

_REPORT_EVERY_MS = const(3600000)  # safe_mode again every hour while nobody repairs the board
_OFF_DELAY_MS = const(500)  # the reply goes out before the reset


def main():
    # Safe mode must fit where the app did not (a heap too small for it): the config schema is
    # loaded for the call and dropped, board.json (large, with notes) is not read at all.
    from mobiot_fw import VERSION as FW_VERSION
    from mobiot_fw import once

    cfg, _ = once("mobiot_fw.config").load("config.json")
    import gc

    gc.collect()
    from mobiot_fw.clock import Clock
    from mobiot_fw.hw import Platform
    from mobiot_fw.link.commands import Commands
    from mobiot_fw.link.session import Session, stdin_reader
    from mobiot_fw.store.flashq import Queue
    from mobiot_fw.store.outbox import Outbox

    plat = Platform({})
    qc = cfg["queue"]
    ob = Outbox(Queue("/q", max_records=qc["max_records"], max_bytes=qc["max_bytes"]),
                cfg.get("device_id") or plat.unique_id(), Clock())
    off = []
    cmds = Commands(ob.q, cfg, safe_off=lambda: off.append(1))
    fwid = once("mobiot_fw.manifest").fwid()
    s = Session(ob, cfg["link"], (ob.device, FW_VERSION, cfg.get("board", "?"), fwid), cmds.handle)
    reset = plat.reset_cause()
    ob.event("boot", ("reset", reset), ("fw", FW_VERSION), ("fwid", fwid))
    crash.report(ob.event, reset)

    async def run():
        s.hello()
        asyncio.create_task(s.reader(stdin_reader()))
        asyncio.create_task(s.sender())
        t = None
        while not off:
            now = time.ticks_ms()
            if t is None or time.ticks_diff(now, t) >= _REPORT_EVERY_MS:
                t = now
                ob.event("safe_mode", ("crashes", crash.counts()[0]))
            await asyncio.sleep_ms(100)
        crash.clear()
        await asyncio.sleep_ms(_OFF_DELAY_MS)
        plat.reset()

    print("mobiot: safe mode after %d crashes; `!safe off` or provisioning ends it" % crash.counts()[0])
    asyncio.run(run())
