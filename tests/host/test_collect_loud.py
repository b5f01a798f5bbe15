"""`mobiot collect` fails loudly and shares its ports politely (issue: a collector a bench
engineer can trust at a glance). Fake boards on pseudo-terminals (test_collect.FakeBoard); the
collector runs as a subprocess with its own control-channel directory."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from test_collect import T0, FakeBoard, frame

from mobiot import control
from vbhelp import BIN, ROOT


@pytest.fixture
def rundir(monkeypatch):
    # Short (a Unix socket path is at most 108 bytes) and private to this test.
    d = tempfile.mkdtemp(prefix="mbt")
    monkeypatch.setenv(control.RUNTIME_ENV, d)
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


def collect(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "mobiot", "collect", "--no-dashboard", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=os.environ.copy())


def start(*args: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "mobiot", "collect", "--no-dashboard", "--json", *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


def wait_for(cond, timeout: float = 60, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached within {timeout} s")


def port_state(port: str) -> str | None:
    for c in control.collectors():
        for p in c["ports"]:
            if control.same_port(p["port"], port):
                return p["state"]
    return None


def test_missing_port_exits_non_zero_naming_it_with_backoff_and_no_database(tmp_path, rundir):
    db = tmp_path / "c.sqlite"
    missing = tmp_path / "does-not-exist"
    r = collect("--port", str(missing), "--db", str(db), "--duration", "10")
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[-1].startswith("mobiot: error: no port could be opened")
    assert str(missing) in lines[-1] and "no such device" in lines[-1]
    tries = [ln for ln in lines if ln.startswith(f"collect: cannot open {missing}: no such device")]
    assert len(tries) >= 2, r.stderr
    every = [float(m) for m in re.findall(r"retrying every ([0-9.]+) s", "\n".join(tries))]
    assert every == sorted(every) and every[-1] > every[0], every  # backoff, not a flood
    assert r.stdout == ""  # no summary of nothing
    assert not db.exists()


def test_no_port_and_nothing_detected_names_the_usb_ids(tmp_path, rundir):
    from mobiot.collect import find_boards

    if find_boards():
        pytest.skip("a real board is attached")
    db = tmp_path / "c.sqlite"
    r = collect("--db", str(db), "--duration", "1")
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("mobiot: error: no board found") and "10C4:EA60 (CP210x)" in last and "--port" in last
    assert "303A:1001" in last and not db.exists()


def test_port_that_opens_but_sends_nothing_is_an_error(tmp_path, rundir):
    m, s = os.openpty()
    try:
        db = tmp_path / "c.sqlite"
        r = collect("--port", os.ttyname(s), "--db", str(db), "--duration", "1.5")
    finally:
        os.close(m)
        os.close(s)
    assert r.returncode == 1
    assert "nothing arrived from any board" in r.stderr.strip().splitlines()[-1]
    assert not db.exists()


def test_permission_refused_names_the_group(tmp_path):
    import grp

    dev = tmp_path / "ttyUSB9"
    dev.write_text("")
    group = next((g for g in ("dialout", "uucp") if _has_group(g)), None)
    if group is not None:
        os.chown(dev, -1, grp.getgrnam(group).gr_gid)
    exc = OSError(errno.EACCES, f"could not open port {dev}: [Errno 13] Permission denied: '{dev}'")
    msg = control.describe_open_error(str(dev), exc)
    assert msg.startswith("permission denied")
    assert (group or "dialout") in msg and "usermod -aG" in msg


def _has_group(name: str) -> bool:
    import grp

    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def test_mpremote_and_a_second_collector_fail_fast_on_a_held_port(tmp_path, rundir):
    board = FakeBoard(tmp_path / "ttyUSB0", "dev-a", 50, tmp_path / "c.sqlite")
    board.plug()
    proc = start("--port", str(board.link), "--db", str(tmp_path / "c.sqlite"))
    try:
        assert board.wait_acked(50, 60), proc.stderr
        r = subprocess.run([str(BIN / "mpremote"), "connect", str(board.link), "exec", "print(1)"],
                           capture_output=True, text=True, timeout=60)  # fmt: skip
        assert r.returncode != 0 and "in use" in (r.stdout + r.stderr), r
        r2 = collect("--port", str(board.link), "--db", str(tmp_path / "d.sqlite"), "--duration", "1.5")
        assert r2.returncode == 1
        assert f"port busy: mobiot collect (pid {proc.pid})" in r2.stderr, r2.stderr
        st = control.collectors()
        assert [c["pid"] for c in st] == [proc.pid] and st[0]["ports"][0]["device"] == "dev-a"
        # send_command goes through the collector that holds the device's port.
        reply = control.send_command("dev-a", "bye", timeout_s=20)
        assert reply == {"cmd": "bye", "ok": True}
        with pytest.raises(control.MobiotError, match="no running collector"):
            control.send_command("nosuch", "status", timeout_s=1)
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
        board.close()
    assert proc.returncode == 0, err
    assert json.loads(out)["inserted"] == 50
    assert not list(rundir.glob("*.sock"))  # the collector removed its socket


def _more_records(board: FakeBoard, n: int) -> None:
    """The board makes n more records (seqs after its last), as a running terminal does."""
    with board.lock:
        first = board.all_seqs[-1] + 1
        for seq in range(first, first + n):
            board.queue[seq] = frame("R", {"device": board.device, "boot": 2, "seq": seq, "t": T0 + seq,
                                           "clock": "utc", "kind": "reading", "values": {"temp": 20.5}})  # fmt: skip
            board.all_seqs.append(seq)


def test_lease_port_lets_go_of_just_that_port_and_takes_it_back(tmp_path, rundir):
    db = tmp_path / "c.sqlite"
    a = FakeBoard(tmp_path / "ttyA", "dev-a", 100, db, resend_s=0.3)
    b = FakeBoard(tmp_path / "ttyB", "dev-b", 100, db, resend_s=0.3)
    a.plug()
    b.plug()
    proc = start("--port", str(a.link), "--port", str(b.link), "--db", str(db))
    try:
        assert a.wait_acked(100, 120) and b.wait_acked(100, 120)
        with control.lease_port(str(a.link), who="test provision"):
            assert port_state(str(a.link)) == "lent to test provision"
            # Ours now, exclusively: the collector closed it.
            ser = control.open_serial(str(a.link), timeout=0.1)
            ser.close()
            # A second borrower is refused while the first has it.
            with pytest.raises(control.MobiotError, match="lent to test provision"):
                with control.lease_port(str(a.link), who="second tool"):
                    pass
            # Both boards go on making records; b's are collected meanwhile, a's wait on it.
            _more_records(a, 50)
            _more_records(b, 50)
            assert b.wait_acked(150, 120), "board b not collected while a is lent"
            assert len(set(a.acked)) == 100
        wait_for(lambda: port_state(str(a.link)) == "open", what="port a taken back")
        assert a.wait_acked(150, 120)
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
        a.close()
        b.close()
    assert proc.returncode == 0, err
    s = json.loads(out)
    assert s["inserted"] == 300 and all(d["missing_seqs"] == 0 for d in s["devices"].values())
    assert f"{a.link}: lent to test provision" in err and f"{a.link}: back from test provision" in err
    assert not a.violations and not b.violations


def test_a_lease_ends_when_the_borrower_dies(tmp_path, rundir):
    a = FakeBoard(tmp_path / "ttyA", "dev-a", 20, tmp_path / "c.sqlite")
    a.plug()
    proc = start("--port", str(a.link), "--db", str(tmp_path / "c.sqlite"))
    try:
        wait_for(lambda: port_state(str(a.link)) == "open", what="port open")
        code = (
            "import os, sys; from mobiot import control\n"
            f"with control.lease_port({str(a.link)!r}, who='doomed'):\n"
            "    print('leased', flush=True); os._exit(9)\n"
        )
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert r.stdout.strip() == "leased" and r.returncode == 9
        wait_for(lambda: port_state(str(a.link)) == "open", what="port taken back after the borrower died")
        assert a.wait_acked(20, 60)
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
        a.close()


def test_monitor_borrows_the_port_shows_frames_and_log_lines_and_gives_it_back(tmp_path, rundir):
    db = tmp_path / "c.sqlite"
    a = FakeBoard(tmp_path / "ttyA", "dev-a", 30, db)
    a.plug()
    proc = start("--port", str(a.link), "--db", str(db))
    try:
        assert a.wait_acked(30, 60)
        mon = subprocess.Popen([sys.executable, "-m", "mobiot", "monitor", str(a.link), "--duration", "60"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)  # fmt: skip
        try:
            assert mon.stderr is not None and mon.stdout is not None
            first = mon.stderr.readline()
            assert first.startswith(f"monitor: {a.link} (borrowed from mobiot collect pid {proc.pid})"), first
            assert port_state(str(a.link)).startswith("lent to mobiot monitor")
            a.reboot()  # boot noise, then an unheld hello
            seen = []
            while not any(ln.startswith("H dev-a") for ln in seen):
                line = mon.stdout.readline()
                assert line, seen
                seen.append(line.rstrip("\n"))
            assert "| ets Jun  8 2016 00:22:57" in seen
            assert "H dev-a board fake fw test boot 3 hold false" in seen
        finally:
            mon.terminate()
            mon.communicate(timeout=30)
        assert mon.returncode == 0
        wait_for(lambda: port_state(str(a.link)) == "open", what="port back with the collector")
        wait_for(lambda: a.attached, what="the collector holding the rebooted board again")
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
        a.close()
    assert proc.returncode == 0, err


def test_without_a_terminal_a_status_line_per_board_every_10_s(tmp_path, rundir):
    db = tmp_path / "c.sqlite"
    a = FakeBoard(tmp_path / "ttyA", "dev-a", 30, db)
    a.plug()
    try:
        r = collect("--port", str(a.link), "--db", str(db), "--duration", "14", "--json")
    finally:
        a.close()
    assert r.returncode == 0, r.stderr
    status = [ln for ln in r.stderr.splitlines() if ln.startswith("collect: dev-a fake fw test")]
    assert len(status) == 1, r.stderr
    assert f"on {a.link}" in status[0] and "rec/s" in status[0] and "events (10 min)" in status[0]
    assert json.loads(r.stdout)["inserted"] == 30  # data on stdout, progress on stderr
