"""One MicroPython version across the boards, the unix port, mpy-cross and the ESP32 stubs
(docs/boards.md, "One MicroPython version"): major.minor and the mpy version must agree."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from mobiot import boarddef

ROOT = Path(__file__).resolve().parents[2]

# py/persistentcode.h: MPY_VERSION 6, MPY_SUB_VERSION 3 for MicroPython 1.23 and later; the
# unix port reports sys.implementation._mpy = version | sub_version << 8 | arch << 10.
MPY_FOR_RELEASE = {(1, 29): (6, 3)}


def _major_minor(text: str) -> tuple[int, int]:
    m = re.search(r"(\d+)\.(\d+)", text)
    assert m, text
    return int(m.group(1)), int(m.group(2))


def board_versions() -> dict[str, tuple[int, int]]:
    out = {}
    for name in boarddef.names():
        b = boarddef.load(name)
        if not boarddef.is_virtual(b):
            out[name] = _major_minor(b["micropython"]["version"])
    return out


def unix_port(upy: str) -> tuple[tuple[int, int], tuple[int, int]]:
    code = "import sys; v = sys.implementation.version; print('%d.%d' % (v[0], v[1]), sys.implementation._mpy)"
    ver, mpy = subprocess.run([upy, "-c", code], capture_output=True, text=True, timeout=60,
                              check=True).stdout.split()
    return _major_minor(ver), (int(mpy) & 0xFF, (int(mpy) >> 8) & 3)


def mpy_cross() -> tuple[tuple[int, int], tuple[int, int]]:
    from mobiot.upy import mpy_cross as find

    text = subprocess.run([find(), "--version"], capture_output=True, text=True, timeout=60, check=True).stdout
    m = re.search(r"mpy v(\d+)\.(\d+)", text)
    assert m, text
    return _major_minor(text.split("MicroPython", 1)[1]), (int(m.group(1)), int(m.group(2)))


def stubs() -> tuple[int, int]:
    m = re.search(r"^ESP32_STUBS\s*:=\s*micropython-esp32-stubs==(\S+)", (ROOT / "Makefile").read_text(), re.M)
    assert m, "Makefile ESP32_STUBS"
    return _major_minor(m.group(1))


def test_one_micropython_version_everywhere(upy):
    boards = board_versions()
    assert boards, "no hardware board to compare"
    port_ver, port_mpy = unix_port(upy)
    cross_ver, cross_mpy = mpy_cross()
    versions = {("board " + n): v for n, v in boards.items()}
    versions.update({"unix port": port_ver, "mpy-cross": cross_ver, "esp32 stubs": stubs()})
    assert len(set(versions.values())) == 1, versions
    release = port_ver
    assert release in MPY_FOR_RELEASE, f"add the mpy version of {release} to MPY_FOR_RELEASE"
    assert port_mpy == cross_mpy == MPY_FOR_RELEASE[release], (port_mpy, cross_mpy)


def test_installed_stubs_are_the_makefile_pin():
    # typings/ is what pyright actually checks against (make setup); it must be the Makefile pin
    found = sorted((ROOT / "typings").glob("micropython_esp32_stubs-*.dist-info"))
    assert found, "typings/ has no micropython-esp32-stubs: run make setup"
    assert len(found) == 1, found
    assert _major_minor(found[0].name.split("-", 1)[1]) == stubs()

