# `!sum` (docs/protocol.md; docs/provisioning.md "Nothing changed"): what `mobiot provision`
# needs to see that a running board is up to date without stopping it. The hello frame's fwid
# covers the firmware files and board.json (the manifest's firmware entries); this answers for
# the per-device files, which the firmware itself may rewrite (`!interval`, `!config`), by
# hashing them as they are on flash now. Loaded for the command and dropped (mobiot_fw.once),
# so a board holds none of it.
import binascii
import hashlib
import os

from micropython import const

_DIGEST_HEX = const(16)  # 64 bits: tells files apart, not meant to resist a forger
_CHUNK = const(256)


def _sha(path, buf):
    # sha256 hex of a file, b"" when absent; read into one small buffer (a secrets file with TLS
    # keys is several KB)
    try:
        f = open(path, "rb")
    except OSError:
        return b""
    h = hashlib.sha256()
    mv = memoryview(buf)
    while True:
        n = f.readinto(buf)
        if not n:
            break
        h.update(mv[:n])
    f.close()
    return binascii.hexlify(h.digest())


def devsum(root):
    """The device-file digest of the files under `root` ("" = the current directory): the first
    16 hex digits of sha256 over "<path> <sha256 hex>\\n" for config.json, then secrets.json,
    each only when present (mobiot.prov_build.device_digest computes the same on the host)."""
    h = hashlib.sha256()
    buf = bytearray(_CHUNK)
    for name in ("config.json", "secrets.json"):  # mobiot.prov_build.DEVICE_FILES, in path order
        d = _sha(root + name, buf)
        if d:
            h.update(name)
            h.update(b" ")
            h.update(d)
            h.update(b"\n")
    return binascii.hexlify(h.digest())[:_DIGEST_HEX].decode()


def clean(root):
    """No leftover of an unfinished provisioning run in the flash root: P.new or P.old of a
    root file of the deployed tree, manifest.old, manifest.tmp.new (the probe of the full path
    removes them; a pending manifest.new boot.py has finished before main.py). Files of the
    crash guard and of the queue are not provisioning's and do not count."""
    for e in os.ilistdir(root or "."):
        n = e[0]
        if (n.endswith(".new") or n.endswith(".old")) and n[:-4] in (
                "manifest", "manifest.tmp", "boot.py", "main.py", "board.json", "config.json", "secrets.json"):
            return False
    return True


def cmd(c, _verb, _args, tr):
    """Answer `!sum` for the Commands object c through transport tr."""
    if c.wake is None:
        tr.reply("sum", False, "safe mode")  # safe mode: provisioning takes its full path
        return
    from mobiot_fw.hw import Platform  # held by the app already

    p = c.cfg_path
    root = p[: p.rfind("/") + 1]
    # uid: what a fleet inventory matches a board by (docs/provisioning.md "Inventory")
    tr.reply("sum", True, None, (("devsum", devsum(root)), ("clean", clean(root)), ("uid", Platform({}).unique_id())))
