"""The uplink end to end: the firmware's uplink (MicroPython unix port: queue, AT engine, SIMCom
socket transport, MQTT session) through the modem simulator's real TCP/TLS sockets to a real
Mosquitto, and `mobiot collect --mqtt` storing and acking into SQLite (docs/uplink.md).

Every test checks the same end state: every record made is in the database exactly once and the
terminal's queue is empty (each record left it by the collector's !ack on the down topic)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from mqtt_fixtures import TestPki, wait_for
from test_mqtt_collect_cli import collect, stop

ROOT = Path(__file__).resolve().parents[2]
TERM = ROOT / "sim" / "uplink_term_main.py"
DEV = "868822040061234"


class Terminal:
    """sim/uplink_term_main.py in a MicroPython process; its event lines are collected."""

    def __init__(self, upy: str, tmp: Path, **job) -> None:
        jf = tmp / f"term{time.monotonic_ns()}.json"
        jf.write_text(json.dumps(job))
        self.proc = subprocess.Popen([upy, "-X", "heapsize=4M", str(TERM), str(jf)], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, cwd=str(ROOT))
        self.events: list[dict] = []
        self.done: dict | None = None
        self.out: list[str] = []
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.out.append(line)
            if line.startswith("EV "):
                self.events.append(json.loads(line[3:]))
            elif line.startswith("DONE "):
                self.done = json.loads(line[5:])

    def names(self) -> list[str]:
        return [e["event"] for e in self.events]

    def wait(self, timeout: float = 300) -> dict:
        self.proc.wait(timeout)
        self._t.join(10)
        assert self.done is not None, "".join(self.out[-30:])
        return self.done


def collect_tls(db: Path, broker) -> subprocess.Popen:
    """`mobiot collect --mqtt mqtts://... --ca` against a TLS broker (its test CA)."""
    return subprocess.Popen([sys.executable, "-m", "mobiot", "collect", "--mqtt", f"mqtts://127.0.0.1:{broker.port}",
                             "--ca", str(broker.pki.ca), "--db", str(db), "--no-dashboard", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=str(ROOT))


def rows(db: Path) -> list[int]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as c:
        return [r[0] for r in c.execute("SELECT seq FROM records WHERE device=? ORDER BY seq", (DEV,))]


def job(port: int, **kw) -> dict:
    j = {"host": "localhost", "port": port, "records": 30, "every_ms": 100, "run_s": 240,
         "uplink": {"encoding": "compact", "batch": 5, "batch_wait_s": 1, "resend_s": 20}}
    j.update(kw)
    return j


def check_exactly_once(db: Path, term: Terminal, n: int) -> None:
    done = term.wait()
    assert done["made"] == n and done["depth"] == 0, (done, "".join(term.out[-20:]))
    got = rows(db)
    assert got == list(range(1, n + 1)), got  # all there, each once (the store's dedupe by seq)


def check_tls_refused(term: Terminal, n: int = 3) -> None:
    """Every attempt a tls uplink_error, never a session, the n records still queued and nothing
    published (never plain TCP instead), and a backoff between attempts, not a tight loop."""
    done = term.wait()
    errs = [e for e in term.events if e["event"] == "uplink_error"]
    assert errs and all(e["err"] == "tls" for e in errs), term.events
    assert "uplink_up" not in term.names()
    assert done["depth"] == n and done["published"] == 0
    assert 2 <= len(errs) <= 8, len(errs)


@pytest.mark.parametrize("encoding", ["compact", "senml", "json"])
def test_delivery_no_loss_no_duplicates(mqtt_broker, tmp_path, upy, encoding):
    db = tmp_path / "c.sqlite"
    col = collect(db, f"mqtt://127.0.0.1:{mqtt_broker.port}")
    try:
        term = Terminal(upy, tmp_path, **job(mqtt_broker.port, uplink={"encoding": encoding, "batch": 5,
                                                                         "batch_wait_s": 1}))
        check_exactly_once(db, term, 30)
        assert term.names().count("uplink_up") == 1
    finally:
        stop(col)


def test_bg95_delivery_and_tls(mqtts_broker, tmp_path, upy):
    db = tmp_path / "c.sqlite"
    pki = mqtts_broker.pki
    col = collect_tls(db, mqtts_broker)
    try:
        term = Terminal(upy, tmp_path, **job(mqtts_broker.port, model="BG95", tls=True, ca=str(pki.ca),
                                             uplink={"tls": True, "batch": 5, "batch_wait_s": 1}))
        check_exactly_once(db, term, 30)
        assert [e["transport"] for e in term.events if e["event"] == "uplink_up"] == ["quectel"]
    finally:
        stop(col)


def test_broker_restart_and_collector_away(mqtt_broker, tmp_path, upy):
    db = tmp_path / "c.sqlite"
    term = Terminal(upy, tmp_path, **job(mqtt_broker.port, records=40, every_ms=150))
    # the collector is away at first: records wait on the terminal (and at the broker)
    wait_for(lambda: "uplink_up" in term.names(), 120, "uplink up")
    time.sleep(2)
    mqtt_broker.stop()
    wait_for(lambda: "uplink_down" in term.names(), 120, "uplink down")
    time.sleep(2)
    mqtt_broker.start()
    col = collect(db, f"mqtt://127.0.0.1:{mqtt_broker.port}")
    try:
        check_exactly_once(db, term, 40)
        assert term.names().count("uplink_up") >= 2
    finally:
        stop(col)


def test_modem_reset_mid_publish(mqtt_broker, tmp_path, upy):
    db = tmp_path / "c.sqlite"
    col = collect(db, f"mqtt://127.0.0.1:{mqtt_broker.port}")
    try:
        term = Terminal(upy, tmp_path, **job(mqtt_broker.port, records=30, reset_after=2))
        check_exactly_once(db, term, 30)
        assert "test_modem_reset" in term.names() and term.names().count("uplink_up") >= 2
    finally:
        stop(col)


def test_network_outage_and_recovery(mqtt_broker, tmp_path, upy):
    db = tmp_path / "c.sqlite"
    col = collect(db, f"mqtt://127.0.0.1:{mqtt_broker.port}")
    try:
        # no service for 10 s from the 2nd PUBACK on (docs/scenario.md no_service): a fixed time
        # could come before the first connection on a loaded machine, and test nothing
        term = Terminal(upy, tmp_path, **job(mqtt_broker.port, records=60, every_ms=300, outage_after=2,
                                             outage_for_s=10))
        check_exactly_once(db, term, 60)
        names = term.names()
        i = names.index("test_outage")
        assert "uplink_up" in names[:i] and "uplink_down" in names[i:], names
    finally:
        stop(col)


def test_tls_with_the_right_ca(mqtts_broker, tmp_path, upy):
    db = tmp_path / "c.sqlite"
    pki = mqtts_broker.pki
    col = collect_tls(db, mqtts_broker)
    try:
        term = Terminal(upy, tmp_path, **job(mqtts_broker.port, tls=True, ca=str(pki.ca),
                                             uplink={"tls": True, "batch": 5, "batch_wait_s": 1}))
        check_exactly_once(db, term, 30)
        up = [e for e in term.events if e["event"] == "uplink_up"][0]
        assert up["tls"] is True
    finally:
        stop(col)


@pytest.mark.parametrize("case", ["wrong_ca", "wrong_name"])
def test_tls_refused_never_falls_back_to_plain_tcp(mqtts_broker, tmp_path, upy, case):
    pki = mqtts_broker.pki
    ca = TestPki.make(tmp_path / "other").ca if case == "wrong_ca" else pki.ca
    host = "broker.example" if case == "wrong_name" else "localhost"
    term = Terminal(upy, tmp_path, **job(mqtts_broker.port, tls=True, ca=str(ca), host=host,
                                         hosts={"broker.example": "127.0.0.1"}, records=3, run_s=25,
                                         uplink={"tls": True, "batch": 1}))
    done = term.wait()
    errs = [e for e in term.events if e["event"] == "uplink_error"]
    assert errs and all(e["err"] == "tls" for e in errs), term.events
    assert "uplink_up" not in term.names()
    assert done["depth"] == 3 and done["published"] == 0  # records wait; nothing went out in clear
    # backoff: a few attempts in 25 s (1, 2, 4, 8 s ...), not a tight loop
    assert 2 <= len(errs) <= 8, len(errs)
