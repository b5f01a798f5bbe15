"""Fixtures: a real Mosquitto broker for the MQTT tests (imported by tests/host/conftest.py).

Each broker is a `mobiot.broker.Mosquitto` (the demo's too): its own process on a free loopback
port, with its config, persistence file and log under the test's tmp_path. It can be stopped
and started again on the same port with the same persistence file (broker-restart tests), and
it can listen with TLS on a test CA that is made at test time (`TestPki`, with the
`cryptography` package).

Without a `mosquitto` binary the tests that use a broker are skipped, except under CI=true,
where they fail: CI installs it with `make setup` (Makefile target `mosquitto`).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from mobiot.broker import HOST, Mosquitto, find_mosquitto

__all__ = ["HOST", "Broker", "Peer", "TestPki", "acked_seqs", "wait_for"]


def require_mosquitto() -> str:
    exe = find_mosquitto()
    if exe is None:
        msg = "mosquitto not found (run `make setup`, or set MOSQUITTO=/path/to/mosquitto)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg + ": CI must run the MQTT tests", pytrace=False)
        pytest.skip(msg)
    return exe


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
    """A CA, a server certificate for 127.0.0.1/localhost signed by it, and two client
    certificates signed by it: the collector's, and a terminal's (mutual TLS over the modem)."""

    __test__ = False  # not a test class for pytest

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    device_cert: Path
    device_key: Path

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
        dkey, dcert = leaf("mobiot-868822040061234", ExtendedKeyUsageOID.CLIENT_AUTH, None)
        pem = serialization.Encoding.PEM
        files = {
            "ca.crt": ca.public_bytes(pem),
            "server.crt": scert.public_bytes(pem),
            "server.key": key_pem(skey),
            "client.crt": ccert.public_bytes(pem),
            "client.key": key_pem(ckey),
            "device.crt": dcert.public_bytes(pem),
            "device.key": key_pem(dkey),
        }
        for fname, data in files.items():
            (d / fname).write_bytes(data)
            if fname.endswith(".key"):
                os.chmod(d / fname, 0o600)
        return cls(d / "ca.crt", d / "server.crt", d / "server.key", d / "client.crt", d / "client.key",
                   d / "device.crt", d / "device.key")


class Broker(Mosquitto):
    """A test broker; `pki` is its TestPki (None for plain TCP)."""

    @property
    def pki(self) -> TestPki | None:
        return self.tls  # type: ignore[return-value]


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
