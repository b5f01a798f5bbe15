# The modem simulator's PPP data mode (sim/modem_sim.py; never deployed), loaded with the first
# dial so that a virtual board that never dials does not carry it in the heap it shares with
# its firmware. Contract: docs/scenario.md "PPP data mode".
#
# ATD*99[***<cid>]# (TS 27.007 §10.2.1.1): CONNECT, then the UART carries PPP (RFC 1662 frames;
# sim/fake_network.py has the framing) until "+++" with >= 1 s of silence before and after (the
# modem answers OK and keeps the call: online command state; ATO resumes, ATH ends it), an LCP
# Terminate-Request (Terminate-Ack, then NO CARRIER: the call is over), or a drop: hangup(sim)
# or a scenario event {"do": "no_carrier", "at_s", "for_s"} (NO CARRIER; while such an event is
# in force a dial answers NO CARRIER). DTR is not simulated (the test boards wire none). The peer
# answers LCP and IPCP Configure-Requests with Configure-Ack and LCP Echo-Requests with
# Echo-Reply; the IP traffic of the fake network.PPP goes over the host's sockets instead.
import asyncio
import time

import fake_network as fn

GUARD_MS = 1000  # the escape's guard time (S12 default, 50 x 20 ms; EC200x PPP Application Note §4.1.1)
CONNECT = "CONNECT 150000000"  # the rate SIM7000 firmware prints (botletics/SIM7000-LTE-Shield #49)


class Call:
    def __init__(self, urcs=None):
        self.un = fn.Unframer()
        self.last = None  # ticks_ms of the last byte from the firmware in data mode
        self.plus = 0  # '+' of an escape so far
        self.frames = 0
        self.urcs = urcs or []  # URCs kept while in data mode


def dials(sim):
    """ATD*99# calls answered CONNECT since the simulator started (tests)."""
    return getattr(sim, "ppp_dials", 0)


def junk(sim):
    """Bytes the firmware wrote in data mode that were not PPP frames (an AT command sent while
    PPP owned the UART), in this call (tests)."""
    return sim.ppp.un.ntext if sim.ppp is not None else 0


def answer(sim, up):
    """The answer to ATD*99..., ATH[0] or ATO (modem_sim's _answer)."""
    if up.startswith("ATD*99"):
        cid = up[6:].rstrip("#").lstrip("*") or "1"
        if not sim._registered() or sim._active("no_carrier") is not None or cid != "1":
            return ["NO CARRIER"]  # V.250 §5.7.1: the call could not be set up
        sim.ppp = Call()
        sim.data = sim.call = True
        sim.ppp_dials = dials(sim) + 1
        return [CONNECT]
    if up in ("ATH", "ATH0"):
        sim.call = False  # V.250 §6.3.6 H: hang up the call kept in online command state
        return ["OK"]
    if up == "ATO":
        if not sim.call:  # V.250 §6.3.7 O: back to data mode, if there is still a call
            return ["NO CARRIER"]
        sim.ppp = Call(sim.ppp.urcs if sim.ppp is not None else None)
        sim.data = True
        return [CONNECT]
    return ["ERROR"]


def command_mode(sim, lines):
    sim.data = False
    sim._send(lines)
    held, sim.ppp.urcs = sim.ppp.urcs, []
    for u in held:
        sim._urc(u)  # a modem in data mode kept its URCs for later


def hangup(sim):
    """The network ends the data call now: NO CARRIER, command mode (tests)."""
    if sim.call:
        sim.call = False
        command_mode(sim, ["NO CARRIER"])


def rx(sim, data):
    """Bytes from the firmware while in data mode."""
    c = sim.ppp
    now = sim.clock()
    quiet = c.last is None or time.ticks_diff(now, c.last) >= GUARD_MS
    c.last = now
    if all(b == 43 for b in data) and (c.plus or quiet) and c.plus + len(data) <= 3:
        c.plus += len(data)
        if c.plus == 3:
            asyncio.create_task(_escape(sim, c, now))
        return
    c.plus = 0
    for proto, code, ident, body in c.un.feed(data):
        c.frames += 1
        if code == fn.CONF_REQ:
            sim._mdm.write(fn.frame(proto, fn.CONF_ACK, ident, body))
        elif proto == fn.LCP and code == fn.ECHO_REQ:
            sim._mdm.write(fn.frame(proto, fn.ECHO_REP, ident, body))
        elif proto == fn.LCP and code == fn.TERM_REQ:
            sim._mdm.write(fn.frame(proto, fn.TERM_ACK, ident))
            hangup(sim)
            return


async def _escape(sim, c, t):
    await asyncio.sleep_ms(GUARD_MS)
    if sim.data and sim.ppp is c and c.last == t and c.plus == 3:
        c.plus = 0
        sim.ppp_escapes = getattr(sim, "ppp_escapes", 0) + 1
        command_mode(sim, ["OK"])  # online command state: the call stays up
