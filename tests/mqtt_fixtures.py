"""pytest plugin: a real Mosquitto broker for the MQTT tests (loaded from tests/conftest.py).

Each broker is its own `mosquitto -c FILE` process on a free loopback port, with its config,
persistence file and log under the test's tmp_path. It can be stopped and started again on the
same port with the same persistence file (broker-restart tests), and it can listen with TLS on a
test CA that is made at test time (`TestPki`, with the `cryptography` package).

Without a `mosquitto` binary the tests that use a broker are skipped, except under CI=true,
where they fail: CI installs it with `make setup` (Makefile target `mosquitto`).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

HOST = "127.0.0.1"
# Long deadlines that only a real failure reaches (CI runs on 2 shared cores).
START_DEADLINE_S = 30.0
STOP_DEADLINE_S = 30.0


def mosquitto_binary() -> str | None:
    env = os.environ.get("MOSQUITTO")
    if env:
        return env
    found = shutil.which("mosquitto")
    if found:
        return found
    for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/opt/homebrew/sbin/mosquitto"):
        if os.access(p, os.X_OK):
            return p
    return None


def require_mosquitto() -> str:
    exe = mosquitto_binary()
    if exe is None:
        msg = "mosquitto not found (run `make setup`, or set MOSQUITTO=/path/to/mosquitto)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg + ": CI must run the MQTT tests", pytrace=False)
        pytest.skip(msg)
    return exe


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_for(cond, deadline_s: float = 60.0, what: str = "condition", interval_s: float = 0.02):
    """Poll `cond()` until it returns a true value (returned) or fail after `deadline_s`."""
    end = time.monotonic() + deadline_s
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= end:
            raise AssertionError(f"timed out after {deadline_s:.0f} s waiting for {what}")
        time.sleep(interval_s)


_ACK = re.compile(rb"^!ack ([0-9,\-]+)\*([0-9A-F]{2})\r?\n?$")


def acked_seqs(payloads: list[bytes]) -> set[int]:
    """The seqs acked by down-topic messages, parsed as a terminal does (docs/protocol.md: NMEA
    checksum over the bytes between `!` and `*`), independently of the collector's codec."""
    out: set[int] = set()
    for p in payloads:
        m = _ACK.match(p)
        assert m, f"not an ack line: {p!r}"
        body = p[1:p.index(b"*")]
        x = 0
        for c in body:
            x ^= c
        assert x == int(m.group(2), 16), f"bad checksum: {p!r}"
        for part in m.group(1).decode().split(","):
            a, _, b = part.partition("-")
            out.update(range(int(a), int(b or a) + 1))
    return out


@dataclass
class TestPki:
    """A CA, a server certificate for 127.0.0.1/localhost signed by it, and a client certificate."""

    __test__ = False  # not a test class for pytest

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    @classmethod
    def make(cls, d: Path, name: str = "mobiot test CA") -> TestPki:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        d.mkdir(parents=True, exist_ok=True)
        now = datetime.datetime.now(datetime.timezone.utc)
        start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=30)

        def key_pem(k) -> bytes:
            return k.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
            )

        def cn(s: str) -> x509.Name:
            return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, s)])

        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = (
            x509.CertificateBuilder()
            .subject_name(cn(name))
            .issuer_name(cn(name))
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )

        def leaf(subject: str, usage, san: list | None):
            k = ec.generate_private_key(ec.SECP256R1())
            b = (
                x509.CertificateBuilder()
                .subject_name(cn(subject))
                .issuer_name(ca.subject)
                .public_key(k.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(start)
                .not_valid_after(end)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                .add_extension(
                    x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
                )
            )
            if san:
                b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
            return k, b.sign(ca_key, hashes.SHA256())

        skey, scert = leaf(
            "localhost",
            ExtendedKeyUsageOID.SERVER_AUTH,
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))],
        )
        ckey, ccert = leaf("mobiot-collector", ExtendedKeyUsageOID.CLIENT_AUTH, None)
        pem = serialization.Encoding.PEM
        files = {
            "ca.crt": ca.public_bytes(pem),
            "server.crt": scert.public_bytes(pem),
            "server.key": key_pem(skey),
            "client.crt": ccert.public_bytes(pem),
            "client.key": key_pem(ckey),
        }
        for fname, data in files.items():
            (d / fname).write_bytes(data)
            if fname.endswith(".key"):
                os.chmod(d / fname, 0o600)
        return cls(d / "ca.crt", d / "server.crt", d / "server.key", d / "client.crt", d / "client.key")


