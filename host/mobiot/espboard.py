"""A virtual board with erased flash (`mobiot vboard --erased`): only the chip's ROM, until real
esptool flashes an image; then a reset boots MicroPython (the unix port, as vboard's other
boards) with its littlefs filesystem inside the board's flash file.

Contract: docs/flashing.md ("Emulator scope"). The board's parts:
- flash: STATE_DIR/<id>/flash.bin, the board's flash size (a sparse file), SPI NOR semantics
  (mobiot.esprom.Flash);
- the ROM serial loader and the stub (mobiot.esprom.Rom), throttled to the UART's baud rate,
  autobauding on SYNC as the ROM does, garbling when the host runs at another rate;
- the classic two-transistor auto-reset circuit of ESP32 dev boards (ESP32-DevKitC V4
  schematic, Q1/Q2 UMH3N: EN is pulled low only when RTS is asserted and DTR is not, IO0 only
  when DTR is asserted and RTS is not), with EN's RC delay (ESP32 Series Datasheet, "Power-up
  and Reset Timing" / DevKitC: R = 10 kOhm, C = 1 uF on CHIP_PU). The chip leaves reset when
  EN crosses its high threshold (0.75 VDD, datasheet "DC Characteristics" V_IH) and latches
  IO0 then (datasheet, "Strapping Pins"): low -> serial download, high -> boot from flash;
- the lines come over RFC 2217 (mobiot.portserver); a plain pty has none (`--before no-reset`).

A board whose flash holds no valid image for its chip prints what the ROM prints on such a
boot (its banner, "invalid header: 0x........") and, unlike a real chip, which would loop on
its RTC watchdog, then waits in the serial loader, so that esptool --before no-reset reaches
it on a plain pty.
"""

from __future__ import annotations

import json
import math
import os
import select
import signal
import sys
import threading
import time
from pathlib import Path

from . import espimage
from .errors import MobiotError
from .esprom import CHIPS, Flash, Rom
from .vboard import SOFT_RESET, Board, board_definition

EN_RC_S = 10e3 * 1e-6  # R * C on CHIP_PU: 10 kOhm * 1 uF = 10 ms
EN_RISE_S = EN_RC_S * math.log(1 / (1 - 0.75))  # time to reach V_IH = 0.75 VDD: 13.9 ms
INVALID_HEADER_LINES = 8  # printed before the ROM's RTC watchdog would reset it
# Espressif's IEEE OUIs (24:0A:C4 on ESP32 modules, 34:85:18 on ESP32-S3): one stable MAC each
OUI = {"esp32": bytes.fromhex("240ac4"), "esp32s3": bytes.fromhex("348518")}


def flash_facts(board_def: dict) -> tuple[int, int]:
    """(flash size in bytes, image offset) from a board definition."""
    size = espimage.FLASH_SIZES.get(str(board_def.get("flash_size", "")))
    if size is None or "flash_offset" not in board_def:
        raise MobiotError(f"board {board_def.get('name')!r}: flash_size and flash_offset are needed for --erased")
    return size, int(board_def["flash_offset"])


