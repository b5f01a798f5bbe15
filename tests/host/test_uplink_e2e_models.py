"""The uplink end to end on every socket dialect (docs/uplink.md "Transports"): the firmware's
transport for the model (MicroPython unix port) through the modem simulator's real TCP/TLS
sockets to a real Mosquitto, and `mobiot collect --mqtt` storing and acking into SQLite. SIM7080G
and BG95 are in test_uplink_e2e.py; here A7670 / A7680C (CIPOPEN, CCHOPEN), SIM7000G firmware
without the CA* commands (CIPSTART) and with them, and EC200U (QIOPEN / QSSLOPEN). TLS uses a CA
that the firmware writes into the modem itself (cell/certs.py: AT+CCERTDOWN, AT+QFUPL,
AT+CFSWFILE), or a wrong one: an error event and nothing sent in clear."""

from __future__ import annotations

import pytest
from mqtt_fixtures import TestPki
from test_mqtt_collect_cli import collect, stop
from test_uplink_e2e import Terminal, check_exactly_once, collect_tls, job


@pytest.mark.parametrize("model,modem,transport", [
    ("A7670", {}, "a76xx"),
    ("A7680C", {}, "a76xx"),
    ("SIM7000G", {}, "simcom-cip"),
    ("SIM7000G", {"ca_stack": True}, "simcom-ca"),
    ("EC200U", {}, "quectel"),
])
def test_delivery_over_each_dialect(mqtt_broker, tmp_path, upy, model, modem, transport):
    db = tmp_path / "c.sqlite"
    col = collect(db, f"mqtt://127.0.0.1:{mqtt_broker.port}")
    try:
        term = Terminal(upy, tmp_path, **job(mqtt_broker.port, model=model, modem=modem, records=20))
        check_exactly_once(db, term, 20)
        assert [e["transport"] for e in term.events if e["event"] == "uplink_up"] == [transport]
    finally:
        stop(col)


@pytest.mark.parametrize("model,ca_name", [("A7670", "ca.pem"), ("EC200U", "ca.pem"), ("SIM7080G", "ca.crt")])
def test_tls_with_the_ca_the_firmware_installed(mqtts_broker, tmp_path, upy, model, ca_name):
    db = tmp_path / "c.sqlite"
    col = collect_tls(db, mqtts_broker)
    try:
        term = Terminal(upy, tmp_path, **job(mqtts_broker.port, model=model, tls=True, ca=str(mqtts_broker.pki.ca),
                                             install_ca=True, records=20,
                                             uplink={"tls": True, "ca": ca_name, "batch": 5, "batch_wait_s": 1}))
        check_exactly_once(db, term, 20)
        up = [e for e in term.events if e["event"] == "uplink_up"]
        assert up and up[0]["tls"] is True
    finally:
        stop(col)


@pytest.mark.parametrize("model", ["A7670", "EC200U"])
def test_tls_wrong_ca_is_an_error_never_plain_tcp(mqtts_broker, tmp_path, upy, model):
    wrong = TestPki.make(tmp_path / "other").ca
    term = Terminal(upy, tmp_path, **job(mqtts_broker.port, model=model, tls=True, ca=str(wrong), install_ca=True,
                                         records=3, run_s=25, uplink={"tls": True, "ca": "ca.pem", "batch": 1}))
    done = term.wait()
    errs = [e for e in term.events if e["event"] == "uplink_error"]
    assert errs and all(e["err"] == "tls" for e in errs), term.events
    assert "uplink_up" not in term.names()
    assert done["depth"] == 3 and done["published"] == 0
    assert 2 <= len(errs) <= 8, len(errs)  # backoff, not a tight loop


def test_sim7000g_old_firmware_refuses_tls(mqtts_broker, tmp_path, upy):
    # the CIP stack has no certificate check: TLS is refused, and nothing goes out in clear
    term = Terminal(upy, tmp_path, **job(mqtts_broker.port, model="SIM7000G", tls=True, ca=str(mqtts_broker.pki.ca),
                                         records=3, run_s=15, uplink={"tls": True, "batch": 1}))
    done = term.wait()
    errs = [e for e in term.events if e["event"] == "uplink_error"]
    assert errs and all(e["err"] == "tls" and e["code"] == -1 for e in errs), term.events
    assert done["published"] == 0 and done["opened"] == 0


# network.WLAN: the unix port has no `network` module, so the station is sim/fake_network.py's;
# the MQTT traffic goes over the unix port's real sockets and ssl to Mosquitto.
def test_wlan_delivery(mqtt_broker, tmp_path, upy):
    db = tmp_path / "c.sqlite"
    col = collect(db, f"mqtt://127.0.0.1:{mqtt_broker.port}")
    try:
        term = Terminal(upy, tmp_path, **job(mqtt_broker.port, transport="wlan", records=20))
        check_exactly_once(db, term, 20)
        assert [e["transport"] for e in term.events if e["event"] == "uplink_up"] == ["wlan"]
        assert term.done is not None and term.done["opened"] == 0  # no modem socket was used
    finally:
        stop(col)


def test_wlan_tls_right_ca(mqtts_broker, tmp_path, upy):
    db = tmp_path / "c.sqlite"
    col = collect_tls(db, mqtts_broker)
    try:
        term = Terminal(upy, tmp_path, **job(mqtts_broker.port, transport="wlan", tls=True, install_ca=True,
                                             ca=str(mqtts_broker.pki.ca), records=20,
                                             uplink={"tls": True, "batch": 5, "batch_wait_s": 1}))
        check_exactly_once(db, term, 20)
        up = [e for e in term.events if e["event"] == "uplink_up"]
        assert up and up[0]["tls"] is True and up[0]["transport"] == "wlan"
    finally:
        stop(col)


def test_wlan_tls_wrong_ca_refused(mqtts_broker, tmp_path, upy):
    # (a wrong server name is not tested over WLAN: with no simulated DNS here, no second name
    # reaches this broker portably; the modem path tests it, test_uplink_e2e.py)
    ca = TestPki.make(tmp_path / "other").ca
    term = Terminal(upy, tmp_path, **job(mqtts_broker.port, transport="wlan", tls=True, install_ca=True, ca=str(ca),
                                         records=3, run_s=20, uplink={"tls": True, "batch": 1}))
    done = term.wait()
    errs = [e for e in term.events if e["event"] == "uplink_error"]
    assert errs and all(e["err"] == "tls" for e in errs), term.events
    assert "uplink_up" not in term.names()
    assert done["published"] == 0 and done["depth"] == 3
    assert 2 <= len(errs) <= 8, len(errs)
