# TLS material into the modem's own file system (docs/uplink.md "TLS material"): provisioning
# puts the CA (and a client certificate and key, where used) on the board's flash under
# /certs/<name>; before a TLS connection the socket transport calls ensure(), which writes a file
# into the modem with the model's own commands (the dialect's put_file: SIM7080G / SIM7000G
# AT+CFSWFILE, A76XX AT+CCERTDOWN, Quectel AT+QFUPL) once per boot, and again when it changed.
# A file that is not on the board's flash is taken to be in the modem already (put there by
# hand or by an older boot); the modem's own open then says whether it is.
import binascii
import os

from micropython import const

DIR = "/certs"
MAX_BYTES = const(10240)  # the smallest file limit of the dialects (SIM7080 AT+CFSWFILE, A76XX
# AT+CCERTDOWN: 10240 bytes)

_done = {}  # name -> (size, crc32) written into the modem since boot


def local(name):
    """The bytes of /certs/<name> on the board's flash, or None."""
    try:
        if os.stat(DIR + "/" + name)[6] > MAX_BYTES:
            raise ValueError("%s/%s: larger than %d bytes" % (DIR, name, MAX_BYTES))
        with open(DIR + "/" + name, "rb") as f:
            return f.read()
    except OSError:
        return None


async def ensure(sock, name):
    """Write /certs/<name> into the modem through sock.put_file unless this version is there
    already (since boot). True when it wrote. Raises OSError (the modem refused it) or
    ValueError (too large)."""
    if not name:
        return False
    data = local(name)
    if data is None:
        return False
    key = (len(data), binascii.crc32(data))
    if _done.get(name) == key:
        return False
    await sock.put_file(name, data)
    _done[name] = key
    return True


def forget():
    """The modem lost its files (a new modem, a factory reset): write them again."""
    _done.clear()
