# Small helpers shared by the MicroPython tests (tests/firmware/run.py puts this folder on
# sys.path).
import time


def raises(errno_value, fn, *args):
    """Call fn(*args) and check it raises OSError with this errno (as the ESP32 port would)."""
    try:
        fn(*args)
    except OSError as e:
        assert e.errno == errno_value, (e.errno, errno_value)
        return
    raise AssertionError("no OSError %d" % errno_value)


class Clock:
    """A ticks_ms() function the test moves by hand (fakes and simulators take a clock)."""

    def __init__(self, start=None):
        self.t = time.ticks_ms() if start is None else start

    def __call__(self):
        return self.t

    def advance(self, ms):
        while ms > 0:  # steps well inside the ticks half-period
            step = min(ms, 3600000)
            self.t = time.ticks_add(self.t, step)
            ms -= step


async def until(cond, timeout_ms=30000, what="condition"):
    """Wait (asyncio) until cond() is true; fail only after timeout_ms of real time, a deadline
    only a real failure reaches, never a slow machine."""
    import asyncio

    t0 = time.ticks_ms()
    while not cond():
        if time.ticks_diff(time.ticks_ms(), t0) > timeout_ms:
            raise AssertionError("timed out waiting for " + what)
        await asyncio.sleep_ms(1)


def virtual(fn):
    """Run the async test fn in virtual time (sim/modem_sim.py VirtualTime): its sleeps and
    timeouts pass in no real time, so their order never depends on the machine's speed."""

    def test():
        from modem_sim import VirtualTime

        return VirtualTime().run(fn())

    return test
