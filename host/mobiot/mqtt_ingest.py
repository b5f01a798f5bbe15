"""The collector's MQTT ingest: records from the broker into the same database, exactly once.

Contracts: docs/uplink.md (topics `mobiot/<device>/up` and `/down`, payload encodings, decoded
by `uplink_codec.decode_up`), docs/collector.md ("MQTT ingest").

One `MqttIngest` is one broker connection of a running `Collector` (paho-mqtt, MQTT 3.1.1):

- a persistent session (clean_session False) under a client id fixed per collector database, and
  a QoS 1 subscription: while the collector is away or the broker restarts (with persistence),
  the broker keeps every message for us, and the terminal keeps every record it was not acked;
- each message goes through the collector's one ingest path (`Collector.ingest`): committed to
  SQLite first, then its ack target (`MqttAck`) publishes the `!ack` lines (QoS 1) on the
  device's down topic and PUBACKs the message (manual ack), so the broker too drops it only once
  it is committed. A message with no record to ack (a hello, a payload that does not decode) is
  PUBACKed as soon as it is handed over: only its quarantine row could be lost, never a record;
- a resend (the terminal's after a reconnect, or the broker's redelivery) is a duplicate
  (device, seq), ignored by the store and acked again.
"""

from __future__ import annotations

import hashlib
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from .codec import COMMAND_EOL, BadFrame, Frame, encode_acks
from .errors import MobiotError

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt

    from .collect import Collector

DEFAULT_TOPIC = "mobiot/+/up"
TOPIC_ROOT = "mobiot"
# MQTT 3.1.1 (OASIS standard) section 4.2: TCP ports 1883 and 8883 are registered with IANA for
# MQTT and MQTT over TLS.
DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
KEEPALIVE_S = 30
# First connection: how long start() waits for the broker's CONNACK before going on in the
# background (a broker that is down now is waited for, like a serial port not plugged in yet).
CONNECT_WAIT_S = 30.0
# At stop: how long to wait for the broker to take the last acks (PUBACK of our publishes).
DRAIN_S = 10.0
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 60

# uplink_codec.decode_up(topic, payload, state): the uplink's one decoder (docs/uplink.md).
Decode = Callable[[str, bytes, dict], list]


class BrokerUrl:
    """mqtt://[user[:password]@]host[:port] or mqtts://...; `url` is the form without credentials
    that goes into the database's port column."""

    def __init__(self, url: str) -> None:
        try:
            u = urlsplit(url)
            port = u.port
        except ValueError as exc:
            raise MobiotError(f"--mqtt {url}: {exc}") from exc
        if u.scheme not in DEFAULT_PORTS or not u.hostname:
            raise MobiotError(f"--mqtt {url}: expected mqtt://host[:port] or mqtts://host[:port]")
        if u.path not in ("", "/") or u.query or u.fragment:
            raise MobiotError(f"--mqtt {url}: no path or query expected (the topic goes in --topic)")
        self.tls = u.scheme == "mqtts"
        self.host = u.hostname
        self.port = port or DEFAULT_PORTS[u.scheme]
        self.username = unquote(u.username) if u.username else None
        self.password = unquote(u.password) if u.password else None
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"{u.scheme}://{host}:{self.port}"


def client_id_for(db_path: str | Path) -> str:
    """The collector's MQTT client id: fixed per database file, so that a restarted collector
    resumes its persistent session. 23 characters, the most MQTT 3.1.1 section 3.1.3.1 obliges a
    broker to accept."""
    digest = hashlib.sha256(str(Path(db_path).resolve()).encode()).hexdigest()
    return "mobiot-c-" + digest[:14]


def device_of_topic(topic: str, leaf: str = "up") -> str | None:
    """`mobiot/<device>/up` -> device (docs/uplink.md); None for any other topic."""
    parts = topic.split("/")
    if len(parts) == 3 and parts[0] == TOPIC_ROOT and parts[2] == leaf and parts[1]:
        return parts[1]
    return None


def up_topic(device: str) -> str:
    return f"{TOPIC_ROOT}/{device}/up"


def down_topic(device: str) -> str:
    return f"{TOPIC_ROOT}/{device}/down"


def reply_topic(device: str) -> str:
    return f"{TOPIC_ROOT}/{device}/reply"


