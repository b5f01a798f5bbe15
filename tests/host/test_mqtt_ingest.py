"""The collector's MQTT ingest against a real Mosquitto (tests/mqtt_fixtures.py).

A terminal double publishes records on `mobiot/<device>/up` with paho, as the firmware does, and
listens on `mobiot/<device>/down` for the acks (its own parse of `!ack` lines, not the
collector's codec). The collector runs in this process (Collector + MqttIngest, the same objects
`mobiot collect --mqtt` builds). Payloads are docs/uplink.md's JSON encoding (records as in a
serial R frame), decoded by uplink_codec.decode_up; test_mqtt_collect_cli.py sends the firmware's
compact CBOR through the CLI.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest
from mqtt_fixtures import Peer, acked_seqs, wait_for
from test_collect_loud import rundir  # noqa: F401 - the fixture below

from mobiot import store as store_mod
from mobiot.collect import Collector
from mobiot.errors import MobiotError
from mobiot.mqtt_ingest import MqttIngest

T0 = 1764146800.0

# Each test's own control-channel directory: the collectors here never meet another's.
pytestmark = pytest.mark.usefixtures("rundir")


def record(dev: str, seq: int) -> dict:
    return {"device": dev, "boot": 1, "seq": seq, "t": T0 + seq, "clock": "utc", "kind": "reading",
            "values": {"temp": 20.0 + seq / 10, "bat": 3.9}}


class CollectorRun:
    """A collector with an MQTT ingest (and optional serial ports) running in a thread."""

    def __init__(self, db: Path, broker, ports: tuple[str, ...] = (), **kw) -> None:
        self.col = Collector(list(ports), str(db), 115200, scan=False)
        self.mq = MqttIngest(self.col, broker.url, **kw)
        self.col.mqtt = self.mq  # as `collect --mqtt` does
        self.summary: dict | None = None
        self.error: BaseException | None = None
        self.mq.start()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.summary = self.col.run(None, False)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            self.error = exc

    def stop(self) -> None:
        self.col.stop.set()
        self.thread.join(60)
        assert not self.thread.is_alive(), "collector did not stop"
        self.mq.stop()


def acked(term: Peer, dev: str) -> set[int]:
    return acked_seqs(term.received(f"mobiot/{dev}/down"))


def stored(db: Path, dev: str | None = None) -> list[tuple]:
    with sqlite3.connect(db) as c:
        sql = "SELECT device, seq, transport, port FROM records"
        return c.execute(sql + (" WHERE device = ?" if dev else "") + " ORDER BY device, seq",
                         (dev,) if dev else ()).fetchall()


def publish(term: Peer, dev: str, seqs, batch: int = 1) -> None:
    seqs = list(seqs)
    for i in range(0, len(seqs), batch):
        chunk = [record(dev, s) for s in seqs[i:i + batch]]
        term.publish(f"mobiot/{dev}/up", json.dumps(chunk if batch > 1 else chunk[0]).encode())


def terminal(broker, dev: str) -> Peer:
    # A persistent session, as the firmware's: acks sent while it is away wait at the broker.
    return Peer(broker, f"term-{dev}", clean=False).connect(f"mobiot/{dev}/down")


def test_ingest_exactly_once_and_acks_after_commit(mqtt_broker, tmp_path):
    db = tmp_path / "c.sqlite"
    term = terminal(mqtt_broker, "dev1")
    run = CollectorRun(db, mqtt_broker)
    try:
        publish(term, "dev1", range(1, 31))
        publish(term, "dev1", range(31, 61), batch=10)  # several records per message
        publish(term, "dev1", range(10, 21))  # resends after a reconnect
        wait_for(lambda: acked(term, "dev1") >= set(range(1, 61)), what="acks of 1..60")
        # Every ack is for a record already in the database (acks go out after COMMIT).
        assert {s for _, s, _, _ in stored(db, "dev1")} >= acked(term, "dev1")
        wait_for(lambda: run.mq.messages == 30 + 3 + 11, what="all messages ingested")
    finally:
        run.stop()
    rows = stored(db, "dev1")
    assert [r[1] for r in rows] == list(range(1, 61))
    assert {(r[2], r[3]) for r in rows} == {("mqtt", mqtt_broker.url)}
    assert run.summary and run.summary["inserted"] == 60 and run.summary["duplicates"] == 11
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT transport, port FROM devices WHERE device='dev1'").fetchone() == (
            "mqtt", mqtt_broker.url)
    term.close()


def test_bad_payloads_are_quarantined_and_do_not_block(mqtt_broker, tmp_path):
    db = tmp_path / "c.sqlite"
    term = terminal(mqtt_broker, "dev2")
    run = CollectorRun(db, mqtt_broker)
    try:
        term.publish("mobiot/dev2/up", b"\xff not json")
        term.publish("mobiot/dev2/up", json.dumps(record("other", 1)).encode())  # not the topic's device
        publish(term, "dev2", [1])
        wait_for(lambda: acked(term, "dev2") == {1}, what="ack of the good record")
        wait_for(lambda: run.mq.bad_frames == 2, what="two bad payloads counted")
    finally:
        run.stop()
    assert stored(db) == [("dev2", 1, "mqtt", mqtt_broker.url)]
    with sqlite3.connect(db) as c:
        reasons = sorted(r for (r,) in c.execute("SELECT reason FROM quarantine"))
    assert len(reasons) == 2 and all(r.startswith("mqtt: UplinkDecodeError: mobiot/dev2/up: ") for r in reasons)
    assert any("record of device 'other' on the topic of dev2" in r for r in reasons), reasons
    term.close()


def test_collector_away_and_back_loses_nothing(mqtt_broker, tmp_path):
    db = tmp_path / "c.sqlite"
    term = terminal(mqtt_broker, "dev3")
    run = CollectorRun(db, mqtt_broker)  # first run: makes the persistent session and subscription
    publish(term, "dev3", range(1, 6))
    wait_for(lambda: acked(term, "dev3") == set(range(1, 6)), what="acks of 1..5")
    run.stop()

    publish(term, "dev3", range(6, 41))  # the collector is away: the broker keeps them for it
    assert acked(term, "dev3") == set(range(1, 6))

    run = CollectorRun(db, mqtt_broker)
    try:
        wait_for(lambda: acked(term, "dev3") == set(range(1, 41)), what="acks of 1..40 after coming back")
        # The messages of the first run were PUBACKed after commit: none come back.
        publish(term, "dev3", [41])
        wait_for(lambda: acked(term, "dev3") == set(range(1, 42)), what="ack of 41")
        assert run.mq.messages == 35 + 1
    finally:
        run.stop()
    assert [r[1] for r in stored(db, "dev3")] == list(range(1, 42))
    term.close()


def test_broker_restart_loses_nothing(mqtt_broker, tmp_path):
    db = tmp_path / "c.sqlite"
    term = terminal(mqtt_broker, "dev4")
    run = CollectorRun(db, mqtt_broker)
    try:
        publish(term, "dev4", range(1, 11))
        wait_for(lambda: acked(term, "dev4") == set(range(1, 11)), what="acks of 1..10")
        # The collector is away while the broker restarts: its session and the queued
        # messages are in the broker's persistence file.
        run.stop()
        publish(term, "dev4", range(11, 21))
        term.close()
        mqtt_broker.restart()
        run = CollectorRun(db, mqtt_broker)
        term = terminal(mqtt_broker, "dev4")
        wait_for(lambda: acked(term, "dev4") >= set(range(11, 21)), what="acks of 11..20 after the restart")
        # Now the broker restarts under a running collector: paho reconnects by itself.
        mqtt_broker.restart()
        wait_for(lambda: run.mq.opens == 2, what="collector reconnected")
        publish(term, "dev4", range(21, 31))
        wait_for(lambda: acked(term, "dev4") >= set(range(21, 31)), what="acks of 21..30")
    finally:
        run.stop()
        term.close()
    assert [r[1] for r in stored(db, "dev4")] == list(range(1, 31))


def test_message_not_committed_is_not_pubacked(mqtt_broker, tmp_path, monkeypatch):
    """A collector whose commit fails never PUBACKs: the broker redelivers to the next run."""
    db = tmp_path / "c.sqlite"
    term = terminal(mqtt_broker, "dev5")
    CollectorRun(db, mqtt_broker).stop()  # the session exists

    def broken_flush(self):
        raise sqlite3.OperationalError("disk I/O error")

    with monkeypatch.context() as m:
        m.setattr(store_mod.Store, "flush", broken_flush)
        run = CollectorRun(db, mqtt_broker)
        publish(term, "dev5", range(1, 4))
        wait_for(lambda: run.error is not None, what="the writer to fail")
        run.stop()
    assert isinstance(run.error, MobiotError) and "disk I/O error" in str(run.error)
    assert acked(term, "dev5") == set() and stored(db) == []

    run = CollectorRun(db, mqtt_broker)
    try:
        wait_for(lambda: acked(term, "dev5") == {1, 2, 3}, what="redelivered records acked")
    finally:
        run.stop()
    assert [r[1] for r in stored(db, "dev5")] == [1, 2, 3]
    term.close()


def test_mqtts_with_the_test_ca_and_a_client_certificate(mqtt_broker_factory, tmp_path):
    b = mqtt_broker_factory(tls=True, require_certificate=True)
    pki = b.pki
    term = Peer(b, "term-tls", clean=False, cert=pki.client_cert, key=pki.client_key).connect("mobiot/dev6/down")
    run = CollectorRun(tmp_path / "c.sqlite", b, ca=str(pki.ca), cert=str(pki.client_cert), key=str(pki.client_key))
    try:
        publish(term, "dev6", range(1, 4))
        wait_for(lambda: acked(term, "dev6") == {1, 2, 3}, what="acks over TLS")
    finally:
        run.stop()
        term.close()
    assert stored(tmp_path / "c.sqlite") == [("dev6", s, "mqtt", b.url) for s in (1, 2, 3)]
    assert b.url.startswith("mqtts://")


def test_mqtts_client_certificate_missing_is_one_line(mqtt_broker_factory, tmp_path):
    b = mqtt_broker_factory(tls=True, require_certificate=True)
    col = Collector([], str(tmp_path / "c.sqlite"), 115200, scan=False)
    mq = MqttIngest(col, b.url, ca=str(b.pki.ca))
    with pytest.raises(MobiotError) as ei:
        mq.start()
    msg = str(ei.value)
    assert "\n" not in msg and msg.startswith(f"{b.url}: the broker closed the connection before its CONNACK")
    assert "client certificate (--cert, --key)" in msg


def test_mqtts_wrong_ca_is_refused_with_one_line(mqtts_broker, mqtt_broker_factory, tmp_path):
    from mqtt_fixtures import TestPki

    other = TestPki.make(tmp_path / "other-pki", name="some other CA")
    col = Collector([], str(tmp_path / "c.sqlite"), 115200, scan=False)
    mq = MqttIngest(col, mqtts_broker.url, ca=str(other.ca))
    with pytest.raises(MobiotError) as ei:
        mq.start()
    msg = str(ei.value)
    assert "\n" not in msg and mqtts_broker.url in msg and "TLS certificate not trusted" in msg


def test_serial_and_mqtt_at_once_into_one_database(mqtt_broker, tmp_path):
    """A virtual board on serial and a terminal over MQTT, one collector, one database; the
    dashboard shows each board's transport. A hello on the reply topic fills in the device row."""
    from rich.console import Console

    from mobiot.dashboard import render, snapshot, status_lines
    from vbhelp import VBoards

    db = tmp_path / "c.sqlite"
    term = terminal(mqtt_broker, "cell1")
    with VBoards(tmp_path / "vb", 1) as vb:
        port, serial_dev = vb.boards[0]
        run = CollectorRun(db, mqtt_broker, ports=(port,))
        try:
            term.publish("mobiot/cell1/reply", b'H {"proto":1,"fw":"0.9","board":"sim-s3","boot":1,"hold":false}')
            publish(term, "cell1", range(1, 21))
            wait_for(lambda: acked(term, "cell1") == set(range(1, 21)), what="MQTT acks")
            wait_for(lambda: len(stored(db, serial_dev)) >= 3, deadline_s=120, what="serial records")
            console = Console(width=250, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
            console.print(render(run.col))
            screen = console.export_text()
            rows_now = {r["device"]: r for r in snapshot(run.col)}
            status = "\n".join(status_lines(run.col))
            # The same record over both transports is stored once, by whichever came first (the
            # device row and the live table then show the transport it was last heard on).
            with sqlite3.connect(db) as c:
                boot, t, clock, kind, vals = c.execute(
                    "SELECT boot, t, clock, kind, vals FROM records WHERE device=? AND seq=1", (serial_dev,)).fetchone()
            copy = {"device": serial_dev, "boot": boot, "seq": 1, "t": t, "clock": clock, "kind": kind,
                    "values": json.loads(vals)}
            twin = terminal(mqtt_broker, serial_dev)
            twin.publish(f"mobiot/{serial_dev}/up", json.dumps(copy).encode())
            wait_for(lambda: 1 in acked(twin, serial_dev), what="the copy acked over MQTT")
            twin.close()
        finally:
            run.stop()
    rows = stored(db)
    by_transport = {(d, t, p) for d, _, t, p in rows}
    assert by_transport == {("cell1", "mqtt", mqtt_broker.url), (serial_dev, "serial", port)}
    assert run.summary and run.summary["duplicates"] >= 1
    assert [s for d, s, _, _ in rows if d == "cell1"] == list(range(1, 21))
    serial_seqs = [s for d, s, _, _ in rows if d == serial_dev]
    assert serial_seqs == list(range(1, len(serial_seqs) + 1))
    assert rows_now["cell1"]["via"] == "mqtt" and rows_now[serial_dev]["via"] == "serial"
    lines = {ln.split()[1]: ln for ln in screen.splitlines() if ln.strip().startswith("│") and len(ln.split()) > 3}
    assert lines["cell1"].split()[3] == "mqtt" and lines[serial_dev].split()[3] == "serial"  # the via column
    assert any(ln.startswith("cell1 ") and f"on {mqtt_broker.url}" in ln for ln in status.splitlines()), status
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT fw, board, transport FROM devices WHERE device='cell1'").fetchone() == (
            "0.9", "sim-s3", "mqtt")
        # Last heard over MQTT (the copy), unless a serial record came after it.
        assert c.execute("SELECT transport FROM devices WHERE device=?", (serial_dev,)).fetchone()[0] in (
            "serial", "mqtt")
        assert c.execute("SELECT transport FROM records WHERE device=? AND seq=1", (serial_dev,)).fetchone() == (
            "serial",)
    term.close()


def test_broker_down_at_start_is_waited_for(mqtt_broker, tmp_path, capfd):
    db = tmp_path / "c.sqlite"
    mqtt_broker.stop()
    run = CollectorRun(db, mqtt_broker)  # does not fail: waits, like a serial port not plugged in
    try:
        assert "retrying in the background" in capfd.readouterr().err
        assert run.mq.state == "waiting" and not run.mq.subscribed.is_set()
        mqtt_broker.start()
        wait_for(run.mq.subscribed.is_set, what="collector connected and subscribed once the broker is up")
        term = terminal(mqtt_broker, "dev7")
        publish(term, "dev7", range(1, 6))
        wait_for(lambda: acked(term, "dev7") == set(range(1, 6)), what="acks of 1..5")
        term.close()
    finally:
        run.stop()
    assert [r[1] for r in stored(db, "dev7")] == [1, 2, 3, 4, 5]
