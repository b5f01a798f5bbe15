"""`mobiot send DEVICE VERB [ARGS...]`: one command to a board, over MQTT or serial.

Contracts: docs/protocol.md (command lines `!verb args*XX`, `K` replies), docs/uplink.md (topics
`mobiot/<device>/down` and `mobiot/<device>/reply`), docs/collector.md ("mobiot send").

- Serial: through the collector that holds the board's port, by the local control channel
  (`control.send_command`): the one writer of a port is its collector.
- MQTT: the line is published (QoS 1) on the device's down topic, and the reply awaited on its
  reply topic. A terminal that sleeps or is out of coverage has a persistent session, so the
  command waits at the broker and arrives when it next connects; until it answers `send` says
  that the command is pending, and exits 2 if `--timeout` runs out first (the command stays
  queued at the broker).

Which one reaches the board (`--via auto`): the transport the collector database last saw the
device on (devices.transport; its port column is then the broker), else serial first (a
collector holding the device's port), then the broker of `--mqtt`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import threading
import time
from pathlib import Path

import click

from . import control
from .codec import COMMAND_EOL, encode_command
from .errors import MobiotError
from .mqtt_ingest import BrokerUrl, connect_error, down_topic, make_client, parse_reply, reply_topic, up_topic
from .store import open_readonly

EXIT_PENDING = 2
# Verbs that only the collector may send: an ack removes records from the board's queue, and only
# the collector knows which are committed.
COLLECTOR_ONLY = ("ack", "bye")
CONNECT_WAIT_S = 30.0


def command_line(verb: str, args: tuple[str, ...]) -> str:
    if verb in COLLECTOR_ONLY:
        raise MobiotError(f"send: !{verb} is the collector's to send (it acks only committed records)")
    try:
        return encode_command(verb, " ".join(args)).rstrip(COMMAND_EOL).decode("ascii")
    except ValueError as exc:
        raise MobiotError(f"send: {exc}") from exc


def known_route(db: str | None, device: str) -> tuple[str, str] | None:
    """(transport, port or broker URL) the collector database last saw `device` on, or None."""
    if not db or not Path(db).is_file():
        return None
    try:
        con = open_readonly(db)
    except MobiotError:
        return None  # not a collector's database: no hint
    try:
        row = con.execute("SELECT transport, port FROM devices WHERE device = ?", (device,)).fetchone()
    except sqlite3.Error:
        return None  # a database from before the transport column (not migrated yet): no hint
    finally:
        con.close()
    return (row[0], row[1]) if row and row[0] else None


class MqttCommand:
    """Publish one command on a device's down topic and wait for its reply."""

    def __init__(self, url: str, device: str, verb: str, line: str, *, ca=None, cert=None, key=None) -> None:
        self.broker = BrokerUrl(url)
        self.device = device
        self.verb = verb
        self.line = line
        cid = f"mobiot-send-{os.getpid() % 100000}-{int(time.time() * 1000) % 10000}"[:23]
        self.client = make_client(self.broker, cid, clean_session=True, ca=ca, cert=cert, key=key)
        self.reply: dict | None = None
        self.hello = threading.Event()
        self.answered = threading.Event()
        self._suback = threading.Event()
        self._connack = threading.Event()
        self._refused = ""
        c = self.client
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_subscribe = lambda *_a: self._suback.set()
        c.on_message = self._on_message

    def _on_connect(self, client, _u, _flags, reason_code, _p) -> None:
        if reason_code.is_failure:
            self._refused = str(reason_code)
        self._connack.set()

    def _on_disconnect(self, _c, _u, _flags, reason_code, _p) -> None:
        if not self._connack.is_set():  # closed before its CONNACK (e.g. wants a client certificate)
            self._refused = f"closed before CONNACK ({reason_code})"
            self._connack.set()

    def _on_message(self, _c, _u, msg) -> None:
        if msg.topic == up_topic(self.device):
            self._on_up(msg.topic, bytes(msg.payload))
            return
        fr = parse_reply(bytes(msg.payload))
        if fr is None:
            return
        if fr.type == "H":
            self.hello.set()
        elif fr.type == "K" and fr.payload.get("cmd") in (self.verb, "?"):
            # "?": the board could not read the line (checksum); docs/protocol.md.
            self.reply = fr.payload
            self.answered.set()

    def _on_up(self, topic: str, payload: bytes) -> None:
        # `!status` is answered by a status record (docs/protocol.md), which goes up as a record.
        from .uplink_codec import decode_up

        try:
            recs = decode_up(topic, payload)
        except MobiotError:
            return
        for r in recs:
            if r.get("kind") == "status" and not self.answered.is_set():
                self.reply = r
                self.answered.set()

    def publish(self) -> None:
        c = self.client
        try:
            c.connect(self.broker.host, self.broker.port, keepalive=60)
        except (OSError, ValueError) as exc:
            raise MobiotError(connect_error(self.broker, exc)) from exc
        c.loop_start()
        if not self._connack.wait(CONNECT_WAIT_S) or self._refused:
            self.close()
            raise MobiotError(f"{self.broker.url}: broker refused the connection: {self._refused or 'no CONNACK'}")
        topics = [(reply_topic(self.device), 1)]
        if self.verb == "status":
            topics.append((up_topic(self.device), 1))
        c.subscribe(topics)
        if not self._suback.wait(CONNECT_WAIT_S):
            self.close()
            raise MobiotError(f"{self.broker.url}: no SUBACK for {reply_topic(self.device)}")
        info = c.publish(down_topic(self.device), self.line.encode("ascii"), qos=1)
        info.wait_for_publish(CONNECT_WAIT_S)
        if not info.is_published():
            self.close()
            raise MobiotError(f"{self.broker.url}: the broker did not take the command (no PUBACK)")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _report(out: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(out))
    elif out["status"] == "answered":
        click.echo(f"{out['device']} answered over {out['via']}: {json.dumps(out['reply'])}")
    else:
        click.echo(f"{out['device']}: {out['command']} is pending at {out['broker']} (no answer yet)")


