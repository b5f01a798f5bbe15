"""Virtual boards and the real mpremote against a running collector: a port lent for
"provisioning" while the other boards stream, and a board left at the REPL shown as such and
woken by --wake. Waits are for conditions with long deadlines, never for a fixed time."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_collect_loud import rundir, wait_for  # noqa: F401 (rundir: the fixture)

from mobiot import control
from mobiot.codec import encode_command
from vbhelp import ROOT, VBoards, mpremote

pytestmark = pytest.mark.usefixtures("rundir")  # each test's own control-channel directory


def count(db: Path, device: str, after: float = 0.0) -> int:
    if not db.exists():
        return 0
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute("SELECT count(*) FROM records WHERE device = ? AND received_at > ?",
                           (device, after)).fetchone()[0]  # fmt: skip
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


def collector(db: Path, ports: list[str], *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "mobiot", "collect", "--no-dashboard", "--json", "--db", str(db), *extra]
    for p in ports:
        cmd += ["--port", p]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env=os.environ.copy())  # fmt: skip


def test_provisioning_one_board_of_three_while_the_collector_runs(tmp_path):
    db = tmp_path / "c.sqlite"
    with VBoards(tmp_path / "three", 3) as vb:
        ports = [p for p, _ in vb.boards]
        devs = [d for _, d in vb.boards]
        proc = collector(db, ports)
        try:
            wait_for(lambda: all(count(db, d) >= 2 for d in devs), 120, "records from all three boards")
            # The stand-in for `mobiot provision`: borrow the port, drive the board with the real
            # mpremote (which leaves it at the REPL, as on an ESP32), give the port back.
            with control.lease_port(ports[1], who="mobiot provision"):
                t_lent = time.time()
                before = [count(db, d) for d in devs]
                r = mpremote(ports[1], "exec", "import os; print('fs', len(os.listdir('/')))")
                assert "fs " in r.stdout
                wait_for(lambda: all(count(db, devs[i]) > before[i] for i in (0, 2)), 120,
                         "the other two boards streaming while one is lent")  # fmt: skip
                assert count(db, devs[1], t_lent + 0.5) == 0  # nothing from the lent board meanwhile
            t_back = time.time()
            # Back with the collector: woken from the REPL mpremote left, it reports again.
            wait_for(lambda: count(db, devs[1], t_back) >= 2, 120, "the provisioned board reporting again")
            # And a command reaches it through the collector (control.send_command).
            reply = control.send_command(devs[1], encode_command("status").decode().strip(), timeout_s=30)
            assert reply["kind"] == "status" and reply["device"] == devs[1]
        finally:
            proc.terminate()
            out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    s = json.loads(out)
    for d in devs:
        assert s["devices"][d]["missing_seqs"] == 0, (d, s["devices"][d], err[-3000:])
    assert f"{ports[1]}: lent to mobiot provision" in err and "soft reset sent" in err, err[-3000:]


def test_a_board_left_at_the_repl_is_shown_and_woken_by_wake(tmp_path):
    db = tmp_path / "c.sqlite"
    with VBoards(tmp_path / "repl", 1) as vb:
        port = vb.boards[0][0]
        mpremote(port, "exec", "print(1)")  # leaves the board at the friendly REPL
        plain = collector(db, [port])
        try:
            # Shown as a state (dashboard, status lines, control channel), and nothing is sent
            # to the board to change it.
            wait_for(lambda: any(p["state"] == "REPL (friendly prompt)" for c in control.collectors()
                                 for p in c["ports"]), 120, "the REPL state")  # fmt: skip
        finally:
            plain.terminate()
            _, err = plain.communicate(timeout=60)
        assert plain.returncode == 1, err
        assert "board at the MicroPython REPL (friendly prompt)" in err and "--wake" in err
        last = err.strip().splitlines()[-1]
        assert "is at the MicroPython REPL" in last and "run with --wake" in last, last
        assert "soft reset sent" not in err
        assert not db.exists()
        proc = collector(db, [port], "--wake")
        try:
            wait_for(lambda: count(db, vb.boards[0][1]) >= 2, 120, "records after --wake")
        finally:
            proc.terminate()
            out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "soft reset sent" in err and "runs its firmware again" in err, err[-2000:]
    assert json.loads(out)["inserted"] >= 2
