# TLS material into the modem's own file system (docs/uplink.md "TLS material and time").
# Provisioning puts the CA (and a client certificate and key, where used) on the board in
# secrets.json, section "tls", keys "ca", "cert", "key" as PEM text (docs/provisioning.md
# "Secrets"). Before its first TLS connection after boot, the socket transport calls ensure(),
# which writes the PEM into the modem under the name the config gives (uplink.ca) with the
# model's own commands (the dialect's put_file: SIM7080G / SIM7000G AT+CFSWFILE, A76XX
# AT+CCERTDOWN, Quectel AT+QFUPL). New secrets come with a new provisioning, which restarts the
# board, so once per boot is enough. Without a tls.<key> secret the file is taken to be in the
# modem already (put there by hand); the modem's TLS open then says whether it is.
# Mutual TLS: with both tls.cert and tls.key, client() writes them too, under CERT and KEY, and
# the dialect names them in its TLS context; only one of the two is HalfPair (a tls error event,
# code HALF_PAIR), never TLS without the client certificate the server may require.
import json

from micropython import const

SECRETS = "secrets.json"  # on the board's flash (provisioning; tests point it elsewhere)
MAX_BYTES = const(10240)  # the smallest file limit of the dialects (SIM7080 AT+CFSWFILE, A76XX
# AT+CCERTDOWN: 10240 bytes)

CERT = "client.pem"  # the client certificate's and key's names in the modem (A76XX AT+CCERTDOWN
KEY = "clientkey.pem"  # takes only names ending .pem or .der)
HALF_PAIR = const(-2)  # the uplink_error code of a tls.cert without tls.key, or the reverse

_done = set()  # names written into the modem since boot


def local(key):
    """The PEM bytes of secrets.json tls.<key> ("ca", "cert", "key"), or None."""
    try:
        with open(SECRETS) as f:
            v = (json.load(f).get("tls") or {}).get(key)
    except (OSError, ValueError):
        return None
    if not v:
        return None
    v = v.encode()
    if len(v) > MAX_BYTES:
        raise ValueError("%s: tls.%s is larger than %d bytes" % (SECRETS, key, MAX_BYTES))
    return v


async def ensure(sock, name, key="ca"):
    """Write tls.<key> into the modem as <name> through sock.put_file, once per boot. True when
    it wrote. Raises OSError (the modem refused it) or ValueError (too large)."""
    if not name or name in _done:
        return False
    data = local(key)
    if data is None:
        return False
    await sock.put_file(name, data)
    _done.add(name)
    return True


class HalfPair(ValueError):
    """secrets.json has tls.cert or tls.key, not both."""


async def client(sock):
    """tls.cert and tls.key into the modem as CERT and KEY (once per boot): (CERT, KEY), or None
    when secrets.json has neither (server authentication only). Raises HalfPair for one without
    the other, else what ensure() raises."""
    has_cert = local("cert") is not None
    if has_cert != (local("key") is not None):
        raise HalfPair("%s: tls.%s without tls.%s" % (SECRETS, "cert" if has_cert else "key",
                                                      "key" if has_cert else "cert"))
    if not has_cert:
        return None
    await ensure(sock, CERT, "cert")
    await ensure(sock, KEY, "key")
    return CERT, KEY


def forget():
    """The modem lost its files (a new modem, a factory reset): write them again."""
    _done.clear()
