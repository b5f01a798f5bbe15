"""The scripts `mobiot provision` runs on a board (host/mobiot/prov_board.py), run by the
MicroPython unix port on a folder that stands for the board's flash."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from mobiot import prov_board
from mobiot.upy import FIRMWARE_DIR, micropython


def _run(code: str, cwd: Path) -> str:
    proc = subprocess.run([micropython(), "-c", code], cwd=str(cwd), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_the_roll_forward_sent_is_the_firmwares_own(tmp_path):
    """One roll-forward: what the host sends is firmware/mobiot_fw/manifest.py roll_forward()
    (the code boot.py runs), and it finishes a decided run on the board."""
    src = (FIRMWARE_DIR / "mobiot_fw" / "manifest.py").read_text()
    assert "def roll_forward():" in prov_board.ROLL_FORWARD and "def fwid" not in prov_board.ROLL_FORWARD
    for line in ("os.rename(p + '.new', p)", "os.rename(p, p + '.old')", "os.rename(_COMMIT, _MANIFEST)"):
        assert line in prov_board.ROLL_FORWARD and line.replace("'", '"') in src
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "a.mpy.new").write_bytes(b"new a")
    (tmp_path / "lib" / "a.mpy").write_bytes(b"old a")
    (tmp_path / "gone.py").write_bytes(b"removed")
    (tmp_path / "manifest.json").write_text('{"fwid": "old"}')
    (tmp_path / "manifest.new").write_text(json.dumps({"fwid": "new", "apply": ["lib/a.mpy"], "remove": ["gone.py"]}))
    out = _run(prov_board.ROLL_FORWARD.replace("%%", "%") + "print(roll_forward(), roll_forward())\n", tmp_path)
    assert out.split() == ["True", "False"]  # done once; again: nothing pending
    assert (tmp_path / "lib" / "a.mpy").read_bytes() == b"new a"
    assert (tmp_path / "gone.py.old").read_bytes() == b"removed" and not (tmp_path / "gone.py").exists()
    assert json.loads((tmp_path / "manifest.json").read_text())["fwid"] == "new"
    assert not (tmp_path / "manifest.new").exists()


def test_the_probe_answers_in_lines(tmp_path):
    """The probe's hashes come a line a file, not as one JSON string a small heap cannot hold."""
    (tmp_path / "main.py").write_bytes(b"print(1)\n")
    (tmp_path / "manifest.json").write_text(json.dumps({"fwid": "f1", "files": {"main.py": "x", "old.py": "y"}}))
    (tmp_path / "main.py.new").write_bytes(b"left by an interrupted run")
    out = _run(prov_board.PROBE % {"want": ["main.py", "boot.py"]}, tmp_path).splitlines()
    head = json.loads(out[0])
    assert head["fwid"] == "f1" and head["impl"][0] == "micropython" and "hash" not in head
    rows = sorted((tuple(line.split(" ", 2)) for line in out[1:-1]), key=lambda r: r[2])
    sha_main = hashlib.sha256(b"print(1)\n").hexdigest()
    assert rows == [("-", "-", "boot.py"), ("M", sha_main, "main.py"), ("M", "-", "old.py")]
    assert out[-1] == "end" and not (tmp_path / "main.py.new").exists()
