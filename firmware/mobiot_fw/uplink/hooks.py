# The callables uplink/part.py hands the Uplink (session.py: stream_factory, ready, have_time),
# as bound methods of objects of this module, which stays in RAM with the Uplink. part.py is
# loaded with once() and dropped after the build; a closure or lambda made there would keep
# part.py's module globals, and with them its code, alive for as long as the Uplink holds it
# (a function's globals are its module's dict; docs/memory.md "The uplink").


class ModemHooks:
    """stream() and ready() of the modem transport of the modem part `mp` (cell/lifecycle.py ModemPart)."""

    def __init__(self, mp):
        self.mp = mp
        self.st = None

    def stream(self):
        # one transport object for the modem's lifetime (it chains the AT engine's URC handler);
        # the model's socket table (cell/sockets.py) is read once for it, not kept (docs/memory.md)
        if self.st is None:
            from mobiot_fw import once

            m = self.mp.modem
            st = once("mobiot_fw.cell.sockets").stream(m.at, m.model, m.apn)
            if st is None:
                from .mqtt import LinkError

                raise LinkError("modem", 0)  # a model without a socket dialect
            self.st = st
        return self.st

    def ready(self):
        # the network is up: the modem registered and its bearer active
        m = self.mp.modem
        return m is not None and m.registered() and not m.needs_attach


class ClockSet:
    """have_time(): True once `clock` (clock.Clock) has a UTC fix (TLS needs the time)."""

    def __init__(self, clock):
        self.clock = clock

    def have_time(self):
        return self.clock.utc is not None