class Broker:
    """One Mosquitto process; `stop()` + `start()` is a restart on the same port and database."""

    def __init__(self, exe: str, d: Path, pki: TestPki | None = None, require_certificate: bool = False) -> None:
        self.exe = exe
        self.dir = d
        self.pki = pki
        self.require_certificate = require_certificate
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        d.mkdir(parents=True, exist_ok=True)
        (d / "data").mkdir(exist_ok=True)

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.pki else 'mqtt'}://{HOST}:{self.port}"

    @property
    def log(self) -> Path:
        return self.dir / "mosquitto.log"

    def _write_config(self) -> Path:
        lines = [
            f"listener {self.port} {HOST}",
            "allow_anonymous true",
            "persistence true",
            f"persistence_location {self.dir / 'data'}/",
            # Keep every queued QoS 1 message of an offline persistent session (the default
            # max_queued_messages, 1000, would drop the excess for a collector that is away).
            "max_queued_messages 0",
            f"log_dest file {self.log}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            # As root mosquitto would switch to user "mosquitto", who cannot read tmp_path.
            f"user {pwd.getpwuid(os.getuid()).pw_name}",
        ]
        if self.pki:
            lines += [
                f"cafile {self.pki.ca}",
                f"certfile {self.pki.server_cert}",
                f"keyfile {self.pki.server_key}",
                f"require_certificate {'true' if self.require_certificate else 'false'}",
            ]
        conf = self.dir / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def _listening(self) -> bool:
        try:
            with socket.create_connection((HOST, self.port), timeout=1.0):
                return True
        except OSError:
            return False

    def start(self) -> Broker:
        assert self.proc is None, "broker already running"
        for attempt in range(5):
            conf = self._write_config()
            self.proc = subprocess.Popen(
                [self.exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
            )
            end = time.monotonic() + START_DEADLINE_S
            while time.monotonic() < end:
                if self.proc.poll() is not None:
                    break
                if self._listening():
                    self.starts += 1
                    return self
                time.sleep(0.02)
            err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
            rc = self.proc.poll()
            if rc is None:
                self.proc.kill()
            self.proc.wait()
            self.proc = None
            logtail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            # Another process took our free port between free_port() and bind: take a new one,
            # but only before the first start (a restart must keep its port).
            if self.starts == 0 and "Address already in use" in (err + logtail) and attempt < 4:
                self.port = free_port()
                continue
            raise RuntimeError(f"mosquitto did not start (exit {rc}):\n{err}\n{logtail}")
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        """SIGTERM: mosquitto saves its in-memory database (sessions, queued messages) and exits."""
        p, self.proc = self.proc, None
        if p is None:
            return
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        if p.stderr:
            p.stderr.close()

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@pytest.fixture
def mqtt_broker_factory(tmp_path: Path):
    """`make(tls=False, require_certificate=False)` -> a started Broker; all are stopped at the end."""
    exe = require_mosquitto()
    made: list[Broker] = []

    def make(tls: bool = False, require_certificate: bool = False, name: str = "") -> Broker:
        d = tmp_path / f"broker{len(made)}{'-' + name if name else ''}"
        pki = TestPki.make(d / "pki") if tls else None
        b = Broker(exe, d, pki, require_certificate)
        made.append(b)
        return b.start()

    yield make
    for b in made:
        b.stop()


@pytest.fixture
def mqtt_broker(mqtt_broker_factory) -> Broker:
    """A plain-TCP broker with persistence on a free loopback port."""
    return mqtt_broker_factory()


@pytest.fixture
def mqtts_broker(mqtt_broker_factory) -> Broker:
    """A TLS broker whose certificate is signed by its own test CA (`broker.pki.ca`)."""
    return mqtt_broker_factory(tls=True)


class Peer:
    """A paho client for tests (a terminal, or a watcher): connect, subscribe, collect messages."""

    def __init__(self, broker: Broker, client_id: str, clean: bool = True, ca: Path | None = None,
                 cert: Path | None = None, key: Path | None = None) -> None:
        import ssl
        import threading

        import paho.mqtt.client as mqtt

        self.broker = broker
        self.messages: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self._subacks: set[int] = set()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean)
        if broker.pki is not None:
            ctx = ssl.create_default_context(cafile=str(ca or broker.pki.ca))
            if cert is not None and key is not None:
                ctx.load_cert_chain(str(cert), str(key))
            c.tls_set_context(ctx)
        c.on_message = self._on_message
        c.on_subscribe = lambda _c, _u, mid, _rc, _p: self._subacks.add(mid)
        self.client = c

    def _on_message(self, _c, _u, m) -> None:
        with self.lock:
            self.messages.append((m.topic, bytes(m.payload)))

    def connect(self, *topics: str) -> Peer:
        self.client.connect(HOST, self.broker.port, keepalive=30)
        self.client.loop_start()
        wait_for(self.client.is_connected, what="MQTT connect")
        for t in topics:
            _rc, mid = self.client.subscribe(t, qos=1)
            wait_for(lambda mid=mid: mid in self._subacks, what=f"SUBACK for {t}")
        return self

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        self.client.publish(topic, payload, qos=qos).wait_for_publish(30)

    def received(self, topic: str | None = None) -> list[bytes]:
        with self.lock:
            return [p for t, p in self.messages if topic is None or t == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
