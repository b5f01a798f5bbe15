# The crash guard's state on flash (docs/protocol.md, "Crash guard and safe mode"). Nothing
# holds this module: main.py loads it to ask safe(), and again, after it has freed the failed
# app, to call died(); the app loads it for report() and survived(). It
# imports only os, sys and time, so that it loads after a MemoryError too.
#   crash.cnt  "<streak> <unreported>": boots in a row that crashed within their first minute,
#              and crashes not yet reported by a `crash` event. Written as .new, then renamed.
#   crash.log  the crash tracebacks, appended; above _LOG_MAX bytes it becomes crash.old (the
#              one before is replaced), so the two files stay bounded.
# After _LOOP early crashes in a row the board boots into safe mode (mobiot_fw/safe.py) until
# `!safe off` or a provisioning run removes crash.cnt.
import os
import sys
import time

from micropython import const

LOG = "crash.log"
OLD = "crash.old"
CNT = "crash.cnt"
_LOG_MAX = const(2048)
_EARLY_MS = const(60000)  # a crash within the first minute of uptime counts towards the streak
_LOOP = const(3)
_RESET_DELAY_MS = const(3000)  # time to read the message, or to break in with Ctrl-C


def counts():
    """(streak, unreported)."""
    try:
        with open(CNT) as f:
            a = f.read().split()
        return int(a[0]), int(a[1])
    except (OSError, ValueError, IndexError):
        return 0, 0


def write_counts(streak, unreported):
    with open(CNT + ".new", "w") as f:
        f.write("%d %d\n" % (streak, unreported))
    os.rename(CNT + ".new", CNT)


def safe():
    """True when this boot must not start the app."""
    return counts()[0] >= _LOOP


def survived():
    """The app ran a healthy minute: the streak is over (unreported crashes stay)."""
    streak, unreported = counts()
    if streak:
        write_counts(0, unreported)


clear = survived  # !safe off


def died(e, up_ms, delay_ms=_RESET_DELAY_MS):
    """Log an exception that ended the app `up_ms` after boot, count it, reset the board after
    a short delay. The caller (main.py) has freed what the failed code built."""
    try:
        streak, unreported = counts()
        write_counts(streak + 1 if up_ms < _EARLY_MS else 0, unreported + 1)
        try:
            rotate = os.stat(LOG)[6] > _LOG_MAX
        except OSError:
            rotate = False
        if rotate:
            os.rename(LOG, OLD)
        with open(LOG, "a") as f:
            f.write("#crash up_ms=%d\n" % up_ms)
            sys.print_exception(e, f)
    except Exception as e2:  # a full or broken flash: the reset matters more than the log
        print("mobiot: crash log not written:", repr(e2))
    sys.print_exception(e)
    print("mobiot: crash: %r; reset in %d ms" % (e, delay_ms))
    time.sleep_ms(delay_ms)
    import machine

    machine.reset()


def report(event, reset):
    """Send the last crash as a `crash` event (docs/records.md) if one is unreported. The
    code that reads the log back is loaded only then, and dropped (crash_report.py)."""
    if counts()[1]:
        from mobiot_fw import once

        once("mobiot_fw.crash_report").report(event, reset)
