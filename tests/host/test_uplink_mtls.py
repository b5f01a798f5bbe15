"""Mutual TLS over the modem end to end (docs/uplink.md "TLS material and time"): a real
Mosquitto that requires client certificates (`require_certificate true`), a terminal whose
secrets.json carries the CA and a client certificate and key signed by the broker's test CA
(tests/mqtt_fixtures.py TestPki.device_cert), the firmware writing all three into the modem with
the model's own commands (cell/certs.py) and naming the pair in the TLS context, and the modem
simulator presenting it in its real TLS connection (sim/sim_sockets.py, load_cert_chain). The
command sequences per model are checked in tests/firmware/test_modem_certs.py."""

from __future__ import annotations

import subprocess
import sys

import pytest
from test_mqtt_collect_cli import stop
from test_uplink_e2e import ROOT, Terminal, check_exactly_once, job


def collect_mtls(db, broker) -> subprocess.Popen:
    """`mobiot collect` with the collector's own client certificate (the broker wants one)."""
    pki = broker.pki
    return subprocess.Popen([sys.executable, "-m", "mobiot", "collect", "--mqtt", f"mqtts://127.0.0.1:{broker.port}",
                             "--ca", str(pki.ca), "--cert", str(pki.client_cert), "--key", str(pki.client_key),
                             "--db", str(db), "--no-dashboard", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=str(ROOT))


@pytest.mark.parametrize("model,modem,ca_name", [
    ("A7670", {}, "ca.pem"),
    ("A7680C", {}, "ca.pem"),
    ("BG95", {}, "ca.pem"),
    ("EC200U", {}, "ca.pem"),
    ("SIM7080G", {}, "ca.crt"),
    ("SIM7000G", {"ca_stack": True}, "ca.crt"),  # the CA* stack of newer SIM7000G firmware
])
def test_client_certificate_delivers(mqtt_broker_factory, tmp_path, upy, model, modem, ca_name):
    broker = mqtt_broker_factory(tls=True, require_certificate=True)
    pki = broker.pki
    db = tmp_path / "c.sqlite"
    col = collect_mtls(db, broker)
    try:
        term = Terminal(upy, tmp_path, **job(broker.port, model=model, modem=modem, tls=True, install_ca=True,
                                             ca=str(pki.ca), cert=str(pki.device_cert), key=str(pki.device_key),
                                             records=10,
                                             uplink={"tls": True, "ca": ca_name, "batch": 5, "batch_wait_s": 1}))
        check_exactly_once(db, term, 10)
        up = [e for e in term.events if e["event"] == "uplink_up"]
        assert up and up[0]["tls"] is True
    finally:
        stop(col)


@pytest.mark.parametrize("model", ["A7670", "SIM7080G"])
def test_no_client_certificate_is_refused_with_backoff(mqtt_broker_factory, tmp_path, upy, model):
    broker = mqtt_broker_factory(tls=True, require_certificate=True)
    ca_name = "ca.crt" if model == "SIM7080G" else "ca.pem"
    term = Terminal(upy, tmp_path, **job(broker.port, model=model, tls=True, install_ca=True, ca=str(broker.pki.ca),
                                         records=3, run_s=25, uplink={"tls": True, "ca": ca_name, "batch": 1}))
    done = term.wait()
    errs = [e for e in term.events if e["event"] == "uplink_error"]
    # the broker ends the handshake: the modem's TLS open fails (A76XX +CCHOPEN 15, SIM7080G
    # +CAOPEN 26), a tls error each time, never a session
    assert errs and all(e["err"] == "tls" for e in errs), term.events
    assert "uplink_up" not in term.names(), term.events
    assert done["depth"] == 3 and done["published"] == 0
    assert 2 <= len(errs) <= 8, len(errs)  # backoff, not a tight reconnect loop
