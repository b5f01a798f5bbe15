"""pytest for mobiot: host tests under CPython, firmware tests under the MicroPython unix port.

tests/firmware/test_*.py are MicroPython files. They are never imported by CPython: this
plugin collects each top-level `test_*` function as an item, runs the whole file once with
`micropython tests/firmware/run.py FILE`, and reports each function's PASS/FAIL with the
MicroPython traceback.

Hardware in the loop: `pytest --port /dev/ttyUSB0 --board NAME` runs the integration tests
marked `hardware` against a real board; without --port they run on a virtual board where they
can, and the ones that need real hardware are skipped.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "host"))
sys.path.insert(0, str(ROOT / "tests"))

FW_TESTS = ROOT / "tests" / "firmware"
RUNNER = FW_TESTS / "run.py"
_TEST_DEF = re.compile(r"^(?:async\s+)?def\s+(test_\w+)\s*\(", re.M)
FW_TIMEOUT_S = 600


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("mobiot")
    g.addoption("--port", default=None, help="serial port of a real board (hardware-in-the-loop)")
    g.addoption("--board", default=None, help="board definition name of the real board (boards/NAME.json)")
    g.addoption("--upy-heap", default="2M", help="heap of the unix port for firmware tests")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "hardware: needs a real board (--port/--board)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--port"):
        return
    skip = pytest.mark.skip(reason="needs a real board: pytest --port /dev/ttyUSB0 --board NAME")
    for item in items:
        if "hardware" in item.keywords:
            item.add_marker(skip)


def micropython_cmd() -> str:
    from mobiot.upy import micropython

    return micropython()


def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector):
    # Replaces pytest's Python module collector for firmware tests, so CPython never
    # imports them.
    if FW_TESTS in Path(module_path).parents and Path(module_path).name.startswith("test_"):
        return MicroPythonFile.from_parent(parent, path=Path(module_path))
    return None


class MicroPythonFile(pytest.File):
    _result: dict[str, tuple[bool, str]] | None = None
    _raw: str = ""

    def collect(self):
        names = _TEST_DEF.findall(self.path.read_text())
        seen = []
        for n in names:
            if n not in seen:
                seen.append(n)
                yield MicroPythonItem.from_parent(self, name=n)

    def results(self) -> dict[str, tuple[bool, str]]:
        if self._result is None:
            heap = self.config.getoption("--upy-heap")
            cmd = [micropython_cmd(), "-X", f"heapsize={heap}", str(RUNNER), str(self.path)]
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=FW_TIMEOUT_S,
                                      cwd=str(ROOT), errors="replace")
                out = proc.stdout + proc.stderr
            except subprocess.TimeoutExpired as exc:
                out = (exc.stdout or "") if isinstance(exc.stdout, str) else ""
                out += f"\n[timed out after {FW_TIMEOUT_S} s]"
            self._raw = out
            res: dict[str, tuple[bool, str]] = {}
            lines = out.splitlines()
            i = 0
            while i < len(lines):
                line = lines[i]
                if line.startswith("PASS "):
                    res[line[5:].strip()] = (True, "")
                elif line.startswith("FAIL "):
                    name = line[5:].strip()
                    tb = []
                    i += 1
                    while i < len(lines) and lines[i] != f"END {name}":
                        tb.append(lines[i])
                        i += 1
                    res[name] = (False, "\n".join(tb))
                i += 1
            self._result = res
        return self._result


class MicroPythonTestFailure(Exception):
    pass


class MicroPythonItem(pytest.Item):
    def runtest(self) -> None:
        parent = self.parent
        assert isinstance(parent, MicroPythonFile)
        res = parent.results()
        if self.name not in res:
            raise MicroPythonTestFailure(
                f"{self.name} did not run under MicroPython; interpreter output:\n{parent._raw[-4000:]}"
            )
        ok, tb = res[self.name]
        if not ok:
            raise MicroPythonTestFailure(tb)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, MicroPythonTestFailure):
            return f"MicroPython traceback ({self.path.name}::{self.name}):\n{excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, f"{self.path.name}::{self.name} [micropython]"


@pytest.fixture(scope="session")
def upy() -> str:
    return micropython_cmd()


@pytest.fixture(scope="session")
def hw_port(request: pytest.FixtureRequest) -> str | None:
    return request.config.getoption("--port")


@pytest.fixture(scope="session")
def hw_board(request: pytest.FixtureRequest) -> str | None:
    return request.config.getoption("--board")
