# main.py: the crash guard around the terminal's application (docs/protocol.md, "Crash guard
# and safe mode"). The guard's code (mobiot_fw/crash.py) is loaded to ask whether this boot is
# in safe mode and dropped; after an exception it is loaded again, once forget() has freed what
# the app built, so a MemoryError while the app imports or runs is still logged, counted and
# followed by a reset. Ctrl-C leaves the board at the REPL.
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
    import mobiot_fw

    mobiot_fw.forget()
    import mobiot_fw.crash as _crash

    _crash.died(_e, time.ticks_diff(time.ticks_ms(), _T0))
