"""The hardware-in-the-loop path itself: run the --port/--board tests against a virtual board's
port, as a user runs them against /dev/ttyUSB0, so that they cannot rot unnoticed."""

from __future__ import annotations

import subprocess
import sys

from vbhelp import ROOT, VBoards


def test_hardware_tests_pass_against_a_board_on_a_port(tmp_path):
    with VBoards(tmp_path / "hil") as vb:
        port, _ = vb.boards[0]
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
               "--port", port, "--board", "sim", "tests/host/test_hardware.py",
               "tests/host/test_link.py::test_records_stream_and_are_acked",
               "tests/host/test_vboard.py::test_eval_run_mkdir_rm"]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "4 passed" in out and "skipped" not in out, out[-2000:]
