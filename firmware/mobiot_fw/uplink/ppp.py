# PPP over the modem's UART (docs/uplink.md "Transports"), for uplink.transport "ppp"; imported
# only for it (uplink/part.py), so other boards never hold this code (docs/memory.md).
#
# PppLink: the modem part stops its AT traffic (cell/lifecycle.py ModemPart.hold: no command
# while the UART carries PPP, so no timeout counts toward the hang policy), the modem enters
# data mode with its model's dial command (cell/models.py "ppp": ATD*99***<cid>#, 3GPP TS 27.007
# §10.2.1.1 "Request packet domain service 'D'": CONNECT, then PPP frames), the AT engine lets go
# of the UART, and network.PPP(uart).connect() (MicroPython docs "class PPP": connect,
# isconnected, disconnect; made by hw.Platform.ppp) runs PPP over it. down(): disconnect (LCP
# Terminate: the modem ends the call, NO CARRIER), then the escape "+++" with > 1 s of silence
# before and after (S12 guard time; Quectel EC200x PPP Application Note §4.1.1) for a modem
# still in data mode, a CR so that a modem already in command mode takes the "+++" as one bad
# line, the AT engine takes the UART back, ATH hangs up (V.250 §6.3.6), and the modem part
# resumes its polls.
# PppStream: NetSock (uplink/net.py) after PppLink.up(); it watches the link, and when PPP drops
# (the modem said NO CARRIER, the network ended the call) it closes its socket, as lwIP aborts
# the sockets of a netif that went down, and takes the link down, so the session reconnects
# (and dials again) while the modem part polls in between.
import asyncio
import time

from micropython import const

from .mqtt import LinkError
from .net import NetSock, code_of, secret

_PPP_UP_MS = const(30000)  # LCP + IPCP (the EC200x PPP note gives IPCP 90 s at most; ours is local)
_GUARD_MS = const(1100)  # > the 1 s escape guard time (S12 default 50 x 20 ms, V.250 §6.3.x)
_DIAL_MS = const(30000)  # ATD*99# answers CONNECT or NO CARRIER once the bearer is up or refused
_WATCH_MS = const(500)  # how often PppStream looks whether PPP is still up
_SETTLE_MS = const(300)  # the modem's answer to that last line (V.250 modems answer in < 100 ms)


class PppLink:
    """PPP over the modem's UART: up() pauses the modem part's AT traffic, dials and starts
    network.PPP; down() ends it, gives the UART back to the AT engine and resumes the modem part.
    part: cell/lifecycle.py ModemPart (hold, release, modem.at); new_ppp(uart): the platform's
    (hw.Platform.ppp); dial: the model's dial command (cell/models.py "ppp")."""

    def __init__(self, part, new_ppp, dial, user=None, key=None, clock=None):
        self.part = part
        self.new_ppp = new_ppp
        self.dial = dial
        self.user = user
        self.key = key
        self.clock = clock or time.ticks_ms
        self.ppp = None
        self.dials = 0
        self.drops = 0
        self._lock = asyncio.Lock()

    def ready(self):
        return self.ppp is not None and self.ppp.isconnected()

    async def up(self):
        async with self._lock:
            if self.ready():
                return
            if self.ppp is not None:
                await self._down()  # it dropped: back to command mode before dialling again
            part = self.part
            if not await part.hold():
                raise LinkError("modem", 0)  # the modem part did not come to rest
            at = part.modem.at
            self.dials += 1
            try:
                _, final = await at.cmd(self.dial, _DIAL_MS)
            except OSError:  # NO CARRIER, ERROR, no answer
                part.release()
                raise LinkError("network", 0)
            if not final.startswith("CONNECT"):
                part.release()
                raise LinkError("network", 0)
            at.stop()  # from here the UART carries PPP frames, not AT lines
            p = self.new_ppp(at.uart)
            self.ppp = p
            if self.user:
                p.connect(security=p.SEC_PAP, user=self.user, key=self.key or "")
            else:
                p.connect()
            t0 = self.clock()
            while not p.isconnected():
                if time.ticks_diff(self.clock(), t0) > _PPP_UP_MS:
                    await self._down()
                    raise LinkError("network", 0)
                await asyncio.sleep_ms(100)

    async def down(self):
        async with self._lock:
            await self._down()

    async def _down(self):
        p = self.ppp
        self.ppp = None
        part = self.part
        at = part.modem.at
        uart = at.uart
        if p is not None:
            p.disconnect()
        # back to command mode: guard, "+++", guard (a modem that already said NO CARRIER takes
        # it, with the CR, as one bad command line), then the AT engine owns the UART again
        await asyncio.sleep_ms(_GUARD_MS)
        uart.write(b"+++")
        await asyncio.sleep_ms(_GUARD_MS)
        uart.write(b"\r")
        await asyncio.sleep_ms(_SETTLE_MS)
        uart.read()  # what PPP left unread, the escape's OK, the ERROR for a "+++" line: not answers
        at.reset()
        at.start()
        try:
            await at.cmd("ATH", 5000)  # end the call the escape kept (online command state)
        except OSError:
            pass  # NO CARRIER / ERROR: the call had ended already
        part.release()

    def lost(self):
        """PPP dropped under a connection: count it and take the link down (in the background;
        up() waits for it)."""
        self.drops += 1
        asyncio.create_task(self.down())