class ErasedBoard(Board):
    """One emulated board: ROM loader over the pty (and RFC 2217), MicroPython once flashed."""

    def __init__(self, index: int, state_dir: Path, baud: int, scenario: dict | None, heap: str,
                 board_name: str = "sim"):
        super().__init__(index, state_dir, baud, scenario, True, heap, board_name)
        self.board_def = board_definition(board_name, scenario)
        chip = self.board_def.get("chip")
        if chip not in CHIPS:
            raise MobiotError(f"board {board_name!r}: chip {chip!r} has no emulated ROM")
        self.chip = CHIPS[chip]
        self.flash_size, self.offset = flash_facts(self.board_def)
        self.mac = OUI[chip] + (0x100000 + index).to_bytes(3, "big")
        self.flash: Flash | None = None
        self.rom: Rom | None = None
        self.rom_baud = 115200  # the UART's rate while the ROM runs; self.baud is the app's
        self.app_baud = baud
        self.pending: list[tuple[str, int | None]] = []
        self.lock = threading.Lock()
        self.lines: list[tuple[float, bool, bool]] = [(0.0, True, True)]  # (t, dtr, rts), asserted = True
        self.en_low = False
        self.line_t = 0.0  # time of the last line change replayed
        self.boot_at: float | None = None
        self.url = ""
        self.server = None

    # -- flash -----------------------------------------------------------------------------
    def prepare(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.flash = Flash(self.dir / "flash.bin", self.flash_size)
        self._write_sim(None)
        (self.dir / "port").write_text(self.port + "\n")

    def _write_sim(self, vfs: espimage.Partition | None) -> None:
        sim = {"index": self.index, "device_id": self.device_id, "scenario": self.scenario, "board": self.board_def}
        if vfs is not None:
            sim["flash"] = {"file": "flash.bin", "offset": vfs.offset, "size": vfs.size}
        (self.dir / "sim.json").write_text(json.dumps(sim))

    def bootable(self) -> tuple[espimage.Partition | None, str]:
        """The vfs partition if a valid image for this chip sits at its offset, else why not."""
        assert self.flash is not None
        head = self.flash.read(self.offset, 4)
        first = int.from_bytes(head, "little") if len(head) == 4 else 0xFFFFFFFF
        try:
            img = espimage.parse_image(self.flash.read(self.offset, espimage.PARTITION_TABLE_OFFSET - self.offset))
            if img.chip_id != self.chip.image_chip_id:
                return None, f"invalid chip id: {img.chip_id}"  # a bootloader built for another chip
            parts = espimage.parse_partitions(self.flash.read(espimage.PARTITION_TABLE_OFFSET, 0xC00))
            apps = [p for p in parts if p.type == 0]
            if not apps:
                return None, "no app partition"
            espimage.parse_image(self.flash.read(apps[0].offset, apps[0].size))
            vfs = espimage.vfs_partition(parts)
            if vfs is None:
                return None, "no vfs partition"
            return vfs, ""
        except espimage.ImageError:
            return None, f"invalid header: {first:#010x}"

    # -- reset and boot ------------------------------------------------------------------------
    def set_lines(self, dtr: bool | None = None, rts: bool | None = None) -> None:
        """DTR / RTS from the host (True = asserted, as pyserial's .dtr/.rts)."""
        with self.lock:
            _, d, r = self.lines[-1]
            d = d if dtr is None else dtr
            r = r if rts is None else rts
            self.lines.append((time.monotonic(), d, r))
            del self.lines[:-64]

    def _io0_low_at(self, t: float) -> bool:
        state = self.lines[0]
        for entry in self.lines:
            if entry[0] <= t:
                state = entry
        _, d, r = state
        return d and not r

    def _lines_tick(self, now: float) -> None:
        """Replay the line changes since the last call in order: EN falls at once, rises
        through its RC delay; IO0 is read at the moment EN crosses the threshold."""
        with self.lock:
            for t, d, r in self.lines:
                if t <= self.line_t or t > now:
                    continue
                self.line_t = t
                en_low = r and not d
                if en_low and not self.en_low:
                    self._power_off()
                elif not en_low and self.en_low:
                    self.boot_at = t + EN_RISE_S
                self.en_low = en_low
            if self.boot_at is not None and now >= self.boot_at:
                download = self._io0_low_at(self.boot_at)
                self.boot_at = None
                self._boot(download)

    def _power_off(self) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
            self.proc = None
        if self.inner is not None:
            os.close(self.inner)
            self.inner = None
        self.rom = None
        self.spawn_at = None
        self.boot_at = None
        self.pending.clear()
        del self.in_buf[:]
        del self.out_buf[:]  # what sat in the UART's FIFO is lost

    def _boot(self, download: bool, rst: str = "") -> None:
        self._power_off()
        self.baud = self.rom_baud = 115200
        if not download:
            vfs, why = self.bootable()
            if vfs is not None:
                self._write_sim(vfs)
                self.baud = self.app_baud
                self.spawn_args = ("run", 1)
                super()._do_spawn()
                return
            lines = self.chip.rom_banner + self.chip.boot_flash + (why + "\r\n") * INVALID_HEADER_LINES
        else:
            lines = self.chip.rom_banner + self.chip.boot_download
            if rst:
                lines = lines.replace(self.chip.boot_download.split(",", 1)[0], rst, 1)
        assert self.flash is not None
        self.rom = Rom(self.chip, self.flash, self.mac)
        self.emit(lines.encode())
        print(f"vboard: {self.device_id} in the ROM serial loader ({'download' if download else 'no image'})",
              file=sys.stderr, flush=True)

    def _do_spawn(self) -> None:
        # Board.step calls this when the app process is to start again: a soft reset restarts
        # MicroPython; any other reset goes through the ROM, which looks at the flash again.
        if self.spawn_args[1] == SOFT_RESET:
            super()._do_spawn()
        else:
            self.spawn_at = None
            self._boot(False)

    # -- the pump ----------------------------------------------------------------------------
    def step(self, timeout: float) -> None:
        now = time.monotonic()
        self._lines_tick(now)
        if self.boot_at is not None or len(self.lines) > 1 and now - self.lines[-1][0] < 0.5:
            timeout = min(timeout, 0.002)  # a reset sequence is under way: follow it closely
        if self.rom is None:
            if self.en_low:
                r, _, _ = select.select([self.master], [], [], timeout)
                if r:
                    try:
                        os.read(self.master, 4096)  # a chip in reset hears nothing
                    except OSError:
                        pass
                return
            super().step(timeout)
            return
        self._rom_step(now, timeout)

    def _rom_step(self, now: float, timeout: float) -> None:
        rom = self.rom
        assert rom is not None
        self._check_host_baud(now)
        if not rom.synced:
            self.rom_baud = self.host_baud  # autobaud: the ROM measures the SYNC frame's 0x55s
        self.baud = self.rom_baud
        busy = self.out_buf or self.in_buf
        r, _, _ = select.select([self.master], [], [], min(timeout, 0.002 if busy else timeout))
        if r:
            try:
                data = os.read(self.master, 65536)
            except (BlockingIOError, OSError):
                data = b""
            if data and len(self.in_buf) < 1 << 20:
                self.in_buf += data
        now = time.monotonic()
        self._check_host_baud(now)  # the rate the bytes just read were sent at
        rate = self.baud / 10.0  # 8N1
        if self.in_buf:
            allow = int((now - max(self.t_in, now - 0.02)) * rate)  # no credit for idle time
            if allow > 0:
                n = min(allow, len(self.in_buf))
                chunk = bytes(self.in_buf[:n])
                del self.in_buf[:n]
                self.t_in = max(self.t_in + n / rate, now - 0.02)
                if self.host_baud != self.baud:
                    chunk = bytes(b & 0x7C | 0x80 for b in chunk)  # a UART at the wrong rate: noise
                rom.feed(chunk)
        else:
            self.t_in = now
        self.out_buf += rom.take()
        self.pending += rom.events
        rom.events.clear()
        self._flush(now)
        while self.pending and not self.out_buf:  # each takes effect once its reply is out
            what, arg = self.pending.pop(0)
            if what == "baud" and arg:
                self.rom_baud = self.baud = arg
                self.t_in = self.t_out = time.monotonic()
            elif what == "run":
                self._boot(False)
                return
            elif what == "reset":
                # a software reset keeps the boot mode latched at the last chip reset (ESP32
                # TRM, "Reset and Clock": strapping is sampled at power-on / chip reset only),
                # and esptool uses it to leave the stub for the ROM loader (soft_reset(True))
                self._boot(True, rst=self.chip.sw_reset)
                return

    def start(self) -> None:
        """Power on (IO0 high: boot from flash) and serve the port over RFC 2217."""
        from .portserver import Rfc2217Server

        self.server = Rfc2217Server(self)
        self.url = self.server.url
        self.spawn_args = ("run", 1)
        self.spawn_at = time.monotonic()

    def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        super().stop()
        if self.flash is not None:
            self.flash.close()
