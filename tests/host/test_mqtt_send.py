"""`mobiot send` over MQTT (a real Mosquitto, a terminal double) and over serial (control channel).

The terminal double answers like the firmware (docs/uplink.md): it takes command lines from its
down topic, checks the NMEA checksum itself, and publishes `K {...}` on its reply topic; it has
a persistent session, so a command sent while it sleeps waits at the broker.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from functools import reduce
from pathlib import Path

import pytest
from mqtt_fixtures import Peer, wait_for
from test_collect_loud import rundir  # noqa: F401 - the fixture below

from mobiot import control
from mobiot.cli import main
from mobiot.store import Store

ROOT = Path(__file__).resolve().parents[2]
STATUS = {"boot": 1, "seq": 7, "t": 1764146800, "clock": "utc", "kind": "status", "values": {"qdepth": 3}}

# Each test's own control-channel directory: the collectors here never meet another's.
pytestmark = pytest.mark.usefixtures("rundir")


def xor(data: bytes) -> int:
    return reduce(lambda a, b: a ^ b, data, 0)


class Terminal(Peer):
    """Answers each command on its down topic with K on its reply topic; says hello on connect."""

    def __init__(self, broker, device: str) -> None:
        super().__init__(broker, f"mobiot-{device}", clean=False)
        self.device = device
        self.commands: list[str] = []
        self.client.on_message = self._answer

    def _answer(self, client, _u, m) -> None:
        line = bytes(m.payload).rstrip(b"\r\n")
        star = line.rindex(b"*")
        body = line[1:star]
        if not line.startswith(b"!") or xor(body) != int(line[star + 1:], 16):
            reply = {"cmd": "?", "ok": False, "err": "checksum"}
        else:
            verb, _, args = body.decode().partition(" ")
            self.commands.append(body.decode())
            if verb == "status":  # answered by a status record, on the up topic (docs/protocol.md)
                client.publish(f"mobiot/{self.device}/up", json.dumps(STATUS | {"device": self.device}).encode(), qos=1)
                return
            reply = {"cmd": verb, "ok": verb != "interval" or args.isdigit()}
            if not reply["ok"]:
                reply["err"] = "bad interval"
        client.publish(f"mobiot/{self.device}/reply", b"K " + json.dumps(reply).encode(), qos=1)

    def wake(self) -> Terminal:
        self.connect(f"mobiot/{self.device}/down")
        self.client.publish(f"mobiot/{self.device}/reply", b'H {"proto":1,"hold":false}', qos=1)
        return self


def run_send(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mobiot", "send", *args], capture_output=True, text=True,
                          cwd=str(ROOT), timeout=120, **kw)


def test_send_over_mqtt_gets_the_reply(mqtt_broker, tmp_path):
    term = Terminal(mqtt_broker, "dev1").wake()
    try:
        p = run_send("dev1", "interval", "60", "--via", "mqtt", "--mqtt", mqtt_broker.url, "--json")
        assert p.returncode == 0, p.stderr
        out = json.loads(p.stdout)
        assert out["status"] == "answered" and out["via"] == "mqtt"
        assert out["reply"] == {"cmd": "interval", "ok": True}
        assert term.commands == ["interval 60"]
        # A reply that says no is an error, one line, exit 1.
        p = run_send("dev1", "interval", "soon", "--via", "mqtt", "--mqtt", mqtt_broker.url)
        *progress, last = p.stderr.strip().splitlines()
        assert p.returncode == 1 and last.startswith("mobiot: error: dev1 refused !interval soon*")
        assert last.endswith(": bad interval") and all("pending until dev1 answers" in ln for ln in progress)
    finally:
        term.close()


def test_send_to_a_sleeping_terminal_is_pending_until_it_answers(mqtt_broker, tmp_path):
    term = Terminal(mqtt_broker, "dev2").wake()
    term.close()  # asleep: its persistent session keeps QoS 1 messages for it

    # Nobody answers within the timeout: pending, exit 2, and the command stays at the broker.
    p = run_send("dev2", "sample", "--via", "mqtt", "--mqtt", mqtt_broker.url, "--timeout", "0.5", "--json")
    assert p.returncode == 2, p.stderr
    assert json.loads(p.stdout)["status"] == "pending" and "pending until dev2 answers" in p.stderr

    # Waiting send: it says pending, the terminal wakes, gets both commands from the broker, answers.
    proc = subprocess.Popen(
        [sys.executable, "-m", "mobiot", "send", "dev2", "status", "--via", "mqtt", "--mqtt", mqtt_broker.url,
         "--timeout", "120", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(ROOT),
    )
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        assert "pending until dev2 answers" in first, first
        term = Terminal(mqtt_broker, "dev2").wake()
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert json.loads(out)["reply"] == STATUS | {"device": "dev2"}
    wait_for(lambda: term.commands == ["sample", "status"], what="both queued commands delivered in order")
    term.close()


def test_send_auto_uses_the_transport_the_collector_saw(mqtt_broker, tmp_path, monkeypatch, capsys):
    db = tmp_path / "c.sqlite"
    s = Store(db)
    from mobiot.codec import Frame

    def rec(dev: str) -> Frame:
        return Frame("R", {"device": dev, "boot": 1, "seq": 1, "t": 1.0, "clock": "uptime", "kind": "status",
                           "values": {}}, b"")

    s.ingest(mqtt_broker.url, 1.0, [rec("cell")])
    s.ingest("/dev/ttyUSB0", 1.0, [rec("usb")])
    s.flush()
    s.close()

    calls: list[tuple[str, str, float]] = []

    def fake_send_command(device: str, line: str, timeout_s: float = 10.0) -> dict:
        calls.append((device, line, timeout_s))
        if device != "usb":
            raise control.MobiotError(f"send {device}: no running collector holds a port for that device")
        return {"cmd": "interval", "ok": True}

    monkeypatch.setattr(control, "send_command", fake_send_command)
    # Serial board: through the collector's control channel, the line with its checksum.
    assert main(["send", "usb", "interval", "30", "--db", str(db), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["via"] == "serial" and out["reply"]["ok"] is True
    assert calls == [("usb", "!interval 30*" + f"{xor(b'interval 30'):02X}", 30.0)]

    # Cellular board: over MQTT, to the broker the database names, without --mqtt.
    term = Terminal(mqtt_broker, "cell").wake()
    try:
        assert main(["send", "cell", "interval", "300", "--db", str(db), "--json"]) == 0
    finally:
        term.close()
    out = json.loads(capsys.readouterr().out)
    assert out["via"] == "mqtt" and out["broker"] == mqtt_broker.url and out["reply"]["ok"] is True
    assert term.commands == ["interval 300"] and len(calls) == 1

    # Unknown device: serial first; no collector has it, so the broker of --mqtt.
    term = Terminal(mqtt_broker, "new").wake()
    try:
        assert main(["send", "new", "sample", "--db", str(db), "--mqtt", mqtt_broker.url, "--json"]) == 0
    finally:
        term.close()
    assert json.loads(capsys.readouterr().out)["via"] == "mqtt" and calls[-1][0] == "new"


def test_send_errors_are_one_line(mqtt_broker, tmp_path, monkeypatch):
    p = run_send("dev", "ack", "1-5", "--mqtt", mqtt_broker.url)
    assert p.returncode == 1 and "collector's to send" in p.stderr and p.stderr.count("\n") == 1
    # Serial only, no collector running (control.py's own answer).
    p = run_send("dev", "status", "--via", "serial", "--db", str(tmp_path / "none.sqlite"))
    assert p.returncode == 1 and p.stderr.startswith("mobiot: error: ") and p.stderr.count("\n") == 1
    p = run_send("dev", "status", "--via", "mqtt", "--mqtt", "http://x")
    assert p.returncode == 1 and "expected mqtt://host" in p.stderr


def test_send_over_mqtts_and_wrong_ca_refused(mqtt_broker_factory, tmp_path):
    from mqtt_fixtures import TestPki

    b = mqtt_broker_factory(tls=True)
    term = Terminal(b, "tls1").wake()
    try:
        p = run_send("tls1", "sample", "--via", "mqtt", "--mqtt", b.url, "--ca", str(b.pki.ca), "--json")
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)["reply"] == {"cmd": "sample", "ok": True}
    finally:
        term.close()
    other = TestPki.make(tmp_path / "other", name="not the broker's CA")
    p = run_send("tls1", "sample", "--via", "mqtt", "--mqtt", b.url, "--ca", str(other.ca))
    assert p.returncode == 1 and p.stderr.count("\n") == 1
    assert "TLS certificate not trusted" in p.stderr and b.url in p.stderr


@pytest.mark.parametrize("dbfile", ["missing.sqlite", "notadb.sqlite"])
def test_send_auto_without_a_usable_database(dbfile, tmp_path, monkeypatch, capsys):
    """No hint from the database (missing, or not a collector's): serial, and no error about it."""
    (tmp_path / "notadb.sqlite").write_bytes(b"not sqlite")
    monkeypatch.setattr(control, "send_command", lambda d, line, t=10.0: {"cmd": "status", "ok": True})
    assert main(["send", "x", "status", "--db", str(tmp_path / dbfile)]) == 0
    assert capsys.readouterr().out.startswith("x answered over serial: ")
    assert not (tmp_path / "missing.sqlite").exists()


def test_send_over_serial_through_the_running_collector(tmp_path):
    """The real path: a virtual board, `mobiot collect` holding its port, `mobiot send` through the
    collector's control channel (control.send_command), chosen from the database (--via auto)."""
    import os

    from vbhelp import VBoards

    db = tmp_path / "c.sqlite"
    with VBoards(tmp_path / "vb", 1) as vb:
        port, dev = vb.boards[0]
        col = subprocess.Popen([sys.executable, "-m", "mobiot", "collect", "--port", port, "--db", str(db),
                                "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=str(ROOT),
                               env=os.environ.copy())
        try:
            def seen() -> bool:
                try:
                    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
                        return c.execute("SELECT transport FROM devices WHERE device=?", (dev,)).fetchone() == (
                            "serial",)
                except sqlite3.OperationalError:
                    return False

            wait_for(seen, deadline_s=120, what="the board's first record in the database")
            p = run_send(dev, "interval", "30", "--db", str(db), "--json", "--timeout", "60")
            assert p.returncode == 0, p.stderr
            out = json.loads(p.stdout)
            assert out["via"] == "serial" and out["reply"]["cmd"] == "interval" and out["reply"]["ok"] is True
            p = run_send(dev, "interval", "0", "--via", "serial", "--timeout", "60")
            assert p.returncode == 1 and p.stderr.startswith(f"mobiot: error: {dev} refused !interval 0*"), p.stderr
        finally:
            col.send_signal(signal.SIGTERM)
            col.communicate(timeout=60)
