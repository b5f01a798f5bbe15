# app.main() and the watchdog at a Ctrl-C (firmware/mobiot_fw/app.py): once the hardware
# watchdog is armed, a KeyboardInterrupt anywhere (while the parts are built, in set-up, in the
# loop) gives it the REPL session's hour before it re-raises, so that a host tool's session
# (mpremote, `mobiot provision`) is not reset under it on a real ESP32. The watchdog is the
# platform's (a fake here, that records every timeout it is given); the parts are fakes that
# raise where a Ctrl-C could land.
import os

import mobiot_fw.app as app
import mobiot_fw.hw as hw

_DIR = "/tmp/mobiot-test-repl-wdt"
_REPL_MS = 3600000  # docs: an hour for the session (app._REPL_WDT_MS)


class Plat:
    log = []  # watchdog timeouts, in the order given
    boom = None  # the method name that raises KeyboardInterrupt

    def __init__(self, board):
        pass

    def watchdog(self, timeout_ms):
        Plat.log.append(timeout_ms)
        if Plat.boom == "watchdog" and len(Plat.log) == 1:
            raise KeyboardInterrupt  # the chip's watchdog runs already
        return object()

    def reset_cause(self):
        if Plat.boom == "reset_cause":
            raise KeyboardInterrupt
        return "power_on"

    def unique_id(self):
        return "a0b1c2d3e4f5"


class Parts:
    # what app.main() uses of a Terminal
    def __init__(self, plat, cfg, board, wdt=None):
        if Plat.boom == "terminal":
            raise KeyboardInterrupt
        self.fwid = ""
        self.outbox = self
        self.sensors = self

    def event(self, *_a):
        return 1

    def setup(self):
        if Plat.boom == "setup":
            raise KeyboardInterrupt
        if Plat.boom == "oops":
            raise ValueError("a driver bug")


def _main(boom, wdt_ms=30000):
    # main() reads its files from the current directory, and this run finds the firmware by a
    # relative path: what main() imports (and drops again) is imported before the chdir
    import mobiot_fw.config  # noqa: F401
    import mobiot_fw.crash  # noqa: F401

    here = os.getcwd()
    try:
        os.mkdir(_DIR)
    except OSError:
        pass
    os.chdir(_DIR)
    with open("config.json", "w") as f:
        f.write('{"device_id":"7","wdt_ms":%d}' % wdt_ms)
    with open("board.json", "w") as f:
        f.write('{"name":"t"}')
    Plat.log, Plat.boom = [], boom
    real = hw.Platform, app.Terminal
    hw.Platform, app.Terminal = Plat, Parts
    try:
        app.main()
    except KeyboardInterrupt:
        return "interrupted"
    except ValueError:
        return "error"
    finally:
        hw.Platform, app.Terminal = real
        os.chdir(here)
    return "returned"


def test_a_ctrl_c_anywhere_after_the_watchdog_is_armed_relaxes_it():
    for boom in ("watchdog", "terminal", "reset_cause", "setup"):
        assert _main(boom) == "interrupted", boom
        assert Plat.log == [30000, _REPL_MS], (boom, Plat.log)


def test_no_watchdog_no_relax_and_a_crash_is_not_a_repl_session():
    assert _main("terminal", wdt_ms=0) == "interrupted" and Plat.log == []
    # any other exception goes to the crash guard (main.py), with the watchdog as it was
    assert _main("oops") == "error" and Plat.log == [30000]
