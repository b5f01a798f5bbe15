# The `crash` event (docs/records.md) made from the crash guard's log on flash (crash.py):
# needed once, at the first boot after a crash, so crash.report() loads this module for that
# call and drops it again (mobiot_fw.once; docs/memory.md).
from mobiot_fw.crash import LOG, counts, write_counts


def report(event, reset):
    """Send the last crash as a `crash` event if one is unreported. The log is read a line at
    a time: safe mode runs this in a heap that the whole 2 KB log and its split lines may not
    fit (a `crash` after a MemoryError at import, tests/host/test_crash_guard.py)."""
    streak, unreported = counts()
    if not unreported:
        return
    up_ms = 0
    frames = []
    exc = ""
    inside = False  # past the last "#crash " line seen so far
    try:
        with open(LOG) as f:
            for ln in f:
                ln = ln.strip()
                if ln.startswith("#crash "):
                    inside = True
                    up_ms = 0
                    del frames[:]
                    exc = ""
                    try:
                        up_ms = int(ln.split("=")[1])
                    except (IndexError, ValueError):
                        pass
                elif not inside:
                    continue
                elif ln.startswith("File "):
                    # 'File "mobiot_fw/app.py", line 12, in main' -> 'mobiot_fw/app.py:12 main'
                    p = ln.split('"')
                    if len(p) == 3:
                        w = p[2].replace(",", " ").split()  # ['line', '12', 'in', 'main']
                        frames.append("%s:%s %s" % (p[1], w[1] if len(w) > 1 else "?", w[-1] if w else "?"))
                        if len(frames) > 4:
                            frames.pop(0)
                elif ln and not ln.startswith("Traceback"):
                    exc = ln
    except OSError:
        pass
    event("crash", ("exc", exc[:120]), ("frames", " < ".join(frames)[:240]), ("reset", reset),
          ("up_s", up_ms // 1000), ("crashes", unreported))
    write_counts(streak, 0)
