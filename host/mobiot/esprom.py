"""An emulated ESP32 / ESP32-S3 ROM serial bootloader (and esptool's flasher stub), for tests
and `mobiot vboard --erased` only: never part of flashing a real board.

Contract: docs/flashing.md ("Emulator scope"). Protocol: Espressif, esptool documentation,
Advanced Topics, "Serial Protocol" (docs.espressif.com/projects/esptool/en/latest/esp32/
advanced-topics/serial-protocol.html): SLIP framing; request = direction 0x00, command, size
(u16), checksum (u32, XOR of the data payload seeded 0xEF for the *_DATA commands), data;
response = direction 0x01, command, size, value (u32, READ_REG's result), data ending in the
status bytes: 4 from the ESP32/ESP32-S3 ROM (status, error, 2 reserved), 2 from the stub.
Chip facts are esptool 5.6.0's (esptool/targets/esp32.py ESP32ROM, esp32s3.py ESP32S3ROM),
quoted next to each use. Pure protocol: `feed()` takes the bytes the host sent, `take()`
returns what the chip answers; time, baud rate and pins belong to mobiot.espboard.

Written by hand because no library emulates the ROM loader (esptool is only the host side).
The emulator cannot run the stub's Xtensa code: it recognises the stub esptool uploads (the
same bytes as esptool's own targets/stub_flasher/*/<chip>.json), then answers as the stub does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

# ---- commands (esptool loader.py ESPLoader.ESP_CMDS; Serial Protocol, "Commands") ----------
FLASH_BEGIN, FLASH_DATA, FLASH_END = 0x02, 0x03, 0x04
MEM_BEGIN, MEM_END, MEM_DATA = 0x05, 0x06, 0x07
SYNC, WRITE_REG, READ_REG = 0x08, 0x09, 0x0A
SPI_SET_PARAMS, SPI_ATTACH, READ_FLASH_SLOW, CHANGE_BAUDRATE = 0x0B, 0x0D, 0x0E, 0x0F
FLASH_DEFL_BEGIN, FLASH_DEFL_DATA, FLASH_DEFL_END, SPI_FLASH_MD5 = 0x10, 0x11, 0x12, 0x13
GET_SECURITY_INFO = 0x14
ERASE_FLASH, ERASE_REGION, READ_FLASH, RUN_USER_CODE = 0xD0, 0xD1, 0xD2, 0xD3  # stub only

# ROM loader errors (Serial Protocol, "ROM Loader Errors")
ROM_INVALID_MSG, ROM_FAILED, ROM_BAD_CRC, ROM_DEFLATE_ERROR = 0x05, 0x06, 0x07, 0x0B
# Stub errors (esptool flasher_stub/include/stub_flasher.h, esp_command_error)
STUB_BAD_DATA_LEN, STUB_BAD_CHECKSUM, STUB_INVALID_CMD = 0xC0, 0xC1, 0xC3
STUB_NOT_IN_FLASH_MODE, STUB_INFLATE_ERROR, STUB_TOO_MUCH_DATA, STUB_NOT_IMPLEMENTED = 0xC6, 0xC7, 0xC9, 0xFF

CHECKSUM_SEED = 0xEF
SECTOR = 0x1000  # esptool ESPLoader.FLASH_SECTOR_SIZE: the flash's erase unit
SYNC_BODY = b"\x07\x07\x12\x20" + b"\x55" * 32  # Serial Protocol, "Initial Synchronisation"
SYNC_REPLIES = 8  # esptool loader.py sync(): one reply read, then 7 more drained
SYNC_VALUE = 0x20120707  # any non-zero value: esptool takes 0 for "the stub already runs"

# SPI user-command registers (esptool loader.py run_spiflash_command; ESP32 TRM, "SPI")
SPI_CMD_USR = 1 << 18
SPI_USR_ADDR = 1 << 30
SPI_USR2_COMMAND_LEN_SHIFT = 28
SPI_USR_ADDR_LEN_SHIFT = 26
# SPI NOR commands answered (JEDEC JESD216 for SFDP; GigaDevice GD25Q32C / GD25Q128C
# datasheets, "Read Identification (RDID) (9FH)": manufacturer C8h, memory type 40h, capacity
# 16h = 4 MB, 18h = 16 MB; esptool cmds.py DETECTED_FLASH_SIZES maps the capacity byte).
RDID, RDSFDP, RDSR, RDSR2, RDSR3 = 0x9F, 0x5A, 0x05, 0x35, 0x15
SFDP_SIGNATURE = 0x50444653  # "SFDP", esptool cmds.py _verify_flash_connection
FLASH_CAPACITY_ID = {1 << 20: 0x14, 2 << 20: 0x15, 4 << 20: 0x16, 8 << 20: 0x17, 16 << 20: 0x18, 32 << 20: 0x19}
GIGADEVICE, GD_MEMORY_TYPE = 0xC8, 0x40

ESP32_XTAL_HZ = 40_000_000  # ESP32-DevKitC / WROOM modules: 40 MHz crystal


@dataclass(frozen=True)
class Chip:
    """One chip model's facts, as esptool reads them (targets/<chip>.py)."""

    name: str  # board-file chip name
    esptool_name: str  # esptool CHIP_NAME
    image_chip_id: int  # IMAGE_CHIP_ID, also GET_SECURITY_INFO's chip_id
    magic: int  # value at CHIP_DETECT_MAGIC_REG_ADDR 0x40001000
    security_info: bool  # ROM answers GET_SECURITY_INFO (SECURITY_INFO_SUPPORTED)
    spi_base: int
    spi_usr: int
    spi_usr1: int
    spi_usr2: int
    spi_mosi_dlen: int
    spi_miso_dlen: int
    spi_w0: int
    spi_addr_msb: bool  # SPI_ADDR_REG_MSB
    uart_clkdiv_reg: int
    stub_json: str
    app_offset: int  # where the ROM looks for the second-stage bootloader (BOOTLOADER_FLASH_OFFSET)
    regs: dict[int, int] = field(default_factory=dict)  # fixed register values (efuses, ROM magic)
    rom_banner: str = ""  # what the ROM prints at reset, before "boot:"
    boot_download: str = ""
    boot_flash: str = ""
    sw_reset: str = ""  # the rst: field after a software reset


