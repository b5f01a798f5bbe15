# The terminal's time for records (docs/records.md: "t" and "clock"): UTC once a source gave
# it (a GNSS receiver, or the network's time through the modem), seconds of uptime until then.
# Timeouts elsewhere use ticks_ms; this is only what a record says about when it was made.
import time


class Clock:
    def __init__(self):
        self.boot_ms = time.ticks_ms()
        self.utc = None  # (epoch s, ticks_ms) of the last time fix
        self.sources = []  # GNSS receivers: utc_epoch() and utc_ticks_ms, first with a fix wins

    def uptime_s(self):
        return time.ticks_diff(time.ticks_ms(), self.boot_ms) // 1000

    def set_utc(self, epoch_s, at_ms=None):
        """A time fix from a source without its own ticks (network time); True if it is the
        first one (a GNSS fix, once there, is kept)."""
        if self.utc is not None:
            return False
        self.utc = (epoch_s, time.ticks_ms() if at_ms is None else at_ms)
        return True

    def now(self):
        """(t, "utc") or (uptime s, "uptime")."""
        now = time.ticks_ms()
        for g in self.sources:
            e = g.utc_epoch()
            if e is not None:
                self.utc = (e, g.utc_ticks_ms)
                break
        if self.utc is not None:
            return self.utc[0] + time.ticks_diff(now, self.utc[1]) // 1000, "utc"
        return time.ticks_diff(now, self.boot_ms) // 1000, "uptime"
