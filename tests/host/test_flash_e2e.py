"""The whole path on virtual hardware, as on a real board: `mobiot vboard --erased` (a bare
board: ROM only), `mobiot flash` (downloads the pinned image, flashes it, resets, provisions),
then `mobiot collect` stores the board's records."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from esphelp import ROOT, image, mobiot
from test_flash import env_for, server  # noqa: F401  (the local HTTP server fixture)

from vbhelp import VBoards

try:
    from mobiot.provision import provision_port  # type: ignore[attr-defined]
except ImportError:
    provision_port = None


class ErasedVBoards(VBoards):
    """`mobiot vboard --erased` as a subprocess: .boards is [(pty, device id, rfc2217 url)]."""

    def __init__(self, state_dir: Path, count: int = 1, board: str = "sim"):  # noqa: PLW0231
        self.state_dir = Path(state_dir)
        self.log = open(f"{state_dir}.vboard.log", "ab")
        cmd = [sys.executable, "-m", "mobiot", "vboard", "--erased", "--count", str(count), "--board", board,
               "--state-dir", str(state_dir)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log, cwd=str(ROOT))
        assert self.proc.stdout is not None
        self.boards = []
        for _ in range(count):
            fields = self.proc.stdout.readline().decode().split()
            if len(fields) != 3:
                self.stop()
                raise RuntimeError(f"vboard --erased printed {fields!r}")
            self.boards.append(tuple(fields))


def test_vboard_erased_prints_port_id_and_rfc2217_url(tmp_path):
    vb = ErasedVBoards(tmp_path / "vb", count=2, board="sim-s3")
    try:
        ports = [b[0] for b in vb.boards]
        assert all(os.path.exists(p) for p in ports) and len(set(ports)) == 2
        assert all(b[2].startswith("rfc2217://127.0.0.1:") for b in vb.boards)
        for _, did, _ in vb.boards:
            flash = tmp_path / "vb" / did / "flash.bin"
            assert flash.stat().st_size == 16 * 1024 * 1024  # the sim-s3 definition's 16MB
            with open(flash, "rb") as f:  # erased NOR flash reads 0xFF
                assert f.read(1 << 20) == b"\xff" * (1 << 20)
    finally:
        vb.stop()


@pytest.mark.skipif(provision_port is None,
                    reason="mobiot.provision.provision_port (the provisioning issue) is not on this branch; "
                           "the lead runs this at merge")
def test_bare_board_to_records_in_the_collector(tmp_path, server):  # noqa: F811
    www, url = server
    _, data = image(tmp_path, "esp32")
    (www / "mobiot-test-esp32.bin").write_bytes(data)
    env = env_for(tmp_path, url)
    vb = ErasedVBoards(tmp_path / "vb")
    try:
        pty, did, rfc = vb.boards[0]
        assert mobiot("boards", "pin", "sim", env=env).returncode == 0
        # flashed and provisioned through the URL (it carries the reset lines), as over a
        # network serial server (esp_rfc2217_server)
        done = mobiot("flash", "--port", rfc, "--board", "sim", env=env, timeout=600)
        assert done.returncode == 0, done.stderr
        assert "provisioned" in done.stdout
        # again, as a fleet's inventory would: now with the device id
        prov = mobiot("provision", "--port", rfc, "--board", "sim", "--device-id", did, env=env, timeout=300)
        assert prov.returncode == 0, prov.stderr
        db = tmp_path / "c.sqlite"
        col = mobiot("collect", "--port", pty, "--db", str(db), "--duration", "60", "--no-dashboard", env=env,
                     timeout=180)
        assert col.returncode == 0, col.stderr
        with sqlite3.connect(db) as c:
            n = c.execute("SELECT count(*) FROM records").fetchone()[0]
        assert n > 0
    finally:
        vb.stop()
