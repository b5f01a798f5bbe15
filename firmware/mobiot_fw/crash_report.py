# The `crash` event (docs/records.md) made from the crash guard's log on flash (crash.py):
# needed once, at the first boot after a crash, so crash.report() loads this module for that
# call and drops it again (mobiot_fw.once; docs/memory.md).
from mobiot_fw.crash import LOG, counts, write_counts


def report(event, reset):
    """Send the last crash as a `crash` event if one is unreported."""
    streak, unreported = counts()
    if not unreported:
        return
    try:
        with open(LOG) as f:
            txt = f.read()
    except OSError:
        txt = ""
    i = txt.rfind("#crash ")
    lines = txt[i:].split("\n") if i >= 0 else []
    up_ms = 0
    if lines:
        try:
            up_ms = int(lines[0].split("=")[1])
        except (IndexError, ValueError):
            pass
    frames = []
    exc = ""
    for ln in lines[1:]:
        ln = ln.strip()
        if ln.startswith("File "):
            # 'File "mobiot_fw/app.py", line 12, in main' -> 'mobiot_fw/app.py:12 main'
            p = ln.split('"')
            if len(p) == 3:
                w = p[2].replace(",", " ").split()  # ['line', '12', 'in', 'main']
                frames.append("%s:%s %s" % (p[1], w[1] if len(w) > 1 else "?", w[-1] if w else "?"))
        elif ln and not ln.startswith("Traceback"):
            exc = ln
    event("crash", ("exc", exc[:120]), ("frames", " < ".join(frames[-4:])[:240]), ("reset", reset),
          ("up_s", up_ms // 1000), ("crashes", unreported))
    write_counts(streak, 0)
