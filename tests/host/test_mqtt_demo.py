"""`make demo`'s cellular board (host/mobiot/demo_uplink.py): it reports only over its uplink to
the Mosquitto the demo starts, into the same database as the serial boards."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from test_collect_loud import rundir  # noqa: F401 - the fixture below

from mobiot import demo_uplink
from vbhelp import ROOT, WAIT_S

# Each test's own control-channel directory: the collectors here never meet another's.
pytestmark = pytest.mark.usefixtures("rundir")


def _demo_has_it(db, err_path) -> bool:
    """The cellular board's readings, connectivity and uplink_up event are in the database, and
    the collector has printed a status line for it and for a serial board."""
    if not db.exists():
        return False
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            got = {(t, k) for t, k in con.execute("SELECT DISTINCT transport, kind FROM records")}
            up = con.execute("SELECT COUNT(*) FROM records WHERE transport = 'mqtt' AND kind = 'event' "
                             "AND vals LIKE '%uplink_up%'").fetchone()[0]
            cells = [d for (d,) in con.execute("SELECT DISTINCT device FROM records WHERE transport = 'mqtt'")]
        finally:
            con.close()
    except sqlite3.Error:  # the collector is still making it
        return False
    if not ({("mqtt", k) for k in ("reading", "connectivity", "event")} <= got and up and ("serial", "reading") in got):
        return False
    status = [ln for ln in err_path.read_text().splitlines() if ln.startswith("collect: ")]
    return any(c in ln for c in cells for ln in status) and any(" on /dev/" in ln for ln in status)


def test_demo_cellular_board_lands_in_the_same_database(tmp_path):
    why = demo_uplink.not_ready()
    if why is not None:
        pytest.skip(f"cellular board not available: {why}")
    out = tmp_path / "demo"
    db = out / "collect.sqlite"
    err_path = tmp_path / "demo.err"
    # Runs until what the test looks for is there (never a fixed time: a loaded machine brings
    # the cellular board up later), then Ctrl-C, as test_demo does.
    with open(err_path, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "mobiot", "demo", "--duration", "3600", "--no-dashboard",
                                 "--out", str(out)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err, text=True,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + WAIT_S * 2
            while not _demo_has_it(db, err_path):
                assert proc.poll() is None, err_path.read_text()[-3000:]
                assert time.monotonic() < deadline, err_path.read_text()[-3000:]
                time.sleep(0.5)
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(WAIT_S)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    proc.stderr = err_path.read_text()
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "over its cellular uplink to mqtt://127.0.0.1:" in proc.stderr
    con = sqlite3.connect(out / "collect.sqlite")
    by_transport: dict[str, set[str]] = {}
    for dev, transport in con.execute("SELECT DISTINCT device, transport FROM records"):
        by_transport.setdefault(transport, set()).add(dev)
    assert len(by_transport.get("mqtt", ())) == 1, by_transport
    assert by_transport.get("serial") and not by_transport["mqtt"] & by_transport["serial"]
    (port,) = {p for (p,) in con.execute("SELECT DISTINCT port FROM records WHERE transport = 'mqtt'")}
    assert port.startswith("mqtt://127.0.0.1:")
    # readings, connectivity and the uplink's own event came over the uplink, not only a boot
    kinds = {k for (k,) in con.execute("SELECT DISTINCT kind FROM records WHERE transport = 'mqtt'")}
    assert {"reading", "connectivity", "event"} <= kinds, kinds
    (cell,) = by_transport["mqtt"]
    events = [v for (v,) in con.execute("SELECT vals FROM records WHERE device = ? AND kind = 'event'", (cell,))]
    assert any('"uplink_up"' in v for v in events), events
    # the collector's board lines (the dashboard's rows, logged without a terminal) name each
    # board's transport: the broker for the cellular board, a serial port for the others
    status = [ln for ln in proc.stderr.splitlines() if ln.startswith("collect: ")]
    assert any(cell in ln and f" on {port}" in ln for ln in status), status[-5:]
    serial_dev = next(iter(by_transport["serial"]))
    assert any(serial_dev in ln and " on /dev/" in ln for ln in status), status[-5:]
    # The demo stopped its broker: nothing listens on that port any more.
    import socket

    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", int(port.rsplit(":", 1)[1])), timeout=2):
        pass


def test_cellular_board_says_why_it_cannot_run(monkeypatch):
    monkeypatch.setattr(demo_uplink, "find_mosquitto", lambda: None)
    assert "make setup" in (demo_uplink.not_ready() or "")
    monkeypatch.setattr(demo_uplink, "find_mosquitto", lambda: "/usr/sbin/mosquitto")
    monkeypatch.setattr(demo_uplink, "VBOARD_UPLINK_OPTION", "--no-such-option")
    assert "no `mobiot vboard --no-such-option`" in (demo_uplink.not_ready() or "")
    assert demo_uplink.start_cellular_board(ROOT / "never-made") is None
    assert not (ROOT / "never-made").exists()
