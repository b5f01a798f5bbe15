"""The firmware type check knows the ESP32 API: a call that does not exist there fails lint."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "lint_fixtures" / "bad_esp32_api.py"


def _pyright(*args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("pyright")
    assert (ROOT / "typings" / "machine.pyi").exists(), "ESP32 stubs missing: run `make setup`"
    return subprocess.run([str(exe), *args], capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_pyright_flags_every_esp32_api_misuse_and_nothing_else():
    proc = _pyright("-p", "firmware/pyrightconfig.json", str(FIXTURE))
    assert proc.returncode != 0
    flagged = {int(m.group(1)) for m in re.finditer(r"bad_esp32_api\.py:(\d+):\d+ - error", proc.stdout)}
    lines = FIXTURE.read_text().splitlines()
    bad = {i + 1 for i, line in enumerate(lines) if "# BAD" in line}
    assert len(bad) == 4
    assert flagged == bad, proc.stdout
