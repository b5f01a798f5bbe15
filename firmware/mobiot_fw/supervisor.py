# The supervisor: the hardware watchdog, the terminal's health (status records), deep sleep,
# and the end of a crash streak (crash.py). It feeds the watchdog only while every task has
# checked in within its allowance, so a wedged task (a driver stuck in a loop, a lost await)
# ends in a watchdog reset, and that reset is the only way it ends.
import gc
import time

import asyncio
from micropython import const

_TICK_MS = const(1000)
_LINK_ALLOW_MS = const(10000)
_SLEEP_POLL_MS = const(200)
_GC_EVERY_MIN = const(1024)  # a nearly full heap: not a collection per allocation
_HOST_GONE_MS = const(600000)  # a host that vanished without !bye stops holding the board awake


class Supervisor:
    def __init__(self, cfg, outbox, wdt=None, fw="", plat=None):
        self.cfg = cfg
        self.out = outbox
        self.wdt = wdt
        self.fw = fw
        self.plat = plat
        self.beats = {}  # task name -> ticks_ms of its last check-in
        itv = cfg["interval_s"]
        # task -> the longest it may go without checking in (ms)
        self.allow = {"link": _LINK_ALLOW_MS, "sampler": (itv + 60) * 1000,
                      "modem": (itv + cfg["modem"]["attach_timeout_s"] + 300) * 1000}
        self.feeds = 0
        self._streak_ended = False
        gc.collect()
        self.heap_min = gc.mem_free()  # lowest free heap seen after a collection

    def beat(self, name):
        self.beats[name] = time.ticks_ms()

    def beater(self, name):
        """A check-in function for one task (what the parts are given)."""
        return lambda: self.beat(name)

    def healthy(self, now=None):
        """True while no task that has checked in is overdue."""
        if now is None:
            now = time.ticks_ms()
        for name in self.beats:
            a = self.allow.get(name)
            if a is not None and time.ticks_diff(now, self.beats[name]) > a:
                return False
        return True

    def tick(self, now=None):
        """One supervision step: feed the watchdog if healthy. Returns whether it fed."""
        ok = self.healthy(now)
        if ok:
            if self.wdt is not None:
                self.wdt.feed()
            self.feeds += 1
            if not self._streak_ended and self.out.clock.uptime_s() >= 60:
                # a boot that ran a healthy minute ends a crash streak (crash.py)
                from mobiot_fw import once

                once("mobiot_fw.crash").survived()
                self._streak_ended = True
        return ok

    async def run(self):
        while True:
            self.tick()
            await asyncio.sleep_ms(_TICK_MS)

    def status(self):
        gc.collect()
        free = gc.mem_free()
        if free < self.heap_min:
            self.heap_min = free
        # collect again once a quarter of what is free now has been allocated, not only when an
        # allocation fails: "an early collection will prevent excessive memory fragmentation"
        # (MicroPython docs, library gc, gc.threshold). Re-armed with every status record, so it
        # follows the heap the running board has (bench/fw_uplink.py: at 128k the uplink bench
        # failed a 304-byte allocation after ~8,000 cycles without it)
        gc.threshold(max(free // 4, _GC_EVERY_MIN))
        o = self.out
        return o.emit("status", (
            ("heap", free), ("heap_min", self.heap_min), ("uptime", o.clock.uptime_s()),
            ("qdepth", o.q.depth), ("qdrops", o.q.drops), ("qerr", o.store_errors), ("fw", self.fw)))

    async def maybe_sleep(self, session):
        """Deep sleep between reports when configured: after the maintenance window, unless a
        host holds the board awake or records are still in flight to it."""
        cfg = self.cfg
        if not cfg["sleep"]["deep"]:
            return
        await asyncio.sleep_ms(cfg["maint_window_ms"])
        while session.hold or self.out.q.depth and session.inflight:
            await asyncio.sleep_ms(_SLEEP_POLL_MS)
            if session.hold and time.ticks_diff(time.ticks_ms(), session.host_ms) > _HOST_GONE_MS:
                session.detach()
        self.plat.deepsleep(cfg["interval_s"] * 1000)
