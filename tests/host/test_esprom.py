"""The emulated ROM loader (mobiot.esprom, mobiot.espboard) against the real esptool CLI.

Expected values come from the chips' documents and esptool's own tables (GigaDevice RDID
bytes, Espressif OUIs, chip descriptions), not from the emulator's output. Each command runs
with the flasher stub and without it (--no-stub: what esptool does with the ROM alone).
"""

from __future__ import annotations

import hashlib

import pytest
from esphelp import BOARD, OFFSET, EmulatedBoard, esptool, image

from mobiot.espboard import EN_RISE_S

CHIPS = ["esp32", "esp32s3"]
STUB = [True, False]
# GigaDevice GD25Q32C / GD25Q128C, "Read Identification (RDID)": C8h, 40h, 16h (32 Mbit) / 18h (128 Mbit)
FLASH_ID = {"esp32": ("c8", "4016", "4MB"), "esp32s3": ("c8", "4018", "16MB")}
DESCRIPTION = {"esp32": "ESP32-D0WD-V3 (revision v3.0)", "esp32s3": "ESP32-S3 (QFN56) (revision v0.2)"}


@pytest.fixture(params=CHIPS)
def board(request, tmp_path):
    b = EmulatedBoard(tmp_path / "vb", BOARD[request.param])
    b.chip = request.param
    yield b
    b.stop()


@pytest.mark.parametrize("stub", STUB, ids=["stub", "rom"])
def test_sync_detect_mac_flash_id(board, stub):
    out = esptool(board.port, "flash-id", stub=stub).stdout
    assert f"Chip type:          {DESCRIPTION[board.chip]}" in out
    oui = {"esp32": "24:0a:c4", "esp32s3": "34:85:18"}[board.chip]  # Espressif's IEEE OUIs
    assert f"MAC:                {oui}:10:00:00" in out
    mfr, dev, size = FLASH_ID[board.chip]
    assert f"Manufacturer: {mfr}" in out and f"Device: {dev}" in out and f"Detected flash size: {size}" in out
    assert ("Stub flasher running." in out) == stub
    assert "Changed." in out  # CHANGE_BAUDRATE to 921600, then the rest at the new rate


def test_boot_banner_on_erased_flash(tmp_path):
    import os
    import select

    b = EmulatedBoard(tmp_path / "vb", "sim")
    try:
        fd = os.open(b.port, os.O_RDWR | os.O_NOCTTY)
        b.b.set_lines(dtr=False, rts=True)  # EN low: reset ...
        b.b.set_lines(dtr=False, rts=False)  # ... released with IO0 high: boot from flash
        got = b""
        while b"invalid header: 0xffffffff\r\n" * 8 not in got:
            r, _, _ = select.select([fd], [], [], 20)
            assert r, got
            got += os.read(fd, 4096)
        os.close(fd)
        assert b"rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)" in got
    finally:
        b.stop()


@pytest.mark.parametrize("stub", STUB, ids=["stub", "rom"])
@pytest.mark.parametrize("compress", [True, False], ids=["deflate", "plain"])
def test_write_flash_lands_byte_for_byte(board, tmp_path, stub, compress):
    path, data = image(tmp_path, board.chip)
    out = esptool(board.port, "write-flash", "--compress" if compress else "--no-compress",
                  hex(OFFSET[board.chip]), str(path), stub=stub).stdout
    assert "Hash of data verified." in out  # esptool's SPI_FLASH_MD5 check of the region
    off = OFFSET[board.chip]
    assert board.flash(off, len(data)) == data
    if off:
        assert board.flash(0, off) == b"\xff" * off  # nothing below the ESP32's 0x1000
    assert board.flash(off + len(data) + 0x1000, 0x1000) == b"\xff" * 0x1000


# Without the stub nothing takes the ROM back to 115200 between esptool runs (on a chip too:
# it would need a reset), so ROM sessions that follow one another stay at 115200.
def rate(stub: bool) -> int:
    return 921600 if stub else 115200