def _esp32_regs(mac: bytes) -> dict[int, int]:
    # ESP32ROM: EFUSE_RD_REG_BASE 0x3FF5A000; read_mac() packs efuse words 2 and 1 big-endian
    # and drops the top two bytes (CRC and zero), so word 2 holds MAC[0:2] and word 1 MAC[2:6].
    efuse = 0x3FF5A000
    word1 = int.from_bytes(mac[2:6], "big")
    word2 = int.from_bytes(mac[0:2], "big")
    return {
        0x40001000: 0x00F01D83,  # ESP32ROM.MAGIC_VALUE
        efuse + 4 * 1: word1,
        efuse + 4 * 2: word2,
        # word 3: pkg version 1 (bits 9-11: ESP32-D0WD) and rev bit 0 (bit 15); word 5: rev
        # bit 1 (bit 20); APB_CTL_DATE bit 31: rev bit 2 -> chip v3.0 (get_major_chip_version)
        efuse + 4 * 3: (1 << 9) | (1 << 15),
        efuse + 4 * 5: 1 << 20,
        0x3FF6607C: 1 << 31,  # APB_CTL_DATE_ADDR
        # word 4 low byte: EFUSE_RD_CK8M_FREQ; RTCCALICFG1 bits 7+: TIMERS_RTC_CALI_VALUE. esptool
        # computes the ROM's crystal as cali * 15625 * ck8m / 40 (get_rom_cal_crystal_freq):
        # 1024 * 15625 * 100 / 40 = 40 MHz, so change_baud() sends the rate unscaled.
        efuse + 4 * 4: 100,
        0x3FF5F06C: 1024 << 7,
    }


def _esp32s3_regs(mac: bytes) -> dict[int, int]:
    # ESP32S3ROM: MAC_EFUSE_REG = EFUSE_BASE 0x60007000 + 0x44; read_mac() packs (mac1, mac0)
    # big-endian and drops two bytes: mac1's low 16 bits are MAC[0:2], mac0 is MAC[2:6].
    blk1 = 0x60007000 + 0x44
    return {
        0x40001000: 0x00000009,  # esptool 3.x ESP32S3ROM.CHIP_DETECT_MAGIC_VALUE; 5.x asks the chip id
        blk1: int.from_bytes(mac[2:6], "big"),
        blk1 + 4: int.from_bytes(mac[0:2], "big"),
        blk1 + 4 * 3: 2 << 18,  # minor chip version 2 (get_raw_minor_chip_version): v0.2
        0x60004038: 0,  # GPIO_STRAP_REG
    }


