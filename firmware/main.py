# main.py: the crash guard around the terminal's application (docs/protocol.md, "Crash guard
# and safe mode"). The guard's code (mobiot_fw/crash.py) is loaded to ask whether this boot is
# in safe mode and dropped; after an exception it is loaded again, once what the app built is
# freed (every firmware module, and the tasks asyncio still holds), so a MemoryError while the
# app imports or runs is still logged, counted and followed by a reset. The freeing is here, not
# in a module: it must run when there may be no heap left to load one. Ctrl-C leaves the board
# at the REPL.
import gc
import sys
import time

_T0 = time.ticks_ms()  # boot.py is short: the uptime clock's zero for the early-crash rule
# Every name the handler below binds exists before the app runs: a new global could need heap
# for the globals table, and after a MemoryError there is none until the app is freed.
_app = _crash = _e = _k = _c = None
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
    # Free what the failed app built without allocating: drop every firmware module (deleting
    # while iterating is safe for MicroPython's dict, whose table never shrinks) and the tasks
    # asyncio's queues still hold, collect, and only then make new queues and load the guard.
    _app = once = None
    for _k in sys.modules:
        if _k.startswith("mobiot_fw"):
            del sys.modules[_k]
    _k = None
    _c = sys.modules.get("asyncio.core")
    if _c is not None:
        _c._task_queue = _c._io_queue = _c.cur_task = None  # pyright: ignore[reportAttributeAccessIssue]
    gc.collect()
    if _c is not None:
        _c.new_event_loop()
        _c = None
    import mobiot_fw.crash as _crash

    _crash.died(_e, time.ticks_diff(time.ticks_ms(), _T0))