def parse_reply(payload: bytes) -> Frame | None:
    """A reply-topic message (`H {...}` or `K {...}`, docs/uplink.md) as a Frame, or None."""
    import json

    t, sep, body = payload.partition(b" ")
    if not sep or t not in (b"H", b"K"):
        return None
    try:
        p = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return Frame(t.decode(), p, payload) if isinstance(p, dict) else None


def make_client(
    broker: BrokerUrl,
    client_id: str,
    *,
    clean_session: bool,
    ca: str | None = None,
    cert: str | None = None,
    key: str | None = None,
    manual_ack: bool = False,
) -> mqtt.Client:
    """A paho client for `broker`, with TLS (server certificate and host name checked against
    `ca`, or the system CAs) for mqtts://. Shared by the collector and `mobiot send`."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    if (cert is None) != (key is None):
        raise MobiotError("--cert and --key go together (the client certificate and its private key)")
    if not broker.tls and (ca or cert):
        raise MobiotError(f"{broker.url}: --ca/--cert/--key need an mqtts:// broker URL")
    for what, path in (("--ca", ca), ("--cert", cert), ("--key", key)):
        if path is not None and not Path(path).is_file():
            raise MobiotError(f"{what} {path}: no such file")
    c = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=clean_session,
        protocol=mqtt.MQTTv311,
        manual_ack=manual_ack,
    )
    if broker.username is not None:
        c.username_pw_set(broker.username, broker.password)
    if broker.tls:
        try:
            ctx = ssl.create_default_context(cafile=ca)
            if cert:
                ctx.load_cert_chain(cert, key)
        except (ssl.SSLError, OSError) as exc:
            raise MobiotError(f"{broker.url}: cannot load TLS material: {exc}") from exc
        c.tls_set_context(ctx)
    c.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
    return c


def connect_error(broker: BrokerUrl, exc: BaseException) -> str:
    """One line for a failed connection attempt."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"{broker.url}: TLS certificate not trusted ({exc.verify_message or exc.reason})"
    if isinstance(exc, ssl.SSLError):
        return f"{broker.url}: TLS handshake failed ({exc.reason or exc})"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{broker.url}: {text}"


class MqttAck:
    """Ack target of the records of one MQTT message: called by the collector's writer after the
    COMMIT that made them durable."""

    __slots__ = ("mq", "device", "gen", "mid", "qos")

    def __init__(self, mq: MqttIngest, device: str, gen: int, mid: int, qos: int) -> None:
        self.mq, self.device, self.gen, self.mid, self.qos = mq, device, gen, mid, qos

    def send_acks(self, seqs: list[int]) -> None:
        self.mq.send(encode_acks(seqs), self.device)
        self.mq.puback(self.gen, self.mid, self.qos)

    def __repr__(self) -> str:
        return f"{self.mq.url} {down_topic(self.device)}"


def has_ackable_seq(records: list) -> bool:
    """Whether the store will ack any of these (a record, or a quarantined one, with seq >= 1)."""
    return any(isinstance(r, dict) and type(r.get("seq")) is int and r["seq"] >= 1 for r in records)


