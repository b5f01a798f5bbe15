"""The uplink over MicroPython's own IP stack end to end (docs/uplink.md "Transports"): PPP over
the modem's UART (uplink/ppp.py) and WLAN (uplink/net.py), to a real Mosquitto, stored and acked
by `mobiot collect --mqtt`.

The MicroPython unix port has no `network` module, so network.PPP and network.WLAN are the fakes
of sim/fake_network.py: the fake PPP negotiates LCP and IPCP with the modem simulator's data mode
over the simulated UART (ATD*99***1# -> CONNECT, RFC 1662 frames, "+++" / NO CARRIER), and the
IP traffic then goes over the unix port's real sockets and ssl (mbedTLS) on loopback. So these
tests prove the firmware's dial, data-mode, drop and TLS handling and that the records really
reach the broker, but not lwIP's PPP on a board (not run on hardware).

Covered: delivery over PPP exactly once; a PPP drop mid-run (NO CARRIER, calls refused for a
while) and recovery with nothing lost or duplicated; mutual TLS (Mosquitto require_certificate)
over WLAN and PPP with the client pair of secrets.json, and refused without it; a server name
that the broker's certificate does not carry over WLAN and PPP: a tls error, never plain TCP."""

from __future__ import annotations

import pytest
from test_mqtt_collect_cli import collect, stop
from test_uplink_e2e import Terminal, check_exactly_once, check_tls_refused, job
from test_uplink_mtls import collect_mtls


def test_ppp_delivery(mqtt_broker, tmp_path, upy):
    db = tmp_path / "c.sqlite"
    col = collect(db, f"mqtt://127.0.0.1:{mqtt_broker.port}")
    try:
        term = Terminal(upy, tmp_path, **job(mqtt_broker.port, model="BG95", transport="ppp", records=20))
        check_exactly_once(db, term, 20)
        assert [e["transport"] for e in term.events if e["event"] == "uplink_up"] == ["ppp"]
        done = term.done
        assert done is not None and done["dials"] == 1 and done["opened"] == 0  # PPP, no modem socket
    finally:
        stop(col)


def test_ppp_drop_mid_run_loses_nothing(mqtt_broker, tmp_path, upy):
    # the network ends the call after 2 PUBACKs and refuses new calls for 4 s: the link goes back
    # to command mode, the session backs off and dials again, and every record arrives once
    db = tmp_path / "c.sqlite"
    col = collect(db, f"mqtt://127.0.0.1:{mqtt_broker.port}")
    try:
        term = Terminal(upy, tmp_path, **job(mqtt_broker.port, model="SIM7080G", transport="ppp", records=60,
                                             every_ms=150, drop_after=2, drop_for_s=4))
        check_exactly_once(db, term, 60)
        assert "test_ppp_drop" in term.names()
        down = [e for e in term.events if e["event"] == "uplink_down"]
        assert down and down[0]["err"] == "network", term.events
        assert term.names().count("uplink_up") >= 2
        done = term.done
        assert done is not None and done["dials"] >= 2 and done["ppp_drops"] >= 1
    finally:
        stop(col)


@pytest.mark.parametrize("transport", ["wlan", "ppp"])
def test_client_certificate_over_wlan_and_ppp(mqtt_broker_factory, tmp_path, upy, transport):
    # ssl.SSLContext.load_cert_chain with secrets.json tls.cert / tls.key (DER on mbedTLS)
    broker = mqtt_broker_factory(tls=True, require_certificate=True)
    pki = broker.pki
    db = tmp_path / "c.sqlite"
    col = collect_mtls(db, broker)
    try:
        term = Terminal(upy, tmp_path, **job(broker.port, model="BG95", transport=transport, tls=True,
                                             install_ca=True, ca=str(pki.ca), cert=str(pki.device_cert),
                                             key=str(pki.device_key), records=10,
                                             uplink={"tls": True, "batch": 5, "batch_wait_s": 1}))
        check_exactly_once(db, term, 10)
        up = [e for e in term.events if e["event"] == "uplink_up"]
        assert up and up[0]["tls"] is True and up[0]["transport"] == transport
    finally:
        stop(col)


@pytest.mark.parametrize("transport", ["wlan", "ppp"])
def test_no_client_certificate_refused_over_wlan_and_ppp(mqtt_broker_factory, tmp_path, upy, transport):
    broker = mqtt_broker_factory(tls=True, require_certificate=True)
    term = Terminal(upy, tmp_path, **job(broker.port, model="BG95", transport=transport, tls=True, install_ca=True,
                                         ca=str(broker.pki.ca), records=3, run_s=25,
                                         uplink={"tls": True, "batch": 1}))
    check_tls_refused(term)  # the broker ends the handshake: no certificate


@pytest.mark.parametrize("transport", ["wlan", "ppp"])
def test_wrong_server_name_is_a_tls_error_never_plain_tcp(mqtts_broker, tmp_path, upy, transport):
    # broker.example resolves to the broker (the job's names), whose certificate names localhost
    # and 127.0.0.1 only: server_hostname does not match, so the handshake fails
    pki = mqtts_broker.pki
    term = Terminal(upy, tmp_path, **job(mqtts_broker.port, model="BG95", transport=transport, tls=True,
                                         install_ca=True, ca=str(pki.ca), host="broker.example",
                                         hosts={"broker.example": "127.0.0.1"}, records=3, run_s=25,
                                         uplink={"tls": True, "batch": 1}))
    check_tls_refused(term)  # records wait; nothing went out in clear

