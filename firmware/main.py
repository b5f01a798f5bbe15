# main.py: the crash guard around the terminal's application (docs/protocol.md, "Crash guard
# and safe mode"). The guard's code (mobiot_fw/crash.py) is loaded to ask whether this boot is
# in safe mode and dropped; after an exception it is loaded again, once what the app built is
# freed (every firmware module, and the tasks asyncio still holds), so a MemoryError while the
# app imports or runs is still logged, counted and followed by a reset. The freeing is here, not
# in a module: it must run when there may be no heap left to load one. Ctrl-C leaves the board
# at the REPL.
import time

_T0 = time.ticks_ms()  # boot.py is short: the uptime clock's zero for the early-crash rule
try:
    from mobiot_fw import once

    if once("mobiot_fw.crash").safe():
        import mobiot_fw.safe as _app
    else:
        import mobiot_fw.app as _app
    _app.main()
except (KeyboardInterrupt, SystemExit):
    raise
except BaseException as _e:  # noqa: BLE001 - MemoryError too: whatever stops the app
    _app = once = None
    import sys

    for _k in list(sys.modules):
        if _k == "mobiot_fw" or _k.startswith("mobiot_fw."):
            del sys.modules[_k]
    if "asyncio" in sys.modules:
        sys.modules["asyncio"].new_event_loop()  # the failed run's tasks and all they hold
    import gc

    gc.collect()
    import mobiot_fw.crash as _crash

    _crash.died(_e, time.ticks_diff(time.ticks_ms(), _T0))
