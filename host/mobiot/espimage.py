"""ESP firmware images and partition tables: the checks `mobiot flash` makes before it erases
anything, and what the emulated ROM (mobiot.esprom) reads to decide whether a board boots.

Contract: docs/flashing.md ("Images"). Formats, from ESP-IDF:
- image header (components/bootloader_support/include/esp_app_format.h, esp_image_header_t):
  magic 0xE9, segment count, SPI mode, SPI speed/size, entry address (8 bytes), then the
  extended header (16 bytes): wp_pin, 3 bytes of SPI drive settings, chip_id (uint16, bytes
  12-13 of the image), min_chip_rev, min/max_chip_rev_full, 4 reserved, hash_appended;
- each segment: load address and length (esp_image_segment_header_t), then the data;
- the checksum byte (XOR of all segment data, seeded 0xEF) ends the image, padded so that the
  image length is a multiple of 16; with hash_appended a SHA-256 of everything before it follows
  (esptool bin_image.py ESP32FirmwareImage, load and save, does the same);
- partition table (components/partition_table/gen_esp32part.py): 32-byte entries, magic 0x50AA,
  type, subtype, offset, size, 16-byte label, flags; an MD5 entry (0xEBEB) may follow; 0xFF ends.

Written by hand (about 100 lines) rather than with esptool's bin_image classes because those
warn through esptool's process-wide logger and raise one generic error for every kind of
damage, where `mobiot flash` must name the reason in one line.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

ESP_IMAGE_MAGIC = 0xE9
CHECKSUM_SEED = 0xEF
MAX_SEGMENTS = 16  # esptool BaseFirmwareImage.verify(): "max 16"
HEADER_LEN = 8 + 16
# esp_app_format.h esp_chip_id_t: ESP_CHIP_ID_ESP32 = 0x0000, ESP_CHIP_ID_ESP32S3 = 0x0009
# (esptool targets/esp32.py and esp32s3.py IMAGE_CHIP_ID agree).
CHIP_IDS = {"esp32": 0x0000, "esp32s3": 0x0009}
CHIP_NAMES = {v: k for k, v in CHIP_IDS.items()}
PARTITION_TABLE_OFFSET = 0x8000  # ESP-IDF CONFIG_PARTITION_TABLE_OFFSET default, MicroPython uses it
PARTITION_MAGIC = 0x50AA
PARTITION_MD5_MAGIC = 0xEBEB
FLASH_SIZES = {"1MB": 1 << 20, "2MB": 2 << 20, "4MB": 4 << 20, "8MB": 8 << 20, "16MB": 16 << 20, "32MB": 32 << 20}


class ImageError(ValueError):
    """Why some bytes are not a usable image: one short phrase, no file name."""


@dataclass(frozen=True)
class Image:
    chip: str  # "esp32", "esp32s3" or "chip id N"
    chip_id: int
    segments: int
    length: int  # bytes up to and including the checksum (and the digest, if appended)
    hash_appended: bool


@dataclass(frozen=True)
class Partition:
    type: int
    subtype: int
    offset: int
    size: int
    label: str


def parse_image(data: bytes, where: int = 0) -> Image:
    """Parse and check the ESP image at data[where:]: magic, header, segments, checksum and
    SHA-256. Raises ImageError naming what is wrong."""
    if len(data) - where < HEADER_LEN:
        if len(data) > where and data[where] != ESP_IMAGE_MAGIC:
            raise ImageError(f"not an ESP image (first byte {data[where]:#04x}, expected {ESP_IMAGE_MAGIC:#04x})")
        raise ImageError(f"too short for an ESP image header ({len(data) - where} bytes)")
    magic, nseg, _mode, _size_freq, _entry = struct.unpack_from("<BBBBI", data, where)
    if magic != ESP_IMAGE_MAGIC:
        raise ImageError(f"not an ESP image (first byte {magic:#04x}, expected {ESP_IMAGE_MAGIC:#04x})")
    chip_id = struct.unpack_from("<H", data, where + 12)[0]
    hash_appended = data[where + 23]
    if nseg == 0 or nseg > MAX_SEGMENTS:
        raise ImageError(f"corrupt image header ({nseg} segments, 1..{MAX_SEGMENTS} allowed)")
    if hash_appended not in (0, 1):
        raise ImageError(f"corrupt image header (hash_appended byte {hash_appended:#04x})")
    pos = where + HEADER_LEN
    csum = CHECKSUM_SEED
    for i in range(nseg):
        if pos + 8 > len(data):
            raise ImageError(f"truncated image (segment {i} header past the end of the file)")
        _addr, size = struct.unpack_from("<II", data, pos)
        pos += 8
        if pos + size > len(data):
            raise ImageError(f"truncated image (segment {i}, {size} bytes, runs past the end of the file)")
        seg = data[pos:pos + size]
        # XOR of all bytes, 8 at a time: the result folds back to one byte
        if size % 8 == 0:
            acc = 0
            for (w,) in struct.iter_unpack("<Q", seg):
                acc ^= w
            for _ in range(8):
                csum ^= acc & 0xFF
                acc >>= 8
        else:
            for b in seg:
                csum ^= b
        pos += size
    pos = (pos - where + 1 + 15) // 16 * 16 + where  # checksum is the last byte of 16-byte padding
    if pos > len(data):
        raise ImageError("truncated image (no checksum byte)")
    if data[pos - 1] != csum:
        raise ImageError(f"corrupt image (checksum {data[pos - 1]:#04x}, segments give {csum:#04x})")
    if hash_appended:
        if pos + 32 > len(data):
            raise ImageError("truncated image (no SHA-256 digest)")
        if hashlib.sha256(data[where:pos]).digest() != data[pos:pos + 32]:
            raise ImageError("corrupt image (SHA-256 digest in the image does not match its contents)")
        pos += 32
    return Image(CHIP_NAMES.get(chip_id, f"chip id {chip_id}"), chip_id, nseg, pos - where, bool(hash_appended))


def parse_partitions(table: bytes) -> list[Partition]:
    """The entries of a binary partition table (0xC00 bytes at 0x8000). Raises ImageError."""
    parts = []
    for off in range(0, len(table) - 31, 32):
        magic = struct.unpack_from("<H", table, off)[0]
        if magic == 0xFFFF:
            break
        if magic == PARTITION_MD5_MAGIC:
            body = table[:off]
            if hashlib.md5(body).digest() != table[off + 16:off + 32]:
                raise ImageError("corrupt partition table (MD5 mismatch)")
            break
        if magic != PARTITION_MAGIC:
            raise ImageError(f"corrupt partition table (entry {off // 32} magic {magic:#06x})")
        ptype, sub, poff, size = struct.unpack_from("<BBII", table, off + 2)
        label = table[off + 12:off + 28].split(b"\0", 1)[0].decode("ascii", "replace")
        parts.append(Partition(ptype, sub, poff, size, label))
    if not parts:
        raise ImageError("no partition table")
    return parts


def check_firmware(data: bytes, chip: str, flash_offset: int, flash_size: int) -> Image:
    """What `mobiot flash` checks before it erases anything: `data` (to be written at
    flash_offset) is an intact ESP image for `chip` and fits in flash_size bytes. A merged
    MicroPython image (bootloader, partition table, app) has its app checked too."""
    if not data:
        raise ImageError("empty file")
    img = parse_image(data)
    if img.chip_id != CHIP_IDS[chip]:
        raise ImageError(f"image is for {img.chip}, the board has an {chip}")
    if flash_offset + len(data) > flash_size:
        raise ImageError(f"{len(data)} bytes at {flash_offset:#x} do not fit in {flash_size // (1 << 20)} MB of flash")
    pt = PARTITION_TABLE_OFFSET - flash_offset
    if len(data) > pt + 32:
        parts = parse_partitions(data[pt:pt + 0xC00])
        for p in parts:
            if p.offset + p.size > flash_size:
                raise ImageError(f"partition {p.label!r} ends at {p.offset + p.size:#x}, "
                                 f"past the {flash_size // (1 << 20)} MB flash")
        apps = [p for p in parts if p.type == 0]
        for p in apps[:1]:  # the factory app: the image MicroPython boots
            if len(data) > p.offset - flash_offset:
                app = parse_image(data, p.offset - flash_offset)
                if app.chip_id != CHIP_IDS[chip]:
                    raise ImageError(f"app at {p.offset:#x} is for {app.chip}, the board has an {chip}")
    return img


def build_partition_table(parts: list[Partition]) -> bytes:
    """A binary partition table (with its MD5 entry), as gen_esp32part.py writes it."""
    out = bytearray()
    for p in parts:
        label = p.label.encode()[:16].ljust(16, b"\0")
        out += struct.pack("<HBBII", PARTITION_MAGIC, p.type, p.subtype, p.offset, p.size) + label + b"\0" * 4
    out += struct.pack("<H", PARTITION_MD5_MAGIC) + b"\xff" * 14 + hashlib.md5(bytes(out)).digest()
    return bytes(out).ljust(0xC00, b"\xff")


def vfs_partition(parts: list[Partition]) -> Partition | None:
    """The data partition MicroPython mounts its filesystem on: label "vfs" (ports/esp32
    partitions-*.csv: `vfs, data, fat, ...`; modules/inisetup.py and _boot.py use it)."""
    for p in parts:
        if p.type == 1 and p.label == "vfs":
            return p
    return None


# ---- test images -----------------------------------------------------------------------------
# Tests and the bench make their own images (there is no network in CI): a merged image laid
# out as MicroPython's ESP32 / ESP32-S3 .bin is (ports/esp32/partitions-4MiB.csv): second-stage
# bootloader at the chip's offset, partition table at 0x8000, factory app at 0x10000, and a
# "vfs" data partition. The images are built with esptool's own bin_image classes.
RAM_SEGMENT = {"esp32": (0x3FFB0000, 0x40080000), "esp32s3": (0x3FC88000, 0x40378000)}  # DRAM, IRAM
TEST_LAYOUT = [
    Partition(1, 0x02, 0x9000, 0x6000, "nvs"),
    Partition(1, 0x01, 0xF000, 0x1000, "phy_init"),
    Partition(0, 0x00, 0x10000, 0x1F0000, "factory"),
    Partition(1, 0x81, 0x200000, 0x200000, "vfs"),
]


def _esp_image(chip: str, payload: bytes, segment_len: int = 0x10000) -> bytes:
    from esptool.bin_image import ELFSection, ESP32FirmwareImage, ESP32S3FirmwareImage

    img = (ESP32FirmwareImage if chip == "esp32" else ESP32S3FirmwareImage)()
    dram, iram = RAM_SEGMENT[chip]
    chunks = [payload[i:i + segment_len] for i in range(0, len(payload), segment_len)] or [b"\0" * 4]
    if len(chunks) > MAX_SEGMENTS:
        raise ValueError("payload too large for a test image")
    img.segments = [ELFSection(f".seg{i}".encode(), (iram if i % 2 else dram) + (i // 2) * segment_len, c, 0)
                    for i, c in enumerate(chunks)]
    img.entrypoint = iram
    out = img.save(None)
    assert out is not None
    return out


def build_image(chip: str, app_size: int = 64 * 1024, seed: int = 1, vocabulary: int = 512) -> bytes:
    """A merged image for `chip` (bytes to write at the chip's offset), with an app of about
    app_size bytes drawn from `vocabulary` random "words": a larger vocabulary compresses
    less (512: about 3:1; 5000: about 1.6:1, close to MicroPython's own images)."""
    import random

    rng = random.Random(seed)
    words = [rng.randbytes(rng.randint(2, 12)) for _ in range(vocabulary)]
    app = bytearray()
    while len(app) < app_size:
        app += rng.choice(words)
    offset = 0x1000 if chip == "esp32" else 0x0
    boot = _esp_image(chip, rng.randbytes(0x3000) + bytes(0x1000))
    app_img = _esp_image(chip, bytes(app[:app_size]), segment_len=max(0x10000, -(-app_size // 8)))
    out = bytearray(b"\xff" * (0x10000 - offset))
    out[0:len(boot)] = boot
    pt = PARTITION_TABLE_OFFSET - offset
    out[pt:pt + 0xC00] = build_partition_table(TEST_LAYOUT)
    out += app_img
    return bytes(out)