# ROM banners: ESP32 "ets Jul 29 2019 12:21:46" (ROM of chip v3, as vboard.ROM_BANNER);
# ESP32-S3 "ESP-ROM:esp32s3-20210327". Boot modes as the ROMs print them (ESP32 TRM "Strapping";
# esptool docs "Boot Log": boot:0x3 / 0x13 on ESP32, boot:0x0 / 0x8 on ESP32-S3).
CHIPS: dict[str, Chip] = {
    "esp32": Chip(
        "esp32", "ESP32", 0, 0x00F01D83, False,
        spi_base=0x3FF42000, spi_usr=0x1C, spi_usr1=0x20, spi_usr2=0x24, spi_mosi_dlen=0x28,
        spi_miso_dlen=0x2C, spi_w0=0x80, spi_addr_msb=True, uart_clkdiv_reg=0x3FF40014,
        stub_json="esp32.json", app_offset=0x1000,
        rom_banner="ets Jul 29 2019 12:21:46\r\n\r\n",
        boot_download=("rst:0x1 (POWERON_RESET),boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\r\n"
                       "waiting for download\r\n"),
        boot_flash="rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n",
        sw_reset="rst:0xc (SW_CPU_RESET)",
    ),
    "esp32s3": Chip(
        "esp32s3", "ESP32-S3", 9, 0x00000009, True,
        spi_base=0x60002000, spi_usr=0x18, spi_usr1=0x1C, spi_usr2=0x20, spi_mosi_dlen=0x24,
        spi_miso_dlen=0x28, spi_w0=0x58, spi_addr_msb=False, uart_clkdiv_reg=0x60000014,
        stub_json="esp32s3.json", app_offset=0x0,
        rom_banner="ESP-ROM:esp32s3-20210327\r\nBuild:Mar 27 2021\r\n",
        boot_download="rst:0x1 (POWERON),boot:0x0 (DOWNLOAD(USB/UART0))\r\nwaiting for download\r\n",
        boot_flash="rst:0x1 (POWERON),boot:0x8 (SPI_FAST_FLASH_BOOT)\r\nSPIWP:0xee\r\nmode:DIO, clock div:1\r\n",
        sw_reset="rst:0x3 (RTC_SW_SYS_RST)",
    ),
}
REG_FACTORIES = {"esp32": _esp32_regs, "esp32s3": _esp32s3_regs}


def stub_images(chip: Chip) -> list[tuple[int, bytes, int]]:
    """(text_start, text, entry) of every flasher stub this esptool can upload to `chip`."""
    import esptool

    out = []
    base = Path(esptool.__file__).parent / "targets" / "stub_flasher"
    for sub in sorted(base.iterdir()):
        path = sub / chip.stub_json
        if path.exists():
            stub = json.loads(path.read_text())
            out.append((stub["text_start"], base64.b64decode(stub["text"]), stub["entry"]))
    return out


def slip(packet: bytes) -> bytes:
    return b"\xc0" + packet.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc") + b"\xc0"


def checksum(data: bytes) -> int:
    """XOR of all bytes, seeded 0xEF (Serial Protocol, "Checksum"), a word at a time."""
    acc = int.from_bytes(data, "little")
    n = len(data)
    while n > 1:  # fold halves onto each other down to one byte
        half = (n + 1) // 2
        acc = (acc & ((1 << (8 * half)) - 1)) ^ (acc >> (8 * half))
        n = half
    return CHECKSUM_SEED ^ (acc & 0xFF)


