# main.py: the crash guard around the terminal's application (docs/protocol.md, "Crash guard
# and safe mode"). It imports only mobiot_fw.crash before the app, so a MemoryError while the
# app imports is still logged, counted and followed by a reset. Ctrl-C leaves the board at
# the REPL.
import mobiot_fw.crash as _crash

try:
    if _crash.safe():
        import mobiot_fw.safe as _app
    else:
        import mobiot_fw.app as _app
    _app.main()
except (KeyboardInterrupt, SystemExit):
    raise
except BaseException as _e:  # noqa: BLE001 - MemoryError too: whatever stops the app
    _crash.died(_e)
