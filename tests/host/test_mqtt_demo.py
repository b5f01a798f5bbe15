"""`make demo`'s cellular board (host/mobiot/demo_uplink.py): it reports only over its uplink to
the Mosquitto the demo starts, into the same database as the serial boards."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest
from test_collect_loud import rundir  # noqa: F401 - the fixture below

from mobiot import demo_uplink
from vbhelp import ROOT

# Each test's own control-channel directory: the collectors here never meet another's.
pytestmark = pytest.mark.usefixtures("rundir")


def test_demo_cellular_board_lands_in_the_same_database(tmp_path):
    why = demo_uplink.not_ready()
    if why is not None:
        pytest.skip(f"cellular board not available: {why}")
    out = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-m", "mobiot", "demo", "--duration", "60", "--no-dashboard",
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)
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
