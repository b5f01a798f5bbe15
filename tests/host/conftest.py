"""Host-test fixtures: a real Mosquitto for the MQTT tests (tests/mqtt_fixtures.py)."""

from mqtt_fixtures import mqtt_broker, mqtt_broker_factory, mqtts_broker  # noqa: F401 - pytest fixtures
