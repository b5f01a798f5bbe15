# `!sum` (firmware/mobiot_fw/link/filesum.py, docs/protocol.md): the digest of the per-device
# files as they are on flash, and whether a provisioning run left anything unfinished, answered
# through the command dispatcher (link/commands.py) on real littlefs in RAM. The expected digest
# is computed here from the documented formula, not by the code under test.
import binascii
import hashlib
import os
import sys

import fileblockdev as fb
from mobiot_fw.link.commands import Commands
from mobiot_fw.link.proto import encode_command

MNT = "/tsum"


class Tr:
    def __init__(self):
        self.replies = []

    def reply(self, cmd, ok, err=None, extra=None):
        self.replies.append((cmd, ok, err, dict(extra or ())))


class Q:
    pass


def _rig(wake=True):
    path = "/tmp/mobiot-test-filesum.img"
    try:
        os.remove(path)
    except OSError:
        pass
    fb.mount(fb.FileBlockDev(path, 64), MNT, mkfs=True)
    return Commands(Q(), {}, MNT + "/config.json", wake=object() if wake else None)


def _put(name, data):
    with open(MNT + "/" + name, "wb") as f:
        f.write(data)


def _expected(files):
    # docs/provisioning.md "Nothing changed": sha256 over "<path> <sha256 hex>\n" of
    # config.json, then secrets.json, those present; the first 16 hex digits
    h = hashlib.sha256()
    for name, data in files:
        h.update(("%s %s\n" % (name, binascii.hexlify(hashlib.sha256(data).digest()).decode())).encode())
    return binascii.hexlify(h.digest()).decode()[:16]


def _sum(c):
    tr = Tr()
    c.handle(encode_command("sum"), tr)
    (cmd, ok, err, extra), = tr.replies
    assert cmd == "sum" and ok and err is None, tr.replies
    return extra


def test_the_digest_covers_config_and_secrets_as_they_are_on_flash():
    c = _rig()
    cfg = b'{"device_id":"7","board":"sim"}\n'
    _put("config.json", cfg)
    _put("board.json", b'{"name":"sim"}')  # in the firmware id, not in this digest
    one = _sum(c)
    import machine  # sim/machine.py: the board's unique id, as hw.Platform gives it

    uid = "".join("%02x" % b for b in machine.unique_id())
    assert one == {"devsum": _expected([("config.json", cfg)]), "clean": True, "uid": uid}, one
    sec = b'{"mqtt":{"password":"x"}}\n' + b"k" * 3000  # longer than the read buffer
    _put("secrets.json", sec)
    two = _sum(c)["devsum"]
    assert two == _expected([("config.json", cfg), ("secrets.json", sec)]) != one["devsum"]
    _put("secrets.json", sec[:-1] + b"K")  # one byte of a secret
    assert _sum(c)["devsum"] not in (two, one["devsum"])
    _put("config.json", b'{"device_id":"7","board":"sim","interval_s":9}\n')  # as !interval writes it
    assert _sum(c)["devsum"] != two
    assert "mobiot_fw.link.filesum" not in sys.modules  # loaded for the command and dropped


def test_leftovers_of_a_provisioning_run_are_not_clean_other_files_are():
    c = _rig()
    _put("config.json", b"{}")
    os.mkdir(MNT + "/q")
    for name in ("crash.old", "crash.log", "q/st.new", "notes.old"):
        _put(name, b"x")
    assert _sum(c)["clean"] is True
    for name in ("main.py.new", "manifest.old", "config.json.old", "manifest.tmp.new", "boot.py.old"):
        _put(name, b"x")
        assert _sum(c)["clean"] is False, name
        os.remove(MNT + "/" + name)
    assert _sum(c)["clean"] is True


def test_safe_mode_answers_no():
    c = _rig(wake=False)  # safe mode: no report cycle (safe.py)
    tr = Tr()
    c.handle(encode_command("sum"), tr)
    assert tr.replies == [("sum", False, "safe mode", {})], tr.replies