def _check_reply(device: str, line: str, reply: dict) -> None:
    if reply.get("ok") is False:
        raise MobiotError(f"{device} refused {line}: {reply.get('err', 'no reason given')}")


def send_mqtt(url: str, device: str, verb: str, line: str, timeout_s: float, tls: dict) -> dict:
    cmd = MqttCommand(url, device, verb, line, **tls)
    cmd.publish()
    try:
        click.echo(
            f"sent {line} to {down_topic(device)} on {cmd.broker.url}; pending until {device} answers "
            "(a sleeping terminal gets it from the broker when it next connects)",
            err=True,
        )
        end = time.monotonic() + timeout_s
        said_hello = False
        while not cmd.answered.is_set():
            left = end - time.monotonic()
            if left <= 0:
                break
            cmd.answered.wait(min(left, 0.5))
            if cmd.hello.is_set() and not said_hello:
                said_hello = True
                click.echo(f"{device} connected", err=True)
    finally:
        cmd.close()
    out = {"device": device, "via": "mqtt", "broker": cmd.broker.url, "command": line}
    if cmd.reply is None:
        return {**out, "status": "pending"}
    return {**out, "status": "answered", "reply": cmd.reply}


@click.command()
@click.argument("device")
@click.argument("verb")
@click.argument("args", nargs=-1)
@click.option("--via", type=click.Choice(["auto", "serial", "mqtt"]), default="auto", show_default=True,
              help="How to reach the board; auto: as the collector database last saw it, else serial, then MQTT.")
@click.option("--db", default="collect.sqlite", show_default=True, type=click.Path(dir_okay=False),
              help="Collector database that says how the device last reported.")
@click.option("--mqtt", "mqtt_url", default=None, envvar="MOBIOT_MQTT", metavar="URL",
              help="Broker: mqtt://host[:port] or mqtts://... (env MOBIOT_MQTT). Default: the device's, from --db.")
@click.option("--ca", type=click.Path(dir_okay=False), default=None, help="mqtts: CA certificate (PEM).")
@click.option("--cert", type=click.Path(dir_okay=False), default=None, help="mqtts: client certificate (PEM).")
@click.option("--key", type=click.Path(dir_okay=False), default=None, help="mqtts: client key (PEM).")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0), default=30.0, show_default=True,
              help="Seconds to wait for the reply; then a command over MQTT stays pending at the broker (exit 2).")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as one JSON object.")
def send(device: str, verb: str, args: tuple[str, ...], via: str, db: str, mqtt_url: str | None,
         ca: str | None, cert: str | None, key: str | None, timeout_s: float, as_json: bool) -> int:
    """Send one command (docs/protocol.md verbs: interval, sample, status, config ...) to DEVICE."""
    line = command_line(verb, args)
    tls = {"ca": ca, "cert": cert, "key": key}
    route = known_route(db, device) if via == "auto" else None
    if via == "auto" and route is not None:
        via = route[0]
        if via == "mqtt" and mqtt_url is None:
            mqtt_url = route[1]
    if via in ("auto", "serial"):
        try:
            reply = control.send_command(device, line, timeout_s)
        except MobiotError as exc:
            if via == "serial" or mqtt_url is None:
                raise
            click.echo(f"not over serial ({exc}); trying MQTT", err=True)
        else:
            _check_reply(device, line, reply)
            _report({"device": device, "via": "serial", "command": line, "status": "answered", "reply": reply},
                    as_json)
            return 0
    if mqtt_url is None:
        raise MobiotError(f"send {device}: no broker known for it; give --mqtt mqtt://host:port")
    out = send_mqtt(mqtt_url, device, verb, line, timeout_s, tls)
    if out["status"] == "answered":
        _check_reply(device, line, out["reply"])
    _report(out, as_json)
    sys.stdout.flush()
    return 0 if out["status"] == "answered" else EXIT_PENDING