class MqttIngest:
    """One broker connection feeding `collector` through `Collector.ingest`."""

    def __init__(
        self,
        collector: Collector,
        url: str,
        topic: str = DEFAULT_TOPIC,
        *,
        ca: str | None = None,
        cert: str | None = None,
        key: str | None = None,
        client_id: str | None = None,
        decode: Decode | None = None,
    ) -> None:
        self.col = collector
        self.broker = BrokerUrl(url)
        self.url = self.broker.url
        self.topic = topic
        if decode is None:
            from .uplink_codec import decode_up as decode  # cbor2: only when there is a broker
        self.decode = decode
        self.client_id = client_id or client_id_for(collector.db_path)
        # Hellos on the reply topics fill in the devices table (fw, board) like a serial hello.
        self.reply_filter = topic[: -len("/up")] + "/reply" if topic.endswith("/up") else None
        # Decoder state of this broker session (all devices): the compact encoding sends a
        # connection's slow fields only when they change (docs/uplink.md "Slow fields").
        self._state: dict = {}
        self.state = "waiting"
        self.opens = 0
        self.bytes = 0
        self.messages = 0
        self.bad_frames = 0
        self.acks_sent = 0
        self.last_error = ""
        self.gen = 0  # +1 at every CONNACK: a PUBACK is only sent on the connection it belongs to
        self._connack = threading.Event()  # the first connection's outcome: CONNACK or a close
        self._closed_early = ""
        self._has_cert = cert is not None
        self.subscribed = threading.Event()  # SUBACK of the first connection's subscriptions
        self._sub_mid: int | None = None
        self._refused = ""
        self._pubs: list = []  # MQTTMessageInfo of our ack publishes not yet PUBACKed
        self._lock = threading.Lock()
        self.client = make_client(
            self.broker, self.client_id, clean_session=False, ca=ca, cert=cert, key=key, manual_ack=True
        )
        c = self.client
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_subscribe = self._on_subscribe

    # -- life -----------------------------------------------------------------------------------

    def start(self) -> None:
        """Connect and subscribe. A TLS or authentication failure is a MobiotError; a broker that
        is not reachable yet is waited for in the background (reported on stderr)."""
        reached = True
        try:
            self.client.connect(self.broker.host, self.broker.port, keepalive=KEEPALIVE_S)
        except ssl.SSLError as exc:
            raise MobiotError(connect_error(self.broker, exc)) from exc
        except OSError as exc:
            reached = False
            self.last_error = connect_error(self.broker, exc)
            self.col.log(f"{self.last_error}; retrying in the background")
            self.client.connect_async(self.broker.host, self.broker.port, keepalive=KEEPALIVE_S)
        self.client.loop_start()
        if reached and self._connack.wait(CONNECT_WAIT_S):
            why = ""
            if self._refused:
                why = f"broker refused the connection: {self._refused}"
            elif self._closed_early:
                why = f"the broker closed the connection before its CONNACK ({self._closed_early})"
                if self.broker.tls and not self._has_cert:
                    why += "; does it want a client certificate (--cert, --key)?"
            if why:
                self.client.disconnect()
                self.client.loop_stop()
                raise MobiotError(f"{self.url}: {why}")
            # A new session gets only what is published after its SUBACK: wait for it, so that
            # whoever started the collector may rely on it being subscribed.
            self.subscribed.wait(CONNECT_WAIT_S)

    def stop(self) -> None:
        """After the collector's last commit: let the broker take the last acks, then disconnect.
        Messages not committed were not PUBACKed: the broker keeps them for the next run."""
        end = time.monotonic() + DRAIN_S
        with self._lock:
            pubs, self._pubs = self._pubs, []
        for info in pubs:
            left = end - time.monotonic()
            if left <= 0 or not self.client.is_connected():
                break
            try:
                info.wait_for_publish(left)
            except (RuntimeError, ValueError):
                break
        self.client.disconnect()
        self.client.loop_stop()
        self.state = "closed"

    def stats(self) -> dict:
        return {"bad_frames": self.bad_frames, "log_lines": 0, "bytes": self.bytes, "opens": self.opens,
                "messages": self.messages, "acks_sent": self.acks_sent}

    # -- paho callbacks (its network thread) ----------------------------------------------------

    def _on_connect(self, client, _userdata, _flags, reason_code, _properties) -> None:
        if reason_code.is_failure:
            self._refused = str(reason_code)
            self.last_error = f"refused: {reason_code}"
            self.state = "refused"
            self._connack.set()
            return
        self.gen += 1
        self.opens += 1
        self.state = "open"
        # Resubscribe on every connect: harmless with a session present, needed without one
        # (a broker restarted without persistence).
        topics = [(self.topic, 1)] + ([(self.reply_filter, 1)] if self.reply_filter else [])
        _rc, self._sub_mid = client.subscribe(topics)
        self._connack.set()

    def _on_subscribe(self, _client, _userdata, mid, reason_codes, _properties) -> None:
        if mid == self._sub_mid:
            failed = [str(rc) for rc in reason_codes if rc.is_failure]
            if failed:  # e.g. an ACL that does not allow the topic filter
                self.last_error = f"subscribe {self.topic}: {', '.join(failed)}"
                self.col.log(f"{self.url}: {self.last_error}")
            self.subscribed.set()

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _properties) -> None:
        if self.state != "closed":
            self.state = "gone"
            self.last_error = f"disconnected: {reason_code}"
        if not self._connack.is_set():
            self._closed_early = str(reason_code)
            self._connack.set()

    def _on_message(self, _client, _userdata, msg) -> None:
        if self.col.stop.is_set():
            return  # not committed, so not PUBACKed: the broker redelivers it next time
        payload = bytes(msg.payload)
        topic = msg.topic
        self.messages += 1
        self.bytes += len(payload)
        raw = topic.encode("utf-8", "replace") + b" " + payload
        frames: list[Frame] = []
        bad: list[BadFrame] = []
        device = device_of_topic(topic)
        hello_dev = device_of_topic(topic, "reply")
        if hello_dev is not None:
            fr = parse_reply(payload)
            if fr is not None and fr.type == "H" and fr.payload.get("device", hello_dev) == hello_dev:
                fr.payload["device"] = hello_dev
                frames.append(fr)
            # K replies are for `mobiot send`; nothing to store.
        elif device is None:
            bad.append(BadFrame(raw, "mqtt: topic"))
        else:
            try:
                records = self.decode(topic, payload, self._state)
            except Exception as exc:  # noqa: BLE001 - any decoder failure is a bad payload, kept raw
                bad.append(BadFrame(raw, f"mqtt: {type(exc).__name__}: {exc}"[:200]))
                records = []
            for r in records:
                if not isinstance(r, dict) or r.get("device") != device:
                    # A record may only come from its own device's topic (its acks go there).
                    bad.append(BadFrame(raw, "mqtt: device not the topic's"))
                else:
                    frames.append(Frame("R", r, raw))
        gen, mid, qos = self.gen, msg.mid, msg.qos
        ack = None
        if device is not None and has_ackable_seq([f.payload for f in frames]):
            ack = MqttAck(self, device, gen, mid, qos)
        self.bad_frames += len(bad)
        self.col.ingest(self.url, time.time(), frames, bad, ack)
        if ack is None:
            self.puback(gen, mid, qos)

    def puback(self, gen: int, mid: int, qos: int) -> None:
        """PUBACK a message, only on the connection it came on: after a reconnect the broker
        redelivers it instead (and dedup makes that harmless)."""
        if qos > 0 and gen == self.gen:
            self.client.ack(mid, qos)

    # -- acks (the collector's writer thread, after commit) -------------------------------------

    def send(self, lines: list[bytes], device: str) -> None:
        """Publish command lines (the acks) on `device`'s down topic, QoS 1, one line per message
        without its line end (docs/uplink.md). If the broker is away, paho queues them."""
        topic = down_topic(device)
        infos = []
        for line in lines:
            infos.append(self.client.publish(topic, line.rstrip(COMMAND_EOL + b"\r"), qos=1))
        self.acks_sent += len(lines)
        with self._lock:
            self._pubs = [p for p in self._pubs if not p.is_published()] + infos


