"""A virtual board gets the same /board.json that provisioning writes: the device form
(mobiot.boarddef.device_json), and its firmware starts from it."""

from __future__ import annotations

import json

from mobiot import boarddef
from vbhelp import SerialWatch, VBoards, mpremote


def test_virtual_board_flash_holds_the_device_form_and_the_firmware_runs_on_it(tmp_path):
    with VBoards(tmp_path / "boards", 1, "--board", "sim-s3") as vb:
        port, did = vb.boards[0]
        on_board = mpremote(port, "fs", "cat", ":board.json").stdout
        assert json.loads(on_board) == boarddef.device_form(boarddef.load("sim-s3"))
        assert "_src" not in on_board and "description" not in on_board
        with SerialWatch(port) as s:  # soft reset: boot.py and main.py run with that file
            s.write(b"\r\x03\x03\r\x02")
            s.read_until(b">>> ", 120)
            s.write(b"\x04")
            s.read_until(b"@H ", 120)
            hello = s.read_until(b"\r\n", 120)
        # the firmware names its board from the device form's "name" (hello frame, docs/protocol.md)
        assert b'"board":"sim-s3"' in hello.replace(b" ", b""), hello