@pytest.mark.parametrize("stub", STUB, ids=["stub", "rom"])
def test_read_and_verify_flash(board, tmp_path, stub):
    path, data = image(tmp_path, board.chip, app_size=8 * 1024)
    off = OFFSET[board.chip]
    esptool(board.port, "write-flash", hex(off), str(path), stub=stub, baud=rate(stub))
    n = 0x400 if not stub else 0x3000  # READ_FLASH_SLOW moves 64 bytes a command
    esptool(board.port, "read-flash", hex(off), hex(n), str(tmp_path / "back.bin"), stub=stub, baud=rate(stub))
    assert (tmp_path / "back.bin").read_bytes() == data[:n]
    out = esptool(board.port, "verify-flash", hex(off), str(path), stub=stub, baud=rate(stub)).stdout
    assert "Verification successful" in out
    other, _ = image(tmp_path, board.chip, app_size=8 * 1024, seed=2)
    bad = esptool(board.port, "verify-flash", hex(off), str(other), stub=stub, check=False, baud=rate(stub))
    assert bad.returncode != 0 and "Verification failed (digest mismatch)" in bad.stdout


def test_erase_flash_and_region_with_stub(board, tmp_path):
    path, data = image(tmp_path, board.chip)
    off = OFFSET[board.chip]
    esptool(board.port, "write-flash", hex(off), str(path))
    esptool(board.port, "erase-region", "0x9000", "0x1000")
    after = board.flash(off, len(data))
    pt = 0x9000 - off
    assert after[pt:pt + 0x1000] == b"\xff" * 0x1000
    assert after[:pt] == data[:pt] and after[pt + 0x1000:] == data[pt + 0x1000:]
    esptool(board.port, "erase-flash")
    assert hashlib.sha256(board.flash()).digest() == hashlib.sha256(b"\xff" * len(board.flash())).digest()


def test_rom_erases_regions_but_not_the_whole_flash(board, tmp_path):
    path, data = image(tmp_path, board.chip)
    off = OFFSET[board.chip]
    esptool(board.port, "write-flash", hex(off), str(path), stub=False, baud=115200)
    esptool(board.port, "erase-region", "0x9000", "0x1000", stub=False, baud=115200)  # via FLASH_BEGIN
    assert board.flash(0x9000, 0x1000) == b"\xff" * 0x1000
    assert board.flash(off, 0x9000 - off) == data[:0x9000 - off]
    full = esptool(board.port, "erase-flash", stub=False, check=False, baud=115200)
    assert full.returncode != 0  # ERASE_FLASH is a stub command: esptool refuses it on the ROM


def test_auto_reset_circuit_follows_en_rc_delay(tmp_path):
    """EN rises through its RC delay: IO0 low when EN crosses the threshold means download mode,
    whatever the lines did before; a glitch through (DTR, RTS) = (1, 1) does not boot early."""
    b = EmulatedBoard(tmp_path / "vb", "sim")
    try:
        b.pause.set()
        board = b.b
        t = 1000.0
        board.lines = [(t, False, True)]  # EN low (RTS asserted, DTR not)
        board._lines_tick(t)
        assert board.en_low
        # ClassicReset: DTR on (both asserted: EN released, IO0 still high) then RTS off
        # (IO0 low) a little later, then DTR off after 50 ms
        board.lines += [(t + 0.100, True, True), (t + 0.101, True, False), (t + 0.150, False, False)]
        board._lines_tick(t + 0.1005)
        assert board.boot_at == pytest.approx(t + 0.100 + EN_RISE_S)
        assert board._io0_low_at(board.boot_at)
        t = 2000.0
        board.lines = [(t, False, True)]
        board._lines_tick(t)
        # IO0 goes low only after EN has crossed its threshold: too late, boots from flash
        board.lines += [(t + 0.100, True, True), (t + 0.100 + 2 * EN_RISE_S, True, False)]
        board._lines_tick(t + 0.1005)
        assert board.boot_at == pytest.approx(t + 0.100 + EN_RISE_S)
        assert not board._io0_low_at(board.boot_at)
        board._lines_tick(t + 0.2)  # the boot happens: from flash, which is erased
        assert board.rom is not None and board.boot_at is None
    finally:
        b.stop()


def test_reset_over_rfc2217_enters_the_loader(board):
    out = esptool(board.url, "chip-id", before="default-reset", after="hard-reset", baud=115200).stdout
    assert "Hard resetting via RTS pin" in out
    assert f"Connected to {'ESP32' if board.chip == 'esp32' else 'ESP32-S3'}" in out
