"""Board definitions: load and check boards/<name>.json, and make the form that goes on a board.

Contract: docs/boards.md (its "Keys" table and "Host-only keys" list are checked against KEYS
below by tests/host/test_boards.py). One board file feeds the firmware (its device form, written
to the board's flash as /board.json), the virtual board (mobiot vboard) and provisioning.

- `load(name)` reads and checks a board, raising one-line MobiotErrors that name the file and
  the key;
- `problems(board)` is the check itself, a list of one-line problems (empty: a good board);
- `device_form(board)` is the board file as the firmware gets it: only the keys the firmware
  reads, no `_src` notes. On the unix port the whole lilygo-t-sim7080g-s3.json costs 14 KB of
  heap once parsed, its device form 3.8 KB (`make bench`, board_heap_*).
- `image(board)` is what flashing needs: the MicroPython image, its URL and where it goes.

The chip facts are written from the Espressif datasheets, not taken from the boards.
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path

from .errors import MobiotError
from .upy import BOARDS_DIR

DEVICE, HOST = "device", "host"

# Every key a board file may hold: (dotted key, type, required, read by). required: "yes" on
# every board, "hardware" on every board that is not virtual, "no". read by: DEVICE keys are
# read by the firmware and make up the device form; HOST keys are read by the host tools only.
# Type "pin" is an int GPIO number.
_KEYS = (
    ("name", "str", "yes", DEVICE),  # the hello frame's board name (docs/protocol.md)
    ("description", "str", "yes", HOST),  # `mobiot board list`
    ("chip", "str", "yes", HOST),  # GPIO rules here; esptool --chip
    ("micropython", "object", "hardware", HOST),
    ("micropython.build", "str", "hardware", HOST),
    ("micropython.variant", "str", "hardware", HOST),
    ("micropython.version", "str", "hardware", HOST),
    ("micropython.file", "str", "hardware", HOST),
    ("micropython.url", "str", "no", HOST),  # mobiot flash downloads it (docs/flashing.md)
    ("image", "object", "no", HOST),  # virtual boards: the test image mobiot flash writes
    ("image.file", "str", "no", HOST),
    ("image.url", "str", "no", HOST),
    ("flash_offset", "int", "hardware", HOST),
    ("flash_size", "str", "hardware", HOST),
    ("usb", "object", "hardware", HOST),
    ("usb.vid", "int", "hardware", HOST),
    ("usb.pid", "int", "hardware", HOST),
    ("i2c", "object", "yes", DEVICE),
    ("i2c.id", "int", "yes", DEVICE),
    ("i2c.scl", "pin", "yes", DEVICE),
    ("i2c.sda", "pin", "yes", DEVICE),
    ("i2c.freq", "int", "no", DEVICE),
    ("onewire", "object", "no", DEVICE),
    ("onewire.pin", "pin", "no", DEVICE),
    ("battery", "object", "yes", DEVICE),
    ("battery.pin", "pin", "no", DEVICE),
    ("battery.divider", "float", "no", DEVICE),
    ("battery.atten", "int", "no", DEVICE),
    ("battery.source", "str", "no", DEVICE),
    ("gnss", "object", "no", DEVICE),
    ("gnss.uart", "int", "no", DEVICE),
    ("gnss.tx", "pin", "no", DEVICE),
    ("gnss.rx", "pin", "no", DEVICE),
    ("gnss.baud", "int", "no", DEVICE),
    ("gnss.source", "str", "no", DEVICE),
    ("gnss.on_at", "list[str]", "no", DEVICE),
    ("gnss.at", "str", "no", DEVICE),
    ("gnss.exclusive", "bool", "no", DEVICE),
    ("modem", "object", "yes", DEVICE),
    ("modem.model", "str", "yes", DEVICE),
    ("modem.uart", "int", "yes", DEVICE),
    ("modem.tx", "pin", "yes", DEVICE),
    ("modem.rx", "pin", "yes", DEVICE),
    ("modem.baud", "int", "yes", DEVICE),
    ("modem.pwrkey", "pin", "yes", DEVICE),
    ("modem.pwrkey_active", "int", "hardware", DEVICE),
    ("modem.power_en", "pin", "no", DEVICE),
    ("modem.reset", "pin", "no", DEVICE),
    ("modem.reset_active", "int", "no", DEVICE),
    ("modem.reset_ms", "int", "no", DEVICE),
    ("modem.dtr", "pin", "no", DEVICE),
    ("modem.ri", "pin", "no", DEVICE),
    ("modem.pmu", "object", "no", DEVICE),
    ("modem.pmu.model", "str", "no", HOST),  # checked against PMU_MODELS below
    ("modem.pmu.addr", "int", "no", DEVICE),
    ("modem.pmu.modem_rail", "str", "no", DEVICE),
    ("modem.pmu.modem_mv", "int", "no", DEVICE),
    ("modem.pmu.gnss_rail", "str", "no", DEVICE),
    ("modem.pmu.gnss_mv", "int", "no", DEVICE),
    ("modem.pmu.keep_on", "list[str]", "no", DEVICE),
    ("sensors", "list[str]", "yes", DEVICE),
    ("_src", "object", "no", HOST),  # source notes, for people; in any object
)
KEYS: dict[str, tuple[str, str, str]] = {k: (t, req, by) for k, t, req, by in _KEYS}
PIN_KEYS = frozenset(k for k, (t, _, _) in KEYS.items() if t == "pin")
HOST_KEYS = frozenset(k for k, (_, _, by) in KEYS.items() if by == HOST)

# Device keys the firmware does not read yet (tests/host/test_boards.py fails once it does,
# so that this list only shrinks). Empty: every device key is read (modem.pmu.irq was removed,
# since nothing enables an AXP2101 interrupt source).
NOT_READ_YET: frozenset[str] = frozenset()

# The PMU drivers the firmware has (firmware/mobiot_fw/drivers/).
PMU_MODELS = {"AXP2101": "axp2101"}

# ESP32 Series Datasheet, "Pin Description": GPIO 0-19, 21-23, 25-27, 32-39 exist; 34-39 are
# input-only; 6-11 are the in-package/module SPI flash. ADC1 = GPIO32-39 ("Peripheral Pin
# Configurations"; ADC2 cannot be used while Wi-Fi is on). ESP32-WROVER(-B/-E) datasheets,
# "Pin Definitions": GPIO16/17 are wired to the PSRAM.
# ESP32-S3 Series Datasheet, "Pin Overview": GPIO 0-21, 26-48; 26-32 are SPI0/1 (flash, PSRAM);
# octal flash/PSRAM also takes 33-37. ADC1 = GPIO1-10.
CHIPS = {
    "esp32": {
        "gpio": set(range(0, 20)) | {21, 22, 23, 25, 26, 27} | set(range(32, 40)),
        "input_only": set(range(34, 40)),
        "reserved": set(range(6, 12)),
        "reserved_by_variant": {"SPIRAM": {16, 17}},
        "adc1": set(range(32, 40)),
        # micropython.org/download/ESP32_GENERIC, Installation: "starting at address 0x1000"
        "flash_offset": 0x1000,
        "build": "ESP32_GENERIC",
        "variants": {"", "SPIRAM"},
    },
    "esp32s3": {
        "gpio": set(range(0, 22)) | set(range(26, 49)),
        "input_only": set(),
        "reserved": set(range(26, 33)),
        "reserved_by_variant": {"SPIRAM_OCT": set(range(33, 38))},
        "adc1": set(range(1, 11)),
        # micropython.org/download/ESP32_GENERIC_S3, Installation: "starting at address 0"
        "flash_offset": 0x0,
        "build": "ESP32_GENERIC_S3",
        "variants": {"", "SPIRAM_OCT"},
    },
}
# Pin keys that are inputs to the ESP32 and may sit on an input-only GPIO.
INPUT_PINS = {"modem.rx", "modem.ri", "gnss.rx", "battery.pin"}
SENSORS = {"battery", "gnss", "bme280", "sht4x", "ds18b20"}
FLASH_SIZES = {"2MB", "4MB", "8MB", "16MB", "32MB"}
# micropython.org/download/<build>: every release image is served from this folder.
IMAGE_URL = "https://micropython.org/resources/firmware/{file}"


def is_virtual(board: dict) -> bool:
    return "micropython" not in board


def walk(obj: dict, prefix: str = ""):
    """(dotted key, value, parent object) for every key but the _src notes."""
    for k, v in obj.items():
        if k == "_src":
            continue
        key = prefix + k
        yield key, v, obj
        if isinstance(v, dict):
            yield from walk(v, key + ".")


def get(board: dict, dotted: str):
    cur = board
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def pins(board: dict) -> dict[str, int]:
    return {k: v for k, v, _ in walk(board) if k in PIN_KEYS}


def _type_ok(kind: str, v) -> bool:
    if kind in ("int", "pin"):
        return isinstance(v, int) and not isinstance(v, bool)
    if kind == "float":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if kind == "list[str]":
        return isinstance(v, list) and all(isinstance(x, str) for x in v)
    return isinstance(v, {"str": str, "bool": bool, "object": dict}[kind])


# ---- checks: board -> problems -------------------------------------------------------------


def check_schema(board: dict) -> list[str]:
    out = []
    for key, v, _ in walk(board):
        if key not in KEYS:
            out.append(f"{key}: not a board key (docs/boards.md)")
        elif not _type_ok(KEYS[key][0], v):
            out.append(f"{key}: {v!r} is not {KEYS[key][0]}")
    for key, (_, req, _) in KEYS.items():
        if (req == "yes" or (req == "hardware" and not is_virtual(board))) and get(board, key) is None:
            out.append(f"{key}: required, missing")
    if is_virtual(board) and not str(board.get("description", "")).startswith("Virtual board"):
        out.append("no micropython image, but the description does not say 'Virtual board'")
    return out


def check_chip(board: dict) -> list[str]:
    chip = CHIPS.get(board.get("chip", ""))
    if chip is None:
        return [f"chip {board.get('chip')!r} unknown (one of {', '.join(CHIPS)})"]
    if is_virtual(board):
        return []
    out = []
    if board["flash_offset"] != chip["flash_offset"]:
        out.append(f"flash_offset {board['flash_offset']:#x} != {chip['flash_offset']:#x}")
    if board["flash_size"] not in FLASH_SIZES:
        out.append(f"flash_size {board['flash_size']!r}")
    mp = board["micropython"]
    if mp["build"] != chip["build"]:
        out.append(f"micropython.build {mp['build']} on {board['chip']}")
    if mp["variant"] not in chip["variants"]:
        out.append(f"micropython.variant {mp['variant']!r} on {board['chip']}")
    stem = mp["build"] + ("-" + mp["variant"] if mp["variant"] else "")
    if not re.fullmatch(re.escape(stem) + r"-20\d{6}-v" + re.escape(mp["version"]) + r"\.bin", mp["file"]):
        out.append(f"micropython.file {mp['file']} does not match {stem}-<date>-v{mp['version']}.bin")
    return out


def check_pins(board: dict) -> list[str]:
    chip = CHIPS[board["chip"]]
    out, seen = [], {}
    reserved = set(chip["reserved"])
    if not is_virtual(board):
        reserved |= chip["reserved_by_variant"].get(board["micropython"]["variant"], set())
    for key, n in pins(board).items():
        if n not in chip["gpio"]:
            out.append(f"{key}: GPIO{n} does not exist on {board['chip']}")
        if n in chip["input_only"] and key not in INPUT_PINS:
            out.append(f"{key}: GPIO{n} is input-only")
        if n in reserved:
            out.append(f"{key}: GPIO{n} belongs to the flash/PSRAM")
        if n in seen:
            out.append(f"{key}: GPIO{n} already used by {seen[n]}")
        seen[n] = key
    return out


def check_battery(board: dict) -> list[str]:
    bat, chip = board["battery"], CHIPS[board["chip"]]
    if bat.get("source") == "pmu":
        return [] if get(board, "modem.pmu") else ["battery.source pmu without modem.pmu"]
    out = []
    if bat.get("pin") not in chip["adc1"]:
        out.append(f"battery.pin {bat.get('pin')} is not an ADC1 pin")
    if "divider" not in bat:
        out.append("battery.divider missing")
    elif not 1.0 <= bat["divider"] <= 10.0:
        out.append(f"battery.divider {bat['divider']} implausible (Vbat/Vpin)")
    if bat.get("atten", 11) not in (0, 2, 6, 11):
        out.append(f"battery.atten {bat['atten']}: one of 0, 2, 6, 11 (dB)")
    return out


def check_modem(board: dict) -> list[str]:
    m = board["modem"]
    out = []
    pmu = m.get("pmu")
    if pmu is not None and pmu.get("model", "AXP2101") not in PMU_MODELS:
        out.append(f"modem.pmu.model {pmu['model']!r}: the firmware drives {', '.join(PMU_MODELS)}")
    if is_virtual(board):
        return out
    if m["pwrkey_active"] not in (0, 1):
        out.append(f"modem.pwrkey_active {m['pwrkey_active']}")
    if m["uart"] not in (1, 2):
        out.append(f"modem.uart {m['uart']}: UART0 is the REPL")
    return out


def check_sources(board: dict) -> list[str]:
    if is_virtual(board):
        return []
    out = []
    for key, _, parent in walk(board):
        leaf = key.rsplit(".", 1)[-1]
        if key in PIN_KEYS or leaf.endswith("_ms") or key in ("battery.divider", "micropython.file"):
            note = parent.get("_src", {}).get(leaf)
            if not isinstance(note, str) or len(note.strip()) < 10:
                out.append(f"{key}: no _src note")
    for key, v, _ in walk(board):
        if isinstance(v, dict) and "_src" in v and not isinstance(v["_src"], dict):
            out.append(f"{key}._src is not an object")
    return out


def check_gnss_sensors(board: dict) -> list[str]:
    out = []
    g = board.get("gnss")
    if g is not None:
        if g.get("source") == "modem":
            if not str(g.get("at", "")).startswith("AT+"):
                out.append("gnss.at is not an AT command")
            if not all(c.startswith("AT+") for c in g.get("on_at", [])):
                out.append("gnss.on_at holds a non-AT command")
        elif not all(k in g for k in ("uart", "tx", "rx", "baud")):
            out.append("gnss needs source 'modem' or uart/tx/rx/baud")
    for s in board["sensors"]:
        if s not in SENSORS:
            out.append(f"sensors: {s!r} unknown")
    if "gnss" in board["sensors"] and g is None:
        out.append("sensors lists gnss but the board has no gnss")
    return out


CHECKS = (check_schema, check_chip, check_pins, check_battery, check_modem, check_sources, check_gnss_sensors)


def problems(board) -> list[str]:
    """Every problem of a board definition, one line each; [] for a good board."""
    if not isinstance(board, dict):
        return ["not a JSON object"]
    out = check_schema(board)
    if out:  # the other checks index keys the schema check guarantees
        return out
    out = check_chip(board)
    if board["chip"] not in CHIPS:  # the rest need the chip's rules
        return out
    for check in CHECKS[2:]:
        out += check(board)
    return out


# ---- files -----------------------------------------------------------------------------------


def names(boards_dir: Path | None = None) -> list[str]:
    """The board names there are (boards/*.json)."""
    return sorted(p.stem for p in (boards_dir or BOARDS_DIR).glob("*.json"))


def load(name: str, boards_dir: Path | None = None) -> dict:
    """boards/<name>.json, checked: a MobiotError names the file and the first problem."""
    d = boards_dir or BOARDS_DIR
    path = d / f"{name}.json"
    if "/" in name or not path.is_file():
        known = names(d)
        close = difflib.get_close_matches(name, known, n=1)
        raise MobiotError(f"board {name!r}: no {path}" + (f" (did you mean {close[0]!r}?)" if close else "")
                          + f"; known: {', '.join(known) or 'none'}")
    try:
        board = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise MobiotError(f"{path}:{exc.lineno}:{exc.colno}: {exc.msg}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise MobiotError(f"{path}: cannot read: {exc}") from exc
    found = problems(board)
    if not found and board.get("name") != name:
        found = [f"name {board.get('name')!r} is not the file's name {name!r}"]
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise MobiotError(f"{path}: {found[0]}{more}")
    return board


def device_form(board: dict) -> dict:
    """The board file as it goes onto the board's flash (/board.json): the keys the firmware
    reads (KEYS marked DEVICE), without `_src` notes and host-only keys. Raises MobiotError on
    a key the schema does not know, so nothing unknown is dropped silently."""

    def strip(obj: dict, prefix: str) -> dict:
        out = {}
        for k, v in obj.items():
            key = prefix + k
            if k == "_src":
                continue
            if key not in KEYS:
                raise MobiotError(f"board {board.get('name', '?')!r}: {key}: not a board key (docs/boards.md)")
            if KEYS[key][2] != DEVICE:
                continue
            out[k] = strip(v, key + ".") if isinstance(v, dict) else v
        return out

    return strip(board, "")


def device_json(board: dict) -> str:
    """device_form() as the bytes provisioning writes: compact JSON (no indent: every byte
    of the file is read into the board's heap at once)."""
    return json.dumps(device_form(board), separators=(",", ":")) + "\n"


def image(board: dict) -> dict:
    """What flashing a hardware board needs: esptool's chip, offset and flash size, and the
    MicroPython image (micropython.org release file and its URL)."""
    if is_virtual(board):
        raise MobiotError(f"board {board.get('name', '?')!r} is virtual: it has no MicroPython image to flash")
    mp = board["micropython"]
    return {"chip": board["chip"], "offset": board["flash_offset"], "flash_size": board["flash_size"],
            "version": mp["version"], "file": mp["file"], "url": IMAGE_URL.format(file=mp["file"])}
