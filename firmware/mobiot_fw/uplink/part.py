# The uplink as a part of the terminal (app.py wiring; docs/uplink.md): picks the transport for
# the board's modem model, tells the session when the network is up and the clock is set, and
# registers it with the outbox (records) and the supervisor (watchdog allowance).
from micropython import const

_CONNECT_ALLOW_S = const(180)  # a connect (DNS, TCP, TLS, CONNACK over LTE-M) and its retries


def make(t, fw):
    """The Uplink of Terminal t, registered as an outbox transport; None when the config
    names a transport this board cannot use (a config_fallback event says so)."""
    c = t.cfg["uplink"]
    ob = t.outbox
    tr = c["transport"]
    why = "not available on this board"
    if tr == "wlan":
        from .net import wlan_uplink  # network.WLAN (docs/uplink.md "Transports")

        w = wlan_uplink(t.plat)
        if w is not None:
            return _register(t, fw, c, w[0], w[1])
        why = "no wlan.ssid in secrets.json"
    elif tr == "ppp":
        # network.PPP over the modem's UART, where the model dials PPP and the firmware has it;
        # ppp.py (and net.py) are imported only for it (docs/memory.md)
        from .ppp import ppp_uplink

        w = ppp_uplink(t)
        if not isinstance(w, str):
            return _register(t, fw, c, w[0], w[1])
        why = w
    if tr != "modem" or t.modem is None:
        ob.event("config_fallback", ("reason", "uplink.transport %s: %s" % (tr, why)), ("key", "uplink.transport"))
        return None
    from .hooks import ModemHooks  # bound methods of a resident object: not of this module

    h = ModemHooks(t.modem)
    return _register(t, fw, c, h.stream, h.ready)


def _register(t, fw, c, stream, ready):
    from .hooks import ClockSet
    from .session import Uplink

    ob = t.outbox
    info = (ob.device, fw, t.board.get("name", t.cfg.get("board", "?")), ob.boot)
    up = Uplink(ob.q, c, ob.device, stream, t.dispatch, ob.event, have_time=ClockSet(ob.clock).have_time,
                hello=info, ready=ready)
    ob.transports.append(up)
    t.sup.allow["uplink"] = (c["backoff_max_s"] + _CONNECT_ALLOW_S) * 1000
    return up

