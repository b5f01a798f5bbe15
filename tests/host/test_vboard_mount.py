"""`mpremote mount DIR run script.py` on a board (a virtual one unless --port is given).

The mount protocol's requests are binary (host/mobiot/vbmount.py): a 0x0a byte in them (a
length of 10, command 10 = remove, data) once came out of vboard as 0x0d 0x0a and mpremote
hung. These tests drive the real mpremote, with deadlines only a hang reaches.
"""

from __future__ import annotations

from array import array

import test_vboard

from mobiot.vbmount import LAYOUTS, MountFrames
from vbhelp import mpremote

target = test_vboard.target  # the fixture: the real board given with --port, else a virtual one

SCRIPT = """\
from array import array
import os
a = array("h", [1, 2, 3, 1000, -5, 10, 2570])
n = open("/remote/out.bin", "wb").write(a)
print("wrote", n)
data = open("/remote/in.bin", "rb").read()
print("read", len(data), data == bytes(range(256)))
os.remove("/remote/gone.txt")
os.rename("/remote/old.txt", "/remote/newname10.txt")
print("done")
"""


def test_mount_run_writes_an_array_reads_binary_removes_and_renames(target, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "in.bin").write_bytes(bytes(range(256)))  # 0x03, 0x0a, 0x0d, 0x18 among them
    (d / "gone.txt").write_text("x")
    (d / "old.txt").write_text("y")
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    proc = mpremote(target, "mount", str(d), "run", str(script), timeout=120)
    want = array("h", [1, 2, 3, 1000, -5, 10, 2570]).tobytes()
    assert (d / "out.bin").read_bytes() == want
    assert "wrote 14" in proc.stdout
    assert "read 256 True" in proc.stdout
    assert not (d / "gone.txt").exists()
    assert (d / "newname10.txt").read_text() == "y"
    assert "done" in proc.stdout


def _frame(cmd: int, *fields: bytes | int) -> bytes:
    out = bytearray((0x18, cmd))
    for f in fields:
        if isinstance(f, bytes):
            out += len(f).to_bytes(4, "little") + f
        else:
            out += f.to_bytes(1, "little") if f < 256 else f.to_bytes(4, "little")
    return bytes(out)


def test_split_passes_requests_raw_and_text_cooked_even_one_byte_at_a_time():
    text1, text2 = b"hello\n", b"bye\n"
    req = _frame(8, 3, b"\n\n\x18\x0a") + _frame(10, b"/array.mpy") + _frame(3) + _frame(6, 1) + bytes(4)
    stream = text1 + req + text2
    for step in (len(stream), 1, 3, 7):
        f = MountFrames()
        pieces = []
        for i in range(0, len(stream), step):
            pieces += f.split(stream[i:i + step])
        raw = b"".join(p for p, r in pieces if r)
        cooked = b"".join(p for p, r in pieces if not r)
        assert raw == req, step
        assert cooked == text1 + text2, step


def test_a_ctrl_x_that_starts_no_request_is_text():
    f = MountFrames()
    assert f.split(b"a\x18zb") == [(b"a", False), (b"\x18z", False), (b"b", False)]
    assert 0x7A not in LAYOUTS
