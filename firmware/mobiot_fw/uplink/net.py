# The uplink over MicroPython's own IP stack (docs/uplink.md "Transports"): network.WLAN on a
# board without a modem, and network.PPP over the modem's UART. The network interfaces come from
# the platform (hw.py: the one module that touches network); this module only uses them and the
# socket / ssl / asyncio modules every port has.
#
# NetSock: the stream the MQTT client reads and writes (open, write, read_into, close), by
# asyncio.open_connection, with TLS by ssl.SSLContext(PROTOCOL_TLS_CLIENT) and CERT_REQUIRED
# against the CA of secrets.json tls.ca (docs/provisioning.md "Secrets"); the server name is
# checked (server_hostname). A handshake that fails is LinkError("tls"), never plain TCP.
# Written by hand: MicroPython's asyncio streams are the library; this is the thin adapter.
#
# WlanLink: ready() while the station is connected; when it is not, it asks the interface to
# connect (network.WLAN.connect returns at once and joins in the background, MicroPython docs
# "class WLAN", connect and isconnected), at most every _RETRY_MS, so ready() never blocks.
#
# PppLink: the modem enters data mode with ATD*99***<cid># (3GPP TS 27.007 §10.2.1.1, "Request
# packet domain service 'D'": CONNECT then PPP frames), the AT engine lets go of the UART, and
# network.PPP(uart).connect() (MicroPython docs "class PPP": connect, isconnected, disconnect)
# runs PPP over it; after disconnect the modem is back in command mode once it has sent NO
# CARRIER (the escape "+++" with a 1 s guard time before and after, V.250 §6.3.x / the modems'
# manuals, brings it there when the network keeps the call up).
import asyncio
import errno
import time

from micropython import const

from .mqtt import LinkError

_RETRY_MS = const(10000)
_PPP_UP_MS = const(30000)
_GUARD_MS = const(1100)  # > the 1 s escape guard time (S12 default, V.250 §6.3.x)


def ca_der(pem):
    """The DER bytes of a PEM certificate (MicroPython's mbedTLS takes DER in cadata)."""
    import binascii

    out = []
    inside = False
    for ln in pem.split(b"\n"):
        ln = ln.strip()
        if ln.startswith(b"-----BEGIN"):
            inside = True
        elif ln.startswith(b"-----END"):
            break
        elif inside and ln:
            out.append(ln)
    return binascii.a2b_base64(b"".join(out))


class NetSock:
    NAME = "net"

    def __init__(self, name="net", ca_pem=None):
        self.NAME = name
        self.ca_pem = ca_pem  # () -> PEM bytes or None (cell/certs.local("ca"))
        self.r = None
        self.w = None
        self.closed = True
        self._hs = False

    async def open(self, host, port, tls, ca):
        ctx = None
        if tls:
            import ssl

            pem = self.ca_pem() if self.ca_pem is not None else None
            if not pem:
                raise LinkError("tls", 0)  # no CA: no TLS, and never plain TCP instead
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.verify_mode = ssl.CERT_REQUIRED
            try:
                ctx.load_verify_locations(cadata=ca_der(pem))
            except (OSError, ValueError):
                raise LinkError("tls", 0)
        import socket

        try:
            socket.getaddrinfo(host, port)
        except OSError as e:
            raise LinkError("dns", e.args[0] if e.args and isinstance(e.args[0], int) else 0)
        try:
            # the TLS handshake runs with the first write and read (MicroPython's
            # open_connection wraps with do_handshake_on_connect=False)
            self.r, self.w = await asyncio.open_connection(host, port, ssl=ctx)  # pyright: ignore
        except OSError as e:
            raise LinkError("refused" if _code(e) == errno.ECONNREFUSED else "connect", _code(e))
        self.closed = False
        self._hs = tls  # until the first bytes came back, an error is the handshake's

    def _err(self, e):
        # MicroPython's ssl raises ValueError("...not correctly signed by the trusted CA") when
        # the server's certificate fails verification, OSError for the other TLS errors
        if self._hs or isinstance(e, ValueError):
            return LinkError("tls", _code(e))  # certificate not verified, name mismatch, ...
        return e

    async def write(self, mv):
        if self.closed or self.w is None:
            raise OSError(errno.ENOTCONN)
        try:
            self.w.write(mv)
            await self.w.drain()
        except (OSError, ValueError) as e:
            raise self._err(e)

    async def read_into(self, mv):
        if self.closed or self.r is None:
            return 0
        sock = self.r.s  # pyright: ignore[reportAttributeAccessIssue]
        while True:
            try:
                # first straight from the (non-blocking) socket: TLS keeps decrypted bytes of
                # a record inside mbedTLS, where polling the TCP socket does not see them, so a
                # stream that only waited for "readable" could wait for ever
                n = sock.readinto(mv)
                if n is None:
                    n = await self.r.readinto(mv)  # pyright: ignore[reportAttributeAccessIssue]
            except (OSError, ValueError) as e:
                raise self._err(e)
            if n is not None:
                break
            # None: nothing for the application yet (a TLS record or the handshake is not
            # complete: mbedTLS "want read"); 0 is the end of the stream
            await asyncio.sleep_ms(10)
        if not n:
            self.closed = True
            if self._hs:
                raise LinkError("tls", 0)  # the server ended the handshake
        self._hs = False
        return n or 0

    def close(self):
        self.closed = True
        w = self.w
        self.w = self.r = None
        if w is not None:
            w.close()
            asyncio.create_task(_closed(w))


