"""`make test-stress` (Makefile): runs the suite STRESS_RUNS times beside two CPU burners, fails if
any run failed, and stops the burners however the runs end. Checked here with a stand-in for
`make test` (STRESS_TEST), so that the check itself is quick."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _stress(tmp_path: Path, test_cmd: str, runs: int = 3) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    return subprocess.run(["make", "-s", "-C", str(ROOT), "test-stress", f"STRESS_RUNS={runs}",
                           f"STRESS_TEST={test_cmd}"], capture_output=True, text=True, timeout=300, env=env)


def _burners_gone(stderr: str) -> None:
    m = re.search(r"test-stress: CPU burners((?: \d+)+)", stderr)
    assert m, stderr
    pids = [int(x) for x in m.group(1).split()]
    assert len(pids) == 2
    for pid in pids:  # make waited for them: they are gone, not just signalled
        assert not Path(f"/proc/{pid}").exists() or "python" not in Path(f"/proc/{pid}/cmdline").read_text(), pid


def test_all_runs_pass(tmp_path):
    log = tmp_path / "runs"
    proc = _stress(tmp_path, f"echo run >> {log}")
    assert proc.returncode == 0, proc.stderr
    assert log.read_text().count("run") == 3
    assert "3 of 3 runs passed" in proc.stderr
    _burners_gone(proc.stderr)


def test_one_failed_run_fails_the_target_and_all_runs_still_happen(tmp_path):
    count = tmp_path / "n"
    # the second run fails
    cmd = f"sh -c 'echo x >> {count}; test $$(wc -l < {count}) -ne 2'"
    proc = _stress(tmp_path, cmd)
    assert proc.returncode != 0
    assert count.read_text().count("x") == 3
    assert "run 2 of 3 FAILED" in proc.stderr and "2 of 3 runs passed" in proc.stderr
    _burners_gone(proc.stderr)
