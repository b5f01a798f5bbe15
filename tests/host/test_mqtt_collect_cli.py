"""`mobiot collect --mqtt` (the CLI, a subprocess) against a real Mosquitto, with up messages
made by the firmware's own compact CBOR encoder (run under the MicroPython unix port by
tests/firmware/uplink_encode.py, through test_uplink_codec.encode), published with paho as the terminal does."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from mqtt_fixtures import Peer, acked_seqs, wait_for
from test_collect_loud import rundir  # noqa: F401 - the fixture below
from test_uplink_codec import DEV, encode  # the firmware's encoders under the unix port

ROOT = Path(__file__).resolve().parents[2]
T0 = 1764146800
SLOW = {"imei": DEV, "iccid": "89490200001234567890", "oper": "Telekom.de", "rat": "LTE-M", "cell": 27435972,
        "tac": 6166, "mcc": 262, "mnc": "01"}

# Each test's own control-channel directory: the collectors here never meet another's.
pytestmark = pytest.mark.usefixtures("rundir")


def records(first: int, n: int) -> list[dict]:
    out = []
    for seq in range(first, first + n):
        if seq % 2:
            vals = {"temp": round(21.5 + seq / 100, 2), "hum": 45.0, "bat": 3.91}
            kind = "reading"
        else:
            vals = {**SLOW, "rsrp": -95 - seq % 5, "rsrq": -10.5}
            kind = "connectivity"
        out.append({"device": DEV, "boot": 2, "seq": seq, "t": T0 + 30 * seq, "clock": "utc", "kind": kind,
                    "values": vals})
    return out


def collect(db: Path, url: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "mobiot", "collect", "--mqtt", url, "--db", str(db),
                             "--no-dashboard", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=str(ROOT))


def stop(proc: subprocess.Popen) -> dict:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    return json.loads(out)


def stored(db: Path) -> dict[int, dict]:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
            return {seq: json.loads(v) for seq, v in c.execute("SELECT seq, vals FROM records WHERE transport='mqtt'")}
    except sqlite3.OperationalError:  # not made yet: the collector creates it with its first record
        return {}


def test_collect_cli_ingests_compact_cbor_exactly_once(mqtt_broker, tmp_path, upy):
    db = tmp_path / "c.sqlite"
    recs = records(1, 30)
    # One connection: slow fields only in the first connectivity record of it; batches of 5.
    msgs = encode("compact", ["connect", recs[:20]], batch=5, upy=upy)
    resend = encode("compact", ["connect", recs[10:30]], batch=5, upy=upy)  # after a reconnect: 11..30
    assert len(msgs) == 4 and all(m[0] >= 0xA0 for m in msgs)

    term = Peer(mqtt_broker, f"mobiot-{DEV}", clean=False).connect(f"mobiot/{DEV}/down")
    proc = collect(db, mqtt_broker.url)
    try:
        # Its subscriptions (log_type subscribe): a new session gets only what follows them.
        wait_for(lambda: "mobiot/+/reply" in mqtt_broker.log_text(), what="collector subscribed")
        for m in msgs + resend:
            term.publish(f"mobiot/{DEV}/up", m)
        wait_for(lambda: len(stored(db)) == 30, what="30 records stored")
        wait_for(lambda: acked_seqs(term.received()) == set(range(1, 31)), what="acks of 1..30 on the down topic")
    finally:
        summary = stop(proc)
    got = stored(db)
    assert sorted(got) == list(range(1, 31))
    for r in recs:
        v = got[r["seq"]]
        assert set(v) == set(r["values"]), (r["seq"], v)  # slow fields filled in from the connection
        for k, want in r["values"].items():
            assert v[k] == want if isinstance(want, str) else abs(v[k] - want) < 1e-6, (k, v[k], want)
    assert summary["inserted"] == 30 and summary["duplicates"] == 10
    assert summary["ports"][mqtt_broker.url]["messages"] == 8
    term.close()


def test_collect_cli_wrong_ca_is_one_line(mqtts_broker, tmp_path):
    from mqtt_fixtures import TestPki

    other = TestPki.make(tmp_path / "other", name="wrong CA")
    p = subprocess.run([sys.executable, "-m", "mobiot", "collect", "--mqtt", mqtts_broker.url, "--ca", str(other.ca),
                        "--db", str(tmp_path / "c.sqlite"), "--no-dashboard"], capture_output=True, text=True,
                       cwd=str(ROOT), timeout=120)
    assert p.returncode == 1
    assert p.stderr.count("\n") == 1 and p.stderr.startswith(f"mobiot: error: {mqtts_broker.url}: TLS certificate")
    # And with the right CA it collects (nothing to collect: a clean summary).
    p = subprocess.run([sys.executable, "-m", "mobiot", "collect", "--mqtt", mqtts_broker.url, "--ca",
                        str(mqtts_broker.pki.ca), "--db", str(tmp_path / "c.sqlite"), "--no-dashboard", "--json",
                        "--duration", "0"], capture_output=True, text=True, cwd=str(ROOT), timeout=120)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["ports"][mqtts_broker.url]["opens"] == 1
