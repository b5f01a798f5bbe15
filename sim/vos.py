# The `os` module of a virtual board: the unix port's own, plus os.uname(), which the ESP32
# port has (extmod/modos.c, MICROPY_PY_OS_UNAME) and the unix port does not. vboot.py puts
# this module in sys.modules["os"], so `import os` and `from os import uname` on the board find
# it; `import uos` still gives the unix port's module as it is. Code that asks the board what
# it is (os.uname().machine names the chip) gets an ESP32's answer. Simulation only: never
# deployed.
from os import *  # noqa: F403  everything of the unix port's os, so dir() and import * match

import sys as _sys

import simworld as _simworld


class _Uname(tuple):
    # What the ESP32's os.uname() returns: an attrtuple, printed as (sysname='esp32', ...).
    _fields = ("sysname", "nodename", "release", "version", "machine")

    @property
    def sysname(self):
        return self[0]

    @property
    def nodename(self):
        return self[1]

    @property
    def release(self):
        return self[2]

    @property
    def version(self):
        return self[3]

    @property
    def machine(self):
        return self[4]

    def __repr__(self):
        return "(" + ", ".join("%s=%r" % (k, v) for k, v in zip(self._fields, self)) + ")"

    __str__ = __repr__  # print() of a tuple subclass takes the tuple's own print otherwise


# MICROPY_HW_BOARD_NAME of the MicroPython build each chip's boards run (ports/esp32/boards/
# ESP32_GENERIC*/mpconfigboard.h and their variants' .cmake), and MICROPY_HW_MCU_NAME.
_BOARD_NAME = {
    ("esp32", ""): "Generic ESP32 module",
    ("esp32", "SPIRAM"): "Generic ESP32 module with SPIRAM",
    ("esp32s3", ""): "Generic ESP32S3 module",
    ("esp32s3", "SPIRAM_OCT"): "Generic ESP32S3 module with Octal-SPIRAM",
}
_MCU_NAME = {"esp32": "ESP32", "esp32s3": "ESP32S3"}


def uname():
    """sysname and nodename are the ESP32 port's sys.platform, "esp32" on every chip;
    release and version are the interpreter's own (MICROPY_VERSION_STRING, and the
    "<git tag> on <build date>" of sys.version): a virtual board does not claim a release
    build it does not run. machine is "<board> with <MCU>", from the board definition."""
    board = _simworld.board
    chip = board.get("chip") or "esp32"
    variant = (board.get("micropython") or {}).get("variant") or ""
    mcu = _MCU_NAME.get(chip, chip.upper())
    name = _BOARD_NAME.get((chip, variant)) or _BOARD_NAME.get((chip, "")) or "Generic %s module" % mcu
    v = _sys.implementation.version
    release = "%d.%d.%d" % v[:3] + ("-" + v[3] if len(v) > 3 and v[3] else "")
    version = _sys.version.split("MicroPython ", 1)[-1]
    return _Uname(("esp32", "esp32", release, version, name + " with " + mcu))