# ---- the collect command's options (a hook in collect.py) --------------------------------------


def mqtt_options(f):
    """`mobiot collect --mqtt URL [--topic T] [--ca F] [--cert F --key F]`."""
    import click

    for opt in reversed(
        (
            click.option("--mqtt", default=None, metavar="URL",
                         help="Also ingest from this MQTT broker: mqtt://host[:port] or mqtts://host[:port]."),
            click.option("--topic", default=DEFAULT_TOPIC, show_default=True,
                         help="MQTT topic filter of the records (docs/uplink.md)."),
            click.option("--ca", type=click.Path(dir_okay=False), default=None,
                         help="mqtts: CA certificate(s) that sign the broker's (PEM). Default: the system CAs."),
            click.option("--cert", type=click.Path(dir_okay=False), default=None,
                         help="mqtts: client certificate (PEM), with --key."),
            click.option("--key", type=click.Path(dir_okay=False), default=None,
                         help="mqtts: private key of --cert (PEM)."),
        )
    ):
        f = opt(f)
    return f


def start_mqtt(
    col: Collector, mqtt: str | None, topic: str, ca: str | None, cert: str | None, key: str | None
) -> MqttIngest | None:
    """Connect `col` to the broker of `--mqtt` (None without it)."""
    if mqtt is None:
        if ca or cert or key:
            raise MobiotError("--ca/--cert/--key need --mqtt mqtts://...")
        return None
    mq = MqttIngest(col, mqtt, topic, ca=ca, cert=cert, key=key)
    mq.start()
    return mq
