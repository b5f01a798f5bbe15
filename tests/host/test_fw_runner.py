"""The firmware-test plugin (tests/conftest.py): MicroPython tests run under the unix port,
never CPython, and a failure fails pytest with the MicroPython traceback."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]

FAILING = """\
import sys


def helper_that_breaks(x):
    return x["missing"]


def test_passes_only_on_micropython():
    assert sys.implementation.name == "micropython"


def test_fails_with_a_traceback():
    helper_that_breaks({})
"""


def test_a_failing_micropython_test_fails_pytest_with_its_traceback(tmp_path):
    (tmp_path / "tests" / "firmware").mkdir(parents=True)
    shutil.copy(TESTS / "conftest.py", tmp_path / "tests" / "conftest.py")
    shutil.copy(TESTS / "firmware" / "run.py", tmp_path / "tests" / "firmware" / "run.py")
    (tmp_path / "tests" / "firmware" / "test_sample.py").write_text(FAILING)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "1 failed, 1 passed" in out, out
    # the MicroPython traceback, with the file and the function that raised
    assert "MicroPython traceback" in out and "helper_that_breaks" in out and "KeyError" in out, out
