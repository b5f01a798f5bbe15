# The uplink over MicroPython's own IP stack (docs/uplink.md "Transports"): network.WLAN on a
# board without a modem, and (uplink/ppp.py) network.PPP over the modem's UART. The network interfaces come from
# the platform (hw.py: the one module that touches network); this module only uses them and the
# socket / ssl / asyncio modules every port has.
#
# NetSock: the stream the MQTT client reads and writes (open, write, read_into, close), by
# asyncio.open_connection, with TLS by ssl.SSLContext(PROTOCOL_TLS_CLIENT) and CERT_REQUIRED
# against the CA of secrets.json tls.ca (docs/provisioning.md "Secrets"); the server name is
# checked (server_hostname is the configured host, also when the address came from elsewhere).
# With tls.cert and tls.key the context presents that client certificate (MicroPython docs
# "ssl": SSLContext.load_cert_chain(certfile, keyfile), DER bytes on mbedTLS); only one of the
# two is LinkError("tls", certs.HALF_PAIR), as on the modem path. A handshake that fails is
# LinkError("tls"), never plain TCP.
# Written by hand: MicroPython's asyncio streams are the library; this is the thin adapter.
#
# WlanLink: ready() while the station is connected; when it is not, it asks the interface to
# connect (network.WLAN.connect returns at once and joins in the background, MicroPython docs
# "class WLAN", connect and isconnected), at most every _RETRY_MS, so ready() never blocks.
#
# PPP over the modem's UART is uplink/ppp.py (loaded only for uplink.transport "ppp"): its
# stream is a NetSock too.
import asyncio
import errno
import time

from micropython import const

from .mqtt import LinkError

_RETRY_MS = const(10000)


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

    def __init__(self, name="net", secret=None, resolve=None):
        self.NAME = name
        self.secret = secret  # key -> PEM bytes or None: cell/certs.local ("ca", "cert", "key")
        # (host, port) -> address: socket.getaddrinfo's; tests give names of their own, as the
        # modem simulator's hosts map does
        self.resolve = resolve
        self.r = None
        self.w = None
        self.closed = True
        self._hs = False

    def _ctx(self):
        # the TLS context of secrets.json tls: its CA, and its client pair when it has one
        import ssl

        get = self.secret or _none
        pem = get("ca")
        if not pem:
            raise LinkError("tls", 0)  # no CA: no TLS, and never plain TCP instead
        cert, key = get("cert"), get("key")
        if (cert is None) != (key is None):
            from mobiot_fw.cell.certs import HALF_PAIR

            raise LinkError("tls", HALF_PAIR)  # never TLS without the certificate we were given half of
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.verify_mode = ssl.CERT_REQUIRED
        try:
            ctx.load_verify_locations(cadata=ca_der(pem))
            if cert is not None:
                ctx.load_cert_chain(ca_der(cert), ca_der(key))  # pyright: ignore[reportArgumentType]
        except (OSError, ValueError, TypeError):
            raise LinkError("tls", 0)
        return ctx

    async def open(self, host, port, tls, ca):
        ctx = self._ctx() if tls else None
        try:
            if self.resolve is not None:
                addr = self.resolve(host, port)
            else:
                import socket

                socket.getaddrinfo(host, port)
                addr = host
        except OSError as e:
            raise LinkError("dns", code_of(e))
        try:
            # the TLS handshake runs with the first write and read (MicroPython's
            # open_connection wraps with do_handshake_on_connect=False); the certificate must
            # name the configured host, whatever address it was reached at
            self.r, self.w = await asyncio.open_connection(addr, port, ssl=ctx,  # pyright: ignore
                                                           server_hostname=host if tls else None)
        except OSError as e:
            raise LinkError("refused" if code_of(e) == errno.ECONNREFUSED else "connect", code_of(e))
        self.closed = False
        self._hs = tls  # until the first bytes came back, an error is the handshake's

    def _err(self, e):
        # MicroPython's ssl raises ValueError("...not correctly signed by the trusted CA") when
        # the server's certificate fails verification, OSError for the other TLS errors
        if self._hs or isinstance(e, ValueError):
            return LinkError("tls", code_of(e))  # certificate not verified, name mismatch, ...
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


def code_of(e):
    """The errno of an OSError, or 0."""
    return e.args[0] if e.args and isinstance(e.args[0], int) else 0


def _none(key):
    return None


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


def secret(key):
    """secrets.json tls.<key> (PEM bytes) or None: what NetSock's secret() is on a board."""
    from mobiot_fw.cell import certs

    return certs.local(key)


def wlan_uplink(plat):
    """(stream factory, ready) for uplink.transport "wlan", or None without credentials. The
    station's SSID and key are secrets.json wlan.ssid / wlan.password; the CA of a TLS broker is
    tls.ca, the client pair tls.cert / tls.key (cell/certs.py: the one reader of secrets.json's
    path)."""
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
    return (lambda: NetSock("wlan", secret)), link.ready
