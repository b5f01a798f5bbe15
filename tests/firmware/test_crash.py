# The crash guard's flash state (firmware/mobiot_fw/crash.py): log, streak, safe mode, report.
# Runs in a fresh folder on the unix port's file system; machine.reset is a fake that records.
import os
import sys

_DIR = "/tmp/mobiot-test-crash"


class _Reset(Exception):
    pass


class _Machine:
    resets = 0

    @staticmethod
    def reset():
        _Machine.resets += 1
        raise _Reset()


def _fresh():
    try:
        os.mkdir(_DIR)
    except OSError:
        pass
    os.chdir(_DIR)
    for n in os.listdir():
        os.remove(n)
    sys.modules["machine"] = _Machine
    from mobiot_fw import crash

    return crash


_BOOM_LINE = 40  # the raise below


def _boom():
    raise ValueError("boom in a driver")


def _crash(crash, up_ms=0):
    try:
        _boom()
    except ValueError as e:
        try:
            crash.died(e, up_ms, 0)
        except _Reset:
            return
    raise AssertionError("no reset")


def test_a_crash_is_logged_counted_and_resets():
    crash = _fresh()
    r0 = _Machine.resets
    assert crash.counts() == (0, 0) and not crash.safe()
    _crash(crash)
    assert _Machine.resets == r0 + 1
    assert crash.counts() == (1, 1)
    with open(crash.LOG) as f:
        log = f.read()
    assert log.startswith("#crash up_ms=") and "ValueError: boom in a driver" in log and "_boom" in log, log


def test_three_early_crashes_mean_safe_mode_and_clear_ends_it():
    crash = _fresh()
    for i in range(3):
        assert not crash.safe(), i
        _crash(crash)
    assert crash.safe() and crash.counts() == (3, 3)
    crash.clear()
    assert not crash.safe() and crash.counts() == (0, 3)  # unreported crashes are kept


def test_a_late_crash_breaks_the_streak():
    crash = _fresh()
    _crash(crash)
    _crash(crash)
    _crash(crash, 61000)  # this boot had run a minute
    assert crash.counts() == (0, 3) and not crash.safe()


def test_report_sends_exception_frames_and_reset_cause_once():
    crash = _fresh()
    _crash(crash)
    _crash(crash)
    got = []
    crash.report(lambda name, *pairs: got.append((name, dict(pairs))), "hard")
    assert len(got) == 1 and got[0][0] == "crash", got
    v = got[0][1]
    assert v["exc"] == "ValueError: boom in a driver", v
    # innermost last: ... < <file>:<line of the raise in _boom> _boom
    last = v["frames"].split(" < ")[-1]
    f, _, rest = last.partition(":")
    line, _, fn = rest.partition(" ")
    assert f.endswith("test_crash.py") and fn == "_boom" and int(line) == _BOOM_LINE, v
    assert v["reset"] == "hard" and v["crashes"] == 2 and v["up_s"] >= 0, v
    crash.report(lambda *a: got.append(a), "hard")
    assert len(got) == 1  # reported once
    assert crash.counts() == (2, 0)


def test_the_log_stays_bounded():
    crash = _fresh()
    for _ in range(40):
        _crash(crash)
        crash.survived()
    size = os.stat(crash.LOG)[6] + os.stat(crash.OLD)[6]
    assert size < 3 * 2048, size
    got = []
    crash.report(lambda name, *pairs: got.append(dict(pairs)), "hard")
    assert got[0]["crashes"] == 40 and got[0]["exc"].startswith("ValueError"), got


def test_memory_error_at_import_is_handled():
    # what main.py does when the app cannot even be imported: the guard itself still works
    crash = _fresh()
    try:
        try:
            b = []
            while True:
                b.append(bytearray(65536))
        except MemoryError as e:
            del b
            crash.died(e, 0, 0)
    except _Reset:
        pass
    assert crash.counts() == (1, 1)
    got = []
    crash.report(lambda name, *pairs: got.append(dict(pairs)), "hard")
    assert got[0]["exc"].startswith("MemoryError"), got


def test_main_frees_the_failed_app_before_the_guard_loads():
    # firmware/main.py itself: an app whose task holds a large buffer dies; main.py drops the
    # firmware modules and asyncio's leftover tasks, then loads crash.py to log and reset
    import gc

    import asyncio
    import mobiot_fw

    _fresh()
    held = []

    class _App:
        @staticmethod
        def main():
            async def holder(b):
                await asyncio.sleep(100)

            async def boom():
                asyncio.create_task(holder(bytearray(200000)))
                await asyncio.sleep(0)
                raise ValueError("boom in the app")

            asyncio.run(boom())

    sys.modules["mobiot_fw.app"] = _App
    mobiot_fw.app = _App
    here = __file__.rpartition("/")[0] or "."
    with open(here + "/../../firmware/main.py") as f:
        src = f.read()
    gc.collect()
    before = gc.mem_free()
    try:
        exec(compile(src, "main.py", "exec"), {"__name__": "__main__"})
        raise AssertionError("no reset")
    except _Reset:
        pass
    gc.collect()
    held.append(gc.mem_free() - before)
    assert held[0] > -100000, held  # the task and its 200 KB buffer went before the log
    assert "mobiot_fw.app" not in sys.modules
    from mobiot_fw import crash

    assert crash.counts() == (1, 1)
    with open(crash.LOG) as f:
        assert "ValueError: boom in the app" in f.read()