class Flash:
    """SPI NOR flash in a (sparse) file: program clears bits only, erase sets a sector to 0xFF."""

    def __init__(self, path: Path, size: int):
        self.path = Path(path)
        self.size = size
        fresh = not self.path.exists()
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if fresh or os.fstat(self.fd).st_size != size:
            os.ftruncate(self.fd, 0)
            os.ftruncate(self.fd, size)
            self.erase(0, size)

    def read(self, addr: int, n: int) -> bytes:
        n = max(0, min(n, self.size - addr))
        return os.pread(self.fd, n, addr) if n else b""

    def program(self, addr: int, data: bytes) -> None:
        data = data[: max(0, self.size - addr)]
        if not data:
            return
        old = os.pread(self.fd, len(data), addr)
        if old != b"\xff" * len(old):
            data = (int.from_bytes(old, "little") & int.from_bytes(data, "little")).to_bytes(len(data), "little")
        os.pwrite(self.fd, data, addr)

    def erase(self, addr: int, n: int) -> None:
        start = addr // SECTOR * SECTOR
        end = min(self.size, -(-(addr + n) // SECTOR) * SECTOR)
        ff = b"\xff" * (64 * SECTOR)
        while start < end:
            k = min(len(ff), end - start)
            os.pwrite(self.fd, ff[:k], start)
            start += k

    def close(self) -> None:
        os.close(self.fd)


class Rom:
    """The chip's serial loader state machine: the ROM, then the stub once esptool runs it.

    After `feed()`, `take()` gives the bytes to send; `events` lists what the board must do:
    ("baud", n) once the reply before it has gone out, ("run", None) to leave the loader and
    boot from flash, ("reset", None) for a software reset."""

    def __init__(self, chip: Chip, flash: Flash, mac: bytes):
        self.chip = chip
        self.flash = flash
        self.regs = dict(REG_FACTORIES[chip.name](mac))
        self.stub = False
        self.synced = False
        self.baud = 115200  # the ROM's UART: autobauded on SYNC by the board
        self.out = bytearray()
        self.events: list[tuple[str, int | None]] = []
        self._frame: bytearray | None = None
        self._write: dict | None = None  # FLASH_BEGIN / FLASH_DEFL_BEGIN state
        self._mem: dict[int, bytearray] = {}
        self._mem_cur: tuple[int, int] | None = None
        self._reading: dict | None = None  # stub READ_FLASH in progress
        self._stubs = stub_images(chip)
        self.spi_size = 2 << 20  # flash size the ROM assumes until SPI_SET_PARAMS
        self.dead = False  # ran code the emulator cannot run: silent until reset

    # ---- bytes in / out -------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        """Bytes from the host: SLIP frames (0xC0 ... 0xC0) into packets; bytes between frames
        are ignored, as by the ROM. A frame is searched for with bytes.find, not byte by byte:
        at 921600 baud four boards share one Python process."""
        buf = bytes(data)
        while buf:
            if self._frame is None:
                i = buf.find(b"\xc0")
                if i < 0:
                    return
                buf = buf[i + 1:]
                self._frame = bytearray()
                continue
            j = buf.find(b"\xc0")
            if j < 0:
                self._frame += buf
                return
            self._frame += buf[:j]
            buf = buf[j + 1:]
            if not self._frame:
                continue  # two 0xC0 in a row: the second opens the frame
            frame = bytes(self._frame)
            self._frame = None
            # SLIP: 0xDB 0xDC -> 0xC0, 0xDB 0xDD -> 0xDB (in this order)
            self._packet(frame.replace(b"\xdb\xdc", b"\xc0").replace(b"\xdb\xdd", b"\xdb"))

    def take(self) -> bytes:
        out = bytes(self.out)
        self.out.clear()
        return out

    def send_raw(self, payload: bytes) -> None:
        self.out += slip(payload)

    # ---- replies ----------------------------------------------------------------------------
    def _reply(self, op: int, value: int = 0, data: bytes = b"", error: int = 0) -> None:
        status = bytes([1 if error else 0, error]) + (b"" if self.stub else b"\0\0")
        body = data + status
        self.send_raw(struct.pack("<BBHI", 1, op, len(body), value) + body)

    def _fail(self, op: int, rom_error: int, stub_error: int) -> None:
        self._reply(op, error=stub_error if self.stub else rom_error)

    # ---- dispatch ---------------------------------------------------------------------------
    def _packet(self, pkt: bytes) -> None:
        if self.dead:
            return
        if self._reading is not None:
            self._read_ack(pkt)
            return
        if len(pkt) < 8 or pkt[0] != 0:
            return
        _, op, size, chk = struct.unpack_from("<BBHI", pkt)
        data = pkt[8:]
        if len(data) != size:
            self._fail(op, ROM_INVALID_MSG, STUB_BAD_DATA_LEN)
            return
        handler = self.HANDLERS.get(op)
        stub_only = op in (ERASE_FLASH, ERASE_REGION, READ_FLASH, RUN_USER_CODE)
        rom_only = op == READ_FLASH_SLOW
        if handler is None or (stub_only and not self.stub) or (rom_only and self.stub) or (
                op == GET_SECURITY_INFO and not self.chip.security_info):
            self._fail(op, ROM_INVALID_MSG, STUB_INVALID_CMD if op < 0xD0 else STUB_NOT_IMPLEMENTED)
            return
        if not self.synced and op != SYNC:
            return  # the ROM answers nothing before it has locked onto the host's baud rate
        handler(self, op, data, chk)

    def _sync(self, op, data, chk):
        if data != SYNC_BODY:
            return
        self.synced = True
        for _ in range(SYNC_REPLIES):
            self._reply(op, 0 if self.stub else SYNC_VALUE)

    def _read_reg(self, op, data, chk):
        if len(data) != 4:
            return self._fail(op, ROM_INVALID_MSG, STUB_BAD_DATA_LEN)
        (addr,) = struct.unpack("<I", data)
        self._reply(op, self._reg(addr))

    def _reg(self, addr: int) -> int:
        if addr == self.chip.uart_clkdiv_reg:
            # UART_CLKDIV_REG: the ROM's UART runs from the 40 MHz crystal, divider = clock /
            # baud (esptool ESPLoader.get_crystal_freq reverses this)
            return ESP32_XTAL_HZ // self.baud
        return self.regs.get(addr, 0)

    def _write_reg(self, op, data, chk):
        if len(data) % 16:
            return self._fail(op, ROM_INVALID_MSG, STUB_BAD_DATA_LEN)
        for addr, value, mask, _delay in struct.iter_unpack("<IIII", data):
            self.regs[addr] = (self.regs.get(addr, 0) & ~mask) | (value & mask)
            if addr == self.chip.spi_base and value & SPI_CMD_USR:
                self._spi_user_command()
        self._reply(op)

    def _spi_user_command(self) -> None:
        """Run the SPI user command esptool set up in the SPI registers (run_spiflash_command)."""
        c = self.chip
        usr2 = self.regs.get(c.spi_base + c.spi_usr2, 0)
        cmd = usr2 & 0xFF
        addr_reg = self.regs.get(c.spi_base + 4, 0)
        usr1 = self.regs.get(c.spi_base + c.spi_usr1, 0)
        addr_len = ((usr1 >> SPI_USR_ADDR_LEN_SHIFT) & 0x3F) + 1
        addr = addr_reg >> (32 - addr_len) if c.spi_addr_msb and addr_len < 32 else addr_reg
        if cmd == RDID:
            cap = FLASH_CAPACITY_ID.get(self.flash.size, 0x16)
            result = GIGADEVICE | (GD_MEMORY_TYPE << 8) | (cap << 16)
        elif cmd == RDSFDP:
            result = SFDP_SIGNATURE if addr == 0 else 0  # only the signature word is modelled
        elif cmd in (RDSR, RDSR2, RDSR3):
            result = 0  # not busy, no write protection
        else:
            result = self.regs.get(c.spi_base + c.spi_w0, 0)  # WREN, WRSR, reset...: no reply data
        self.regs[c.spi_base + c.spi_w0] = result
        self.regs[c.spi_base] = self.regs.get(c.spi_base, 0) & ~SPI_CMD_USR  # done

    def _ok(self, op, data, chk):
        self._reply(op)

    def _set_params(self, op, data, chk):
        if len(data) != 24:
            return self._fail(op, ROM_INVALID_MSG, STUB_BAD_DATA_LEN)
        self.spi_size = struct.unpack_from("<I", data, 4)[0]
        self._reply(op)

    def _change_baud(self, op, data, chk):
        if len(data) != 8:
            return self._fail(op, ROM_INVALID_MSG, STUB_BAD_DATA_LEN)
        new, _old = struct.unpack("<II", data)
        self._reply(op)
        self.events.append(("baud", new))  # after the reply, sent at the old rate

    def _security_info(self, op, data, chk):
        # 32-bit flags, flash_crypt_cnt, 7 key purposes, chip_id, api_version (esptool
        # get_security_info; Serial Protocol, GET_SECURITY_INFO): nothing secured
        self._reply(op, data=struct.pack("<IBBBBBBBBII", 0, 0, 0, 0, 0, 0, 0, 0, 0, self.chip.image_chip_id, 0))

    # ---- RAM download: the stub -------------------------------------------------------------
    def _mem_begin(self, op, data, chk):
        if len(data) != 16:
            return self._fail(op, ROM_INVALID_MSG, STUB_BAD_DATA_LEN)
        size, _blocks, _bs, offset = struct.unpack("<IIII", data)
        self._mem_cur = (offset, size)
        self._mem[offset] = bytearray()
        self._reply(op)

    def _mem_data(self, op, data, chk):
        if self._mem_cur is None or len(data) < 16:
            return self._fail(op, ROM_INVALID_MSG, STUB_NOT_IN_FLASH_MODE)
        n = struct.unpack_from("<I", data)[0]
        payload = data[16:16 + n]
        if checksum(payload) != chk & 0xFF:
            return self._fail(op, ROM_BAD_CRC, STUB_BAD_CHECKSUM)
        self._mem[self._mem_cur[0]] += payload
        self._reply(op)

    def _mem_end(self, op, data, chk):
        if len(data) != 8:
            return self._fail(op, ROM_INVALID_MSG, STUB_BAD_DATA_LEN)
        no_entry, entry = struct.unpack("<II", data)
        self._reply(op)
        if no_entry:
            return
        for text_start, text, stub_entry in self._stubs:
            if entry == stub_entry and bytes(self._mem.get(text_start, b"")) == text:
                # The stub starts and greets the host with a bare "OHAI" frame (esptool loader.py
                # run_stub); from now on its status bytes are 2 and its commands are there.
                self.stub = True
                self._mem.clear()
                self.send_raw(b"OHAI")
                return
        self.dead = True  # some other program: the emulator cannot run it

    # ---- flash writes -----------------------------------------------------------------------
    def _flash_begin(self, op, data, chk):
        if len(data) not in (16, 20):
            return self._fail(op, ROM_INVALID_MSG, STUB_BAD_DATA_LEN)
        size, blocks, block_size, offset = struct.unpack_from("<IIII", data)
        deflate = op == FLASH_DEFL_BEGIN
        if offset + (size if not deflate or self.stub else size) > self.flash.size:
            return self._fail(op, ROM_FAILED, STUB_TOO_MUCH_DATA)
        # The ROM erases the whole region here; the stub erases as it writes (same result).
        if size:
            self.flash.erase(offset, size)
        self._write = {"offset": offset, "pos": offset, "seq": 0, "blocks": blocks, "block_size": block_size,
                       "deflate": deflate, "z": zlib.decompressobj() if deflate else None, "end": offset + size}
        self._reply(op)

    def _flash_data(self, op, data, chk):
        w = self._write
        if w is None or w["deflate"] != (op == FLASH_DEFL_DATA) or len(data) < 16:
            return self._fail(op, ROM_FAILED, STUB_NOT_IN_FLASH_MODE)
        n, seq = struct.unpack_from("<II", data)
        payload = data[16:16 + n]
        if len(payload) != n:
            return self._fail(op, ROM_INVALID_MSG, STUB_BAD_DATA_LEN)
        if checksum(payload) != chk & 0xFF:
            return self._fail(op, ROM_BAD_CRC, STUB_BAD_CHECKSUM)
        if seq != w["seq"]:
            return self._fail(op, ROM_FAILED, STUB_NOT_IN_FLASH_MODE)
        if w["deflate"]:
            try:
                raw = w["z"].decompress(payload)
            except zlib.error:
                return self._fail(op, ROM_DEFLATE_ERROR, STUB_INFLATE_ERROR)
        else:
            raw = payload
        if w["pos"] + len(raw) > self.flash.size:
            return self._fail(op, ROM_FAILED, STUB_TOO_MUCH_DATA)
        self.flash.program(w["pos"], raw)
        w["pos"] += len(raw)
        w["seq"] += 1
        self._reply(op)

    def _flash_end(self, op, data, chk):
        if len(data) != 4:
            return self._fail(op, ROM_INVALID_MSG, STUB_BAD_DATA_LEN)
        (stay,) = struct.unpack("<I", data)
        self._write = None
        self._reply(op)
        # ROM: 0 reboots, 1 runs the user code; stub: 0 reboots, 1 stays in the stub
        # (Serial Protocol, FLASH_END; esptool loader.py flash_finish / soft_reset).
        if not stay:
            self.events.append(("reset", None))
        elif not self.stub:
            self.events.append(("run", None))

    def _md5(self, op, data, chk):
        if len(data) != 16:
            return self._fail(op, ROM_INVALID_MSG, STUB_BAD_DATA_LEN)
        addr, size = struct.unpack_from("<II", data)
        digest = hashlib.md5(self.flash.read(addr, size)).digest()
        # the ROM answers 32 hex digits, the stub 16 raw bytes (esptool flash_md5sum)
        self._reply(op, data=digest if self.stub else digest.hex().encode())

    def _read_slow(self, op, data, chk):
        if len(data) != 8:
            return self._fail(op, ROM_INVALID_MSG, STUB_BAD_DATA_LEN)
        addr, size = struct.unpack("<II", data)
        if size > 64:  # ROM read limit per command (esptool ESP32ROM.read_flash_slow)
            return self._fail(op, 0x0A, 0x0A)
        self._reply(op, data=self.flash.read(addr, 64).ljust(64, b"\xff"))

    # ---- stub-only commands ---------------------------------------------------------------------
    def _erase_flash(self, op, data, chk):
        self.flash.erase(0, self.flash.size)
        self._reply(op)

    def _erase_region(self, op, data, chk):
        if len(data) != 8:
            return self._fail(op, ROM_INVALID_MSG, STUB_BAD_DATA_LEN)
        addr, size = struct.unpack("<II", data)
        if addr % SECTOR or size % SECTOR or addr + size > self.flash.size:
            return self._fail(op, ROM_INVALID_MSG, STUB_BAD_DATA_LEN)
        self.flash.erase(addr, size)
        self._reply(op)

    def _read_flash(self, op, data, chk):
        if len(data) != 16:
            return self._fail(op, ROM_INVALID_MSG, STUB_BAD_DATA_LEN)
        addr, size, packet, in_flight = struct.unpack("<IIII", data)
        if addr + size > self.flash.size or packet == 0:
            return self._fail(op, ROM_INVALID_MSG, STUB_BAD_DATA_LEN)
        self._reply(op)
        # The stub then sends data frames of `packet` bytes, at most `in_flight` ahead of the
        # host's acks (each a frame holding the u32 count received), then the MD5 (16 bytes).
        self._reading = {"addr": addr, "end": addr + size, "sent": 0, "acked": 0, "packet": packet,
                         "in_flight": max(1, in_flight), "md5": hashlib.md5(), "size": size}
        self._read_pump()

    def _read_pump(self) -> None:
        r = self._reading
        assert r is not None
        while r["sent"] < r["size"] and r["sent"] - r["acked"] < r["in_flight"] * r["packet"]:
            chunk = self.flash.read(r["addr"] + r["sent"], min(r["packet"], r["size"] - r["sent"]))
            r["md5"].update(chunk)
            r["sent"] += len(chunk)
            self.send_raw(chunk)

    def _read_ack(self, pkt: bytes) -> None:
        r = self._reading
        assert r is not None
        if len(pkt) == 4:
            r["acked"] = struct.unpack("<I", pkt)[0]
        if r["acked"] >= r["size"]:
            self.send_raw(r["md5"].digest())
            self._reading = None
            return
        self._read_pump()

    def _run_user_code(self, op, data, chk):
        self.events.append(("run", None))

    HANDLERS = {
        SYNC: _sync, READ_REG: _read_reg, WRITE_REG: _write_reg,
        SPI_ATTACH: _ok, SPI_SET_PARAMS: _set_params, CHANGE_BAUDRATE: _change_baud,
        GET_SECURITY_INFO: _security_info,
        MEM_BEGIN: _mem_begin, MEM_DATA: _mem_data, MEM_END: _mem_end,
        FLASH_BEGIN: _flash_begin, FLASH_DATA: _flash_data, FLASH_END: _flash_end,
        FLASH_DEFL_BEGIN: _flash_begin, FLASH_DEFL_DATA: _flash_data, FLASH_DEFL_END: _flash_end,
        SPI_FLASH_MD5: _md5, READ_FLASH_SLOW: _read_slow,
        ERASE_FLASH: _erase_flash, ERASE_REGION: _erase_region, READ_FLASH: _read_flash,
        RUN_USER_CODE: _run_user_code,
    }
