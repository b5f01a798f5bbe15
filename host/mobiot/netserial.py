"""Serial ports behind a URL (`serial.serial_for_url`): what host tools need changed in
pyserial's clients, in one place (used by mobiot.flash and mobiot.prov_link)."""

from __future__ import annotations

import functools


@functools.cache
def rfc2217_class():
    """pyserial's RFC 2217 client, minus one cost: it renegotiates every port option (four
    round trips, each polled every 50 ms) whenever the read timeout changes, and esptool and
    provisioning change it around most reads. A read timeout is local to the client, so here
    setting it sets only that."""
    import serial.rfc2217

    class Rfc2217(serial.rfc2217.Serial):
        @property
        def timeout(self):
            return self._timeout

        @timeout.setter
        def timeout(self, value):
            self._timeout = value

    return Rfc2217


def local_timeouts(ser) -> None:
    """Make an open RFC 2217 client's read timeout local (rfc2217_class), in place: for a port
    that another library (mpremote) opened."""
    import serial.rfc2217

    if type(ser) is serial.rfc2217.Serial:
        ser.__class__ = rfc2217_class()
