# The cellular uplink: MQTT 3.1.1 client, payload encoders and network transports.
# Contract: docs/uplink.md.
