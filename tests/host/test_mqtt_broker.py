"""The broker fixture itself: persistence across a restart, and TLS with the test CA."""

from __future__ import annotations

from mqtt_fixtures import Peer, wait_for


def test_queued_message_survives_broker_restart(mqtt_broker):
    Peer(mqtt_broker, "fixture-sub", clean=False).connect("t/x").close()
    pub = Peer(mqtt_broker, "fixture-pub").connect()
    pub.publish("t/x", b"kept")
    pub.close()

    mqtt_broker.restart()

    sub = Peer(mqtt_broker, "fixture-sub", clean=False).connect()
    try:
        wait_for(sub.received, what="the message queued before the restart")
    finally:
        sub.close()
    assert sub.received("t/x") == [b"kept"]


def test_tls_broker_with_test_ca(mqtts_broker):
    a = Peer(mqtts_broker, "fixture-tls-a").connect("t/tls")
    b = Peer(mqtts_broker, "fixture-tls-b").connect()
    try:
        b.publish("t/tls", b"over tls")
        wait_for(a.received, what="message over TLS")
    finally:
        a.close()
        b.close()
    assert a.received("t/tls") == [b"over tls"]
