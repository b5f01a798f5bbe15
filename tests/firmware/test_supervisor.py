# The supervisor (firmware/mobiot_fw/supervisor.py): the watchdog is fed only while every task
# that checked in did so within its allowance; status records; a healthy minute ends a crash
# streak. Times are given to tick(now) by the test: nothing here waits.
import os
import time

from mobiot_fw import config
from mobiot_fw.clock import Clock
from mobiot_fw.supervisor import Supervisor


class Wdt:
    def __init__(self):
        self.fed = 0

    def feed(self):
        self.fed += 1


class Q:
    depth, drops = 3, 1


class Outbox:
    def __init__(self):
        self.clock = Clock()
        self.q = Q()
        self.store_errors = 2
        self.got = []

    def emit(self, kind, values):
        self.got.append((kind, dict(values)))
        return len(self.got)


def _sup(raw=None):
    cfg, errs = config.validate(raw or {"interval_s": 60})
    assert errs == [], errs
    w = Wdt()
    return Supervisor(cfg, Outbox(), w, "9.9"), w


def test_a_stale_task_stops_the_feeding():
    s, w = _sup()
    t0 = time.ticks_ms()
    assert s.tick(t0) and w.fed == 1  # nobody checked in yet: nothing is overdue
    s.beats["link"] = t0
    s.beats["sampler"] = t0
    assert s.tick(time.ticks_add(t0, 9000)) and w.fed == 2
    # the link task is allowed 10 s: at 10.001 s without a check-in the feeding stops
    assert not s.tick(time.ticks_add(t0, 10001)) and w.fed == 2
    assert not s.tick(time.ticks_add(t0, 60000)) and w.fed == 2
    # it checks in again: fed again
    s.beats["link"] = time.ticks_add(t0, 60000)
    assert s.tick(time.ticks_add(t0, 60500)) and w.fed == 3


def test_allowances_follow_the_config():
    s, w = _sup({"interval_s": 300, "modem": {"attach_timeout_s": 120}})
    t0 = time.ticks_ms()
    s.beats["sampler"] = t0
    s.beats["modem"] = t0
    assert s.tick(time.ticks_add(t0, (300 + 60) * 1000))  # interval + 60 s for the sampler
    assert not s.tick(time.ticks_add(t0, (300 + 60) * 1000 + 1))
    s.beats["sampler"] = time.ticks_add(t0, 700000)
    assert s.tick(time.ticks_add(t0, 720000))  # modem: interval + attach timeout + 300 s
    assert not s.tick(time.ticks_add(t0, 720001))
    s2, _ = _sup({"interval_s": 10})
    s2.beats["sampler"] = t0
    assert not s2.tick(time.ticks_add(t0, 70001))  # a shorter interval, a shorter allowance


def test_beater_checks_in_by_name():
    s, _ = _sup()
    b = s.beater("modem")
    b()
    assert "modem" in s.beats and time.ticks_diff(time.ticks_ms(), s.beats["modem"]) < 60000


def test_status_record_carries_health():
    s, _ = _sup()
    s.status()
    kind, v = s.out.got[-1]
    assert kind == "status"
    assert v["qdepth"] == 3 and v["qdrops"] == 1 and v["qerr"] == 2 and v["fw"] == "9.9"
    assert 0 < v["heap_min"] <= v["heap"] or v["heap_min"] <= v["heap"], v


def test_a_healthy_minute_ends_the_crash_streak():
    d = "/tmp/mobiot-test-sup"
    try:
        os.mkdir(d)
    except OSError:
        pass
    os.chdir(d)
    from mobiot_fw import crash

    with open(crash.CNT, "w") as f:
        f.write("2 2\n")
    s, _ = _sup()
    s.tick()
    assert crash.counts() == (2, 2)  # uptime < 60 s: not yet
    s.out.clock.boot_ms = time.ticks_add(time.ticks_ms(), -61000)
    s.beats["link"] = time.ticks_add(time.ticks_ms(), -20000)  # overdue: not healthy
    s.tick()
    assert crash.counts() == (2, 2)
    s.beats["link"] = time.ticks_ms()
    s.tick()
    assert crash.counts() == (0, 2)


def test_a_status_arms_an_early_collection_at_a_quarter_of_the_free_heap():
    import gc

    s, _ = _sup()
    old = gc.threshold()
    try:
        gc.threshold(-1)
        s.status()
        t = gc.threshold()
        gc.collect()
        free = gc.mem_free()
        # a quarter of the free heap the status saw (the test's own allocations since move it a little)
        assert 0 < t and abs(t - free // 4) < free // 16, (t, free)
    finally:
        gc.threshold(old)