class PppStream(NetSock):
    """NetSock that brings PPP up before it connects, and closes when PPP drops."""

    def __init__(self, link, secret=None, resolve=None):
        super().__init__("ppp", secret, resolve)
        self.link = link
        self.dropped = False

    async def open(self, host, port, tls, ca):
        await self.link.up()
        self.dropped = False
        await super().open(host, port, tls, ca)
        asyncio.create_task(self._watch())

    async def _watch(self):
        link = self.link
        while not self.closed:
            await asyncio.sleep_ms(_WATCH_MS)
            if not self.closed and not link.ready():
                self.dropped = True
                self.close()  # the IP link is gone, and this socket with it
                link.lost()
                return

    def _err(self, e):
        if self.dropped:
            return LinkError("network", code_of(e))
        return super()._err(e)

    async def write(self, mv):
        if self.dropped:
            raise LinkError("network", 0)
        await super().write(mv)

    async def read_into(self, mv):
        n = await super().read_into(mv)
        if not n and self.dropped:
            raise LinkError("network", 0)
        return n


def ppp_uplink(t):
    """(stream factory, ready) for uplink.transport "ppp", or the reason it is not available:
    a board without a modem, a model without PPP dial-up (cell/models.py "ppp"), firmware without
    network.PPP (hw.Platform.ppp() without a stream). The APN login is secrets.json modem.apn_user /
    apn_password (PAP), as for the modem's own bearer."""
    mp = t.modem
    if mp is None:
        return "no modem"
    from mobiot_fw import once

    _, lines = once("mobiot_fw.cell.models").row(mp.mc["model"])  # the table is not kept
    i = lines.find("\nppp ")
    if i < 0:
        return "the modem model has no PPP dial-up"
    if not t.plat.ppp():
        return "this firmware has no network.PPP"
    dial = lines[i + 5 : lines.find("\n", i + 1)].replace("{cid}", "1")
    user, key = _apn_login()
    link = PppLink(mp, t.plat.ppp, dial, user=user, key=key)
    holder = []

    def stream():
        if not holder:
            holder.append(PppStream(link, secret))
        return holder[0]

    def ready():
        m = mp.modem
        return m is not None and m.registered() and not m.needs_attach

    return stream, ready


def _apn_login():
    import json

    from mobiot_fw.cell import certs

    try:
        with open(certs.SECRETS) as f:
            m = json.load(f).get("modem") or {}
    except (OSError, ValueError):
        m = {}
    return m.get("apn_user") or None, m.get("apn_password") or None