def _code(e):
    return e.args[0] if e.args and isinstance(e.args[0], int) else 0


async def _closed(w):
    try:
        await w.wait_closed()  # MicroPython's asyncio closes the socket here
    except OSError:
        pass


class WlanLink:
    def __init__(self, nic, ssid, key, clock=None):
        self.nic = nic
        self.ssid = ssid
        self.key = key
        self.clock = clock or time.ticks_ms
        self._asked = None

    def ready(self):
        nic = self.nic
        if nic.isconnected():
            return True
        now = self.clock()
        if self._asked is None or time.ticks_diff(now, self._asked) >= _RETRY_MS:
            self._asked = now
            try:
                nic.connect(self.ssid, self.key)
            except OSError:
                pass  # the interface is busy joining: ask again later
        return False


class PppLink:
    """PPP over the modem's UART: up() dials and starts network.PPP, down() ends it and gives the
    UART back to the AT engine. new_ppp(uart) is the platform's (hw.Platform.ppp)."""

    def __init__(self, at, uart, new_ppp, cid=1, user=None, key=None, clock=None):
        self.at = at
        self.uart = uart
        self.new_ppp = new_ppp
        self.cid = cid
        self.user = user
        self.key = key
        self.clock = clock or time.ticks_ms
        self.ppp = None

    def ready(self):
        return self.ppp is not None and self.ppp.isconnected()

    async def up(self):
        if self.ready():
            return
        at = self.at
        try:
            _, final = await at.cmd("ATD*99***%d#" % self.cid, 30000)
        except OSError:  # NO CARRIER, ERROR, no answer
            raise LinkError("network", 0)
        if not final.startswith("CONNECT"):
            raise LinkError("network", 0)
        at.stop()  # from here the UART carries PPP frames, not AT lines
        p = self.new_ppp(self.uart)
        self.ppp = p
        if self.user:
            p.connect(security=p.SEC_PAP, user=self.user, key=self.key or "")
        else:
            p.connect()
        t0 = self.clock()
        while not p.isconnected():
            if time.ticks_diff(self.clock(), t0) > _PPP_UP_MS:
                await self.down()
                raise LinkError("network", 0)
            await asyncio.sleep_ms(100)

    async def down(self):
        p = self.ppp
        self.ppp = None
        if p is not None:
            p.disconnect()
        # back to command mode: guard, "+++", guard (a modem that already said NO CARRIER
        # ignores it), then the AT engine owns the UART again
        await asyncio.sleep_ms(_GUARD_MS)
        self.uart.write(b"+++")
        await asyncio.sleep_ms(_GUARD_MS)
        self.at.reset()
        self.at.start()


class PppStream(NetSock):
    """NetSock that brings PPP up before it connects."""

    def __init__(self, link, ca_pem=None):
        super().__init__("ppp", ca_pem)
        self.link = link

    async def open(self, host, port, tls, ca):
        await self.link.up()
        await super().open(host, port, tls, ca)


def wlan_uplink(plat):
    """(stream factory, ready) for uplink.transport "wlan", or None without credentials. The
    station's SSID and key are secrets.json wlan.ssid / wlan.password; the CA of a TLS broker is
    tls.ca (cell/certs.py: the one reader of secrets.json's path)."""
    import json

    from mobiot_fw.cell import certs

    try:
        with open(certs.SECRETS) as f:
            w = json.load(f).get("wlan") or {}
    except (OSError, ValueError):
        w = {}
    if not w.get("ssid"):
        return None

    link = WlanLink(plat.wlan(), w["ssid"], w.get("password") or "")
    return (lambda: NetSock("wlan", lambda: certs.local("ca"))), link.ready
