"""`mobiot flash` and `mobiot boards` against emulated boards (mobiot.espboard) with real
esptool: images checked before anything is erased, the download path and the SHA-256 lock
against a local HTTP server, chip detection, a board that hangs mid-write, provisioning."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from esphelp import ROOT, EmulatedBoard, image, mobiot

from mobiot import espimage


@pytest.fixture
def board(tmp_path):
    b = EmulatedBoard(tmp_path / "vb", "sim")
    yield b
    b.stop()


@pytest.fixture
def server(tmp_path):
    """A local HTTP server (no network in CI) serving tmp_path/www."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield www, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def env_for(tmp_path: Path, mirror: str = "") -> dict:
    return {"MOBIOT_CACHE": str(tmp_path / "cache"), "MOBIOT_IMAGES_LOCK": str(tmp_path / "images.lock"),
            "MOBIOT_FIRMWARE_MIRROR": mirror}


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode != 0, proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("mobiot: error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def fill_pattern(b: EmulatedBoard) -> str:
    """Something on the board's flash that an erase would destroy; returns its hash."""
    assert b.b.flash is not None
    b.b.flash.program(0x1000, bytes(range(256)) * 64)
    return hashlib.sha256(b.flash()).hexdigest()


def test_help_and_boards_table():
    out = mobiot("flash", "--help")
    assert out.returncode == 0 and "--no-provision" in out.stdout and "--firmware" in out.stdout
    table = mobiot("boards", "--json")
    rows = {r["name"]: r for r in json.loads(table.stdout)}
    files = {p.stem: json.loads(p.read_text()) for p in (ROOT / "boards").glob("*.json")}
    assert set(rows) == set(files)
    for name, b in files.items():
        assert rows[name]["chip"] == b["chip"] and rows[name]["modem"] == b["modem"]["model"]
        assert rows[name]["micropython"] == (b["micropython"]["version"] if "micropython" in b else "(virtual)")
    shown = mobiot("boards", "show", "lilygo-t-sim7080g-s3")
    assert json.loads(shown.stdout) == files["lilygo-t-sim7080g-s3"]
    assert "no " in one_line_error(mobiot("boards", "show", "nosuchboard"))


def _corrupt(data: bytes) -> bytes:
    b = bytearray(data)
    b[100] ^= 0x55  # inside the bootloader's first segment: its checksum no longer matches
    return bytes(b)


def _oversize(data: bytes) -> bytes:
    return data + b"\xff" * (4 * 1024 * 1024 - len(data))  # ends past 4 MB once at 0x1000


@pytest.mark.parametrize("kind,make,reason", [
    ("corrupt", _corrupt, "corrupt image (checksum"),
    ("not-an-image", lambda d: b"\x7fELF" + d[4:], "not an ESP image"),
    ("wrong-chip", None, "image is for esp32s3, the board has an esp32"),
    ("oversize", _oversize, "do not fit in 4 MB of flash"),
])
def test_bad_images_are_refused_before_anything_is_erased(board, tmp_path, kind, make, reason):
    before = fill_pattern(board)
    if kind == "wrong-chip":
        path, _ = image(tmp_path, "esp32s3")
    else:
        good, data = image(tmp_path, "esp32")
        path = tmp_path / f"{kind}.bin"
        path.write_bytes(make(data))
    err = one_line_error(mobiot("flash", "--port", board.url, "--board", "sim", "--firmware", str(path),
                                "--no-provision"))
    assert str(path) in err and reason in err
    assert hashlib.sha256(board.flash()).hexdigest() == before


def test_chip_on_the_port_must_match_the_board(tmp_path):
    b = EmulatedBoard(tmp_path / "vb", "sim-s3")  # an ESP32-S3 answers
    try:
        before = fill_pattern(b)
        path, _ = image(tmp_path, "esp32")
        err = one_line_error(mobiot("flash", "--port", b.url, "--board", "sim", "--firmware", str(path),
                                    "--no-provision"))
        assert "ESP32-S3" in err and "nothing erased" in err
        assert hashlib.sha256(b.flash()).hexdigest() == before
    finally:
        b.stop()


def test_a_port_with_no_esp32_gives_one_line(tmp_path):
    master, slave = os.openpty()  # a port nobody answers on
    try:
        path, _ = image(tmp_path, "esp32")
        t0 = time.monotonic()
        err = one_line_error(mobiot("flash", "--port", os.ttyname(slave), "--board", "sim", "--firmware",
                                    str(path), "--no-provision", "--before", "no-reset"))
        elapsed = time.monotonic() - t0
        assert "no ESP32 answers" in err and os.ttyname(slave) in err
        assert elapsed < 60  # a deadline only a hang reaches; the 10 s goal is measured in bench
    finally:
        os.close(master)
        os.close(slave)


def test_download_pin_flash_and_boot(board, tmp_path, server):
    www, url = server
    _, data = image(tmp_path, "esp32")
    (www / "mobiot-test-esp32.bin").write_bytes(data)  # the file named in boards/sim.json
    env = env_for(tmp_path, url)
    err = one_line_error(mobiot("flash", "--port", board.url, "--board", "sim", "--no-provision", env=env))
    assert "not pinned" in err and "mobiot boards pin sim" in err
    pinned = mobiot("boards", "pin", "sim", env=env)
    assert pinned.returncode == 0, pinned.stderr
    sha = hashlib.sha256(data).hexdigest()
    assert f"{sha}  mobiot-test-esp32.bin" in (tmp_path / "images.lock").read_text()
    assert "pinned" in pinned.stderr  # it says so
    done = mobiot("flash", "--port", board.url, "--board", "sim", "--no-provision", "--json", env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)[0]
    assert result["chip"] == "ESP32" and result["bytes"] == len(data)
    assert board.flash(0x1000, len(data)) == data
    assert board.flash(0, 0x1000) == b"\xff" * 0x1000
    # the hard reset at the end boots MicroPython, its littlefs inside flash.bin, empty but for
    # the boot.py MicroPython writes on first boot
    board.wait_for(board.app_running, what="MicroPython to boot")
    # (esptool switched the port to 921600; the RFC 2217 server put the pty back at 115200)
    ls = subprocess.run([str(Path(sys.executable).with_name("mpremote")), "connect", board.port, "ls", ":"],
                        capture_output=True, text=True, timeout=60)
    assert ls.returncode == 0, ls.stderr
    assert [ln.split()[-1] for ln in ls.stdout.splitlines()[1:] if ln.strip()] == ["boot.py"]
    vfs = espimage.TEST_LAYOUT[-1]
    assert board.flash(vfs.offset, 4096) != b"\xff" * 4096  # littlefs was formatted there
    assert not (board.b.dir / "flash.img").exists()


def test_sha_mismatch_is_refused(board, tmp_path, server):
    www, url = server
    _, data = image(tmp_path, "esp32")
    (www / "mobiot-test-esp32.bin").write_bytes(data)
    env = env_for(tmp_path, url)
    assert mobiot("boards", "pin", "sim", env=env).returncode == 0
    cached = tmp_path / "cache" / "mobiot-test-esp32.bin"
    _, other = image(tmp_path, "esp32", seed=7)  # a valid image, just not the pinned one
    cached.write_bytes(other)
    before = fill_pattern(board)
    err = one_line_error(mobiot("flash", "--port", board.url, "--board", "sim", "--no-provision", env=env))
    assert str(cached) in err and "does not match" in err
    assert hashlib.sha256(board.flash()).hexdigest() == before


def test_a_board_that_stops_answering_mid_write_then_a_rerun_completes(board, tmp_path, monkeypatch):
    from mobiot import esprom

    path, data = image(tmp_path, "esp32", app_size=400 * 1024)
    real = esprom.Rom._flash_data
    hung = threading.Event()

    def flaky(self, op, body, chk):
        if op == esprom.FLASH_DEFL_DATA and not hung.is_set() and int.from_bytes(body[4:8], "little") == 2:
            hung.set()
            board.pause.set()  # the board goes silent mid-write (a loose cable, a brown-out)
            return None
        return real(self, op, body, chk)

    monkeypatch.setattr(esprom.Rom, "_flash_data", flaky)
    monkeypatch.setitem(esprom.Rom.HANDLERS, esprom.FLASH_DEFL_DATA, flaky)
    args = ("flash", "--port", board.url, "--board", "sim", "--firmware", str(path), "--no-provision")
    err = one_line_error(mobiot(*args))
    assert hung.is_set() and board.url in err and "stopped answering while writing" in err and "again" in err
    board.pause.clear()  # plugged back in
    again = mobiot(*args)
    assert again.returncode == 0, again.stderr
    assert board.flash(0x1000, len(data)) == data


def test_default_path_provisions_the_flashed_port(board, tmp_path, monkeypatch):
    """Until mobiot.provision lands (the provisioning issue), its provision_port is stood in for."""
    import types

    from mobiot import cli

    calls = []
    fake = types.ModuleType("mobiot.provision")
    fake.provision_port = lambda port, board, **kw: calls.append((port, board, kw)) or {"ok": True}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "mobiot.provision", fake)
    path, data = image(tmp_path, "esp32")
    assert cli.main(["flash", "--port", board.url, "--board", "sim", "--firmware", str(path)]) == 0
    assert calls == [(board.url, "sim", {})]
    assert board.flash(0x1000, len(data)) == data


def test_make_flash_needs_a_board_with_a_port():
    proc = subprocess.run(["make", "-n", "flash", "PORT=/dev/ttyUSB0"], capture_output=True, text=True, cwd=ROOT,
                          env={k: v for k, v in os.environ.items() if k != "BOARD"})
    assert proc.returncode != 0 and "BOARD" in proc.stderr
    ok = subprocess.run(["make", "-n", "flash", "PORT=/dev/ttyUSB0", "BOARD=lilygo-t-sim7000g"],
                        capture_output=True, text=True, cwd=ROOT)
    assert ok.returncode == 0 and "--port /dev/ttyUSB0 --board lilygo-t-sim7000g" in ok.stdout
