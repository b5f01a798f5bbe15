"""Virtual boards with scenarios, end to end: connectivity records carry the scenario's values,
and `mobiot collect` takes several boards at once into SQLite, exactly once, through a board's
kill -9 (power-on reset) mid-stream."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from test_link import Host
from vbhelp import ROOT, WAIT_S, VBoards

SCEN = ROOT / "docs" / "scenarios"


def _rows(db: Path) -> list[tuple]:
    """(device, seq, boot) of what a running collector has committed so far (read-only)."""
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=WAIT_S)
    except sqlite3.OperationalError:  # not created yet
        return []
    try:
        return con.execute("SELECT device, seq, boot FROM records ORDER BY device, seq").fetchall()
    except sqlite3.OperationalError:  # no table yet
        return []
    finally:
        con.close()


def _wait_rows(db: Path, proc: subprocess.Popen, what: str, cond) -> list[tuple]:
    deadline = time.monotonic() + WAIT_S
    while True:
        rows = _rows(db)
        if cond(rows):
            return rows
        assert proc.poll() is None, f"collector ended while waiting for {what}: {_log(db)}"
        assert time.monotonic() < deadline, f"{what}: not within {WAIT_S} s; rows {rows[-20:]}"
        time.sleep(0.2)


def _complete(seqs: list[int], n: int) -> bool:
    return len(seqs) >= n and seqs == list(range(1, len(seqs) + 1))


def _collector(db: Path, *ports: str, baud: int | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "mobiot", "collect", "--no-dashboard", "--json", "--db", str(db)]
    for p in ports:
        cmd += ["--port", p]
    if baud:
        cmd += ["--baud", str(baud)]
    # its log goes to a file: a pipe nobody reads while the test waits could fill and stall it
    log = open(db.with_suffix(".collect.log"), "ab")
    try:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, cwd=str(ROOT))
    finally:
        log.close()


def _log(db: Path) -> str:
    return db.with_suffix(".collect.log").read_text(errors="replace")[-2000:]


def _stop(proc: subprocess.Popen, db: Path) -> bytes:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 0, _log(db)
    return out


def test_connectivity_records_show_the_scenario(tmp_path):
    scen = json.loads((SCEN / "weak-nbiot-roaming.json").read_text())["modem"]
    with VBoards(tmp_path / "conn", 1, "--scenario", str(SCEN / "weak-nbiot-roaming.json")) as vb:
        host = Host(vb.boards[0][0])
        try:
            host.attach()
            host.send("interval", "2")

            def full(h):
                return any(p["kind"] == "connectivity" and p["values"].get("reg") == "roaming"
                           and "rsrp" in p["values"] for p in h.records.values())

            host.poll(WAIT_S, until=full)
        finally:
            host.send("bye")
            host.close()
    conn = [p["values"] for p in host.records.values()
            if p["kind"] == "connectivity" and p["values"].get("reg") == "roaming" and "rsrp" in p["values"]]
    assert conn, sorted((p["kind"], p["values"]) for p in host.records.values())
    v = conn[-1]
    assert v["model"] == "SIM7080G" and v["rat"] == "NB-IoT" and v["reg"] == "roaming"
    assert v["oper"] == scen["operator"]["long"] and v["mcc"] == scen["mcc"] and v["mnc"] == scen["mnc"]
    assert v["cell"] == scen["cell"] and v["tac"] == scen["tac"]
    jit = scen["signal"]["jitter"]
    assert abs(v["rsrp"] - scen["signal"]["rsrp"]) <= 3 * jit, v
    assert abs(v["sinr"] - scen["signal"]["sinr"]) <= 3 * jit, v
    # The registration change was reported as it happened.
    assert any(p["kind"] == "event" and p["values"]["event"] == "reg_change" and p["values"]["new"] == "roaming"
               for p in host.records.values())


def test_collect_two_boards_exactly_once_through_a_board_kill(tmp_path):
    db = tmp_path / "c.sqlite"
    with VBoards(tmp_path / "two", 2, "--scenario", str(SCEN / "strong-ltem.json"),
                 "--scenario", str(SCEN / "outages.json")) as vb:
        ports = [p for p, _ in vb.boards]
        killed = vb.boards[1][1]
        proc = _collector(db, *ports)
        try:
            # a power-on reset in the middle of the stream: once the board has delivered some
            _wait_rows(db, proc, "3 records of the board to kill", lambda rows: sum(r[0] == killed for r in rows) >= 3)
            vb.kill_board(1)
            # records come live and from the queue, in any order: stop when 1..n are all there
            _wait_rows(db, proc, "records 1..n (n >= 8) of each board and the killed one's next boot",
                       lambda rows: len({r[2] for r in rows if r[0] == killed}) >= 2
                       and all(_complete([r[1] for r in rows if r[0] == d], 8) for _, d in vb.boards))
        finally:
            out = _stop(proc, db)
    rows = _rows(db)
    by_dev: dict[str, list[int]] = {}
    boots: dict[str, set[int]] = {}
    for dev, seq, boot in rows:
        by_dev.setdefault(dev, []).append(seq)
        boots.setdefault(dev, set()).add(boot)
    assert set(by_dev) == {did for _, did in vb.boards}
    for dev, seqs in by_dev.items():
        assert len(seqs) == len(set(seqs)), "duplicates"
        assert seqs == list(range(1, len(seqs) + 1)), (dev, seqs)  # no gaps: nothing lost
        assert len(seqs) >= 8
    assert len(boots[vb.boards[1][1]]) >= 2, boots  # the killed board came back with a new boot
    summary = json.loads(out)
    assert isinstance(summary, dict) and Path(db).exists()


def test_real_board_paths_pmu_power_and_gnss_inside_the_modem(tmp_path):
    """boards/sim-s3.json has the LilyGO T-SIM7080G-S3 wiring: the modem's supply and the
    battery reading come from the AXP2101 PMU, and GNSS is read from the SIM7080G over AT,
    which must give up the LTE link while it takes a fix."""
    scen = ROOT / "tests" / "data" / "scenarios" / "sim-s3-gnss.json"
    with VBoards(tmp_path / "s3", 1, "--board", "sim-s3", "--scenario", str(scen)) as vb:
        port, did = vb.boards[0]
        cfg = tmp_path / "config.json"
        cfg.write_text(json.dumps({"device_id": did, "interval_s": 2, "modem": {"gnss_every": 3}}))
        from vbhelp import mpremote

        mpremote(port, "fs", "cp", str(cfg), ":config.json")
        mpremote(port, "reset")
        host = Host(port)
        try:
            def done(h):
                vals = [p["values"] for p in h.records.values()]
                return (any("lat" in v and "bat" in v for v in vals)
                        and any(v.get("reg") == "home" and "rsrp" in v for v in vals))

            host.poll(WAIT_S, ack=False, until=done)
        finally:
            host.close()
    readings = [p for p in host.records.values() if p["kind"] == "reading"]
    fixes = [p["values"] for p in readings if "lat" in p["values"]]
    assert fixes, [p["values"] for p in readings]
    v = fixes[-1]
    assert abs(v["lat"] - 52.52) < 1e-4 and abs(v["lon"] - 13.405) < 1e-4 and v["sats"] == 8 and v["fix"] >= 1
    assert abs(v["bat"] - 3.9) < 0.01  # the PMU's VBAT (fake AXP2101 at 3900 mV)
    conn = [p["values"] for p in host.records.values() if p["kind"] == "connectivity" and "rsrp" in p["values"]]
    assert conn and conn[-1]["model"] == "SIM7080G"
    # time came from GNSS (UTC, close to the host's clock), not uptime
    assert readings[-1]["clock"] == "utc" and abs(readings[-1]["t"] - time.time()) < 120


def test_collector_at_the_wrong_baud_stores_nothing_then_recovers(tmp_path):
    """Wrong-baud garbage from a real UART bridge (simulated by vboard) is never stored as
    data; at the right speed the same board's records arrive, none lost."""
    db = tmp_path / "baud.sqlite"
    with VBoards(tmp_path / "baud") as vb:
        port, did = vb.boards[0]
        base = [sys.executable, "-m", "mobiot", "collect", "--no-dashboard", "--json", "--db", str(db),
                "--port", port]
        # a fixed listening window is right here: it checks that nothing is taken as data
        wrong = subprocess.run(base + ["--baud", "9600", "--duration", "12"], cwd=ROOT, capture_output=True,
                               timeout=WAIT_S)
        # Nothing usable arrived: a loud one-line failure that suggests the baud, and no database.
        assert wrong.returncode == 1, wrong.stderr.decode()[-2000:]
        assert "wrong --baud 9600?" in wrong.stderr.decode().strip().splitlines()[-1]
        assert not db.exists()
        right = _collector(db, port)
        try:
            # records come live and from the queue, in any order: wait until 1..n are all there
            _wait_rows(db, right, "records 1..n (n >= 3) at the right speed",
                       lambda rows: _complete([r[1] for r in rows], 3))
        finally:
            _stop(right, db)
    seqs = [seq for dev, seq, _ in _rows(db) if dev == did]
    # everything the board made while the host listened at the wrong speed was kept on its
    # flash and delivered once the host could read it
    assert seqs and seqs == list(range(1, len(seqs) + 1)), seqs
