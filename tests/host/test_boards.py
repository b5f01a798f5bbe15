"""Board definitions (boards/*.json) against their schema, docs/boards.md, and the chips' pin rules.

Each check is a function board -> list of problems, so the same checks are run on the real
boards (no problems) and on broken copies of them (the problem is found): a check that cannot
fail is caught here too. The chip facts below are written from the Espressif datasheets, not
taken from the boards.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BOARD_FILES = sorted((ROOT / "boards").glob("*.json"))
DOC = ROOT / "docs" / "boards.md"

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
INPUT_PINS = {"modem.rx", "modem.ri", "gnss.rx", "battery.pin", "modem.pmu.irq"}

# PWRKEY hold windows (min_ms, max_ms or None), the modems' hardware designs:
#   SIM7000 Hardware Design V1.04 §3.4 (Ton >= 1 s) and Table 9 (Toff min 1.2 s);
#   SIM7080G Hardware Design (Ton >= 1 s, Toff >= 1.2 s); A7670X Hardware Design V1.03
#   (Ton >= 50 ms, Toff >= 2.5 s); BG95 Series Hardware Design §3.6.1 (on 500-1000 ms) and
#   §3.6.2.1 (off 650-1500 ms); BG95&BG96 Compatible Design §4.3.2 (BG96 off >= 650 ms).
PWRKEY_MS = {
    "SIM7080G": ((1000, None), (1200, None)),
    "SIM7000G": ((1000, None), (1200, None)),
    "A7670": ((50, None), (2500, None)),
    "BG95": ((500, 1000), (650, 1500)),
    "BG96": ((500, None), (650, None)),
    "A7680C": ((50, None), (2500, None)),  # A76XX: A7670's windows (firmware/mobiot_fw/cell/models.py)
    "EC200U": ((500, 649), (650, None)),  # Quectel LTE Standard convention (cell/models.py: unverified)
}
SENSORS = {"battery", "gnss", "bme280", "sht4x", "ds18b20"}
FLASH_SIZES = {"2MB", "4MB", "8MB", "16MB", "32MB"}


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def is_virtual(board: dict) -> bool:
    return "micropython" not in board


def doc_schema() -> dict[str, tuple[str, str]]:
    """docs/boards.md "## Keys" table -> {dotted key: (type, required)}."""
    text = DOC.read_text()
    section = text.split("\n## Keys\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"\|\s*`([^`]+)`\s*\|\s*([^|]+?)\s*\|\s*(yes|hardware|no)\s*\|", line)
        if m:
            assert m.group(1) not in rows, f"{m.group(1)} listed twice in docs/boards.md"
            rows[m.group(1)] = (m.group(2), m.group(3))
    return rows


SCHEMA = doc_schema()
PIN_KEYS = {k for k, (t, _) in SCHEMA.items() if t == "pin"}


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


def type_ok(kind: str, v) -> bool:
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
        if key not in SCHEMA:
            out.append(f"{key}: not in docs/boards.md")
        elif not type_ok(SCHEMA[key][0], v):
            out.append(f"{key}: {v!r} is not {SCHEMA[key][0]}")
    for key, (_, req) in SCHEMA.items():
        if (req == "yes" or (req == "hardware" and not is_virtual(board))) and get(board, key) is None:
            out.append(f"{key}: required, missing")
    if is_virtual(board) and not str(board.get("description", "")).startswith("Virtual board"):
        out.append("no micropython image, but the description does not say 'Virtual board'")
    return out


def check_chip(board: dict) -> list[str]:
    chip = CHIPS.get(board.get("chip"))
    if chip is None:
        return [f"chip {board.get('chip')!r} unknown"]
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
        out.append(f"battery.atten {bat['atten']}")
    return out


def check_modem(board: dict) -> list[str]:
    m = board["modem"]
    if m["model"] not in PWRKEY_MS:
        return [f"modem.model {m['model']!r} unknown"]
    if is_virtual(board):
        return []
    out = []
    if m["pwrkey_active"] not in (0, 1):
        out.append(f"modem.pwrkey_active {m['pwrkey_active']}")
    for key, (lo, hi) in zip(("pwrkey_on_ms", "pwrkey_off_ms"), PWRKEY_MS[m["model"]], strict=True):
        if m[key] < lo or (hi is not None and m[key] > hi):
            out.append(f"modem.{key} {m[key]} outside {m['model']} window [{lo}, {hi}]")
    if m["uart"] not in (1, 2):
        out.append(f"modem.uart {m['uart']}: UART0 is the REPL")
    if "pmu" in m and m["pmu"]["i2c"] != board["i2c"]["id"]:
        out.append("modem.pmu.i2c is not the board's i2c bus")
    return out


def check_sources(board: dict) -> list[str]:
    if is_virtual(board):
        return []
    out = []
    for key, _, parent in walk(board):
        leaf = key.rsplit(".", 1)[-1]
        if key in PIN_KEYS or leaf.endswith("_ms") or key == "battery.divider":
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


def problems(board: dict) -> list[str]:
    out = check_schema(board)
    if out:  # the other checks index keys the schema check guarantees
        return out
    out = check_chip(board)
    if board["chip"] not in CHIPS:  # the rest need the chip's rules
        return out
    for check in CHECKS[2:]:
        out += check(board)
    return out


# ---- the real boards ----------------------------------------------------------------------


@pytest.mark.parametrize("path", BOARD_FILES, ids=lambda p: p.stem)
def test_board_is_valid(path):
    board = load(path)
    assert board.get("name") == path.stem
    assert problems(board) == []


def test_the_required_boards_exist():
    names = {p.stem for p in BOARD_FILES}
    assert {"sim", "lilygo-t-sim7080g-s3", "lilygo-t-sim7000g", "lilygo-t-a7670"} <= names
    models = {load(p)["modem"]["model"] for p in BOARD_FILES if not is_virtual(load(p))}
    assert {"SIM7080G", "SIM7000G", "A7670"} <= models and models & {"BG95", "BG96"}


def test_hardware_usb_ids_are_autodetected_by_collect():
    from mobiot.collect import USB_IDS

    for p in BOARD_FILES:
        b = load(p)
        if not is_virtual(b):
            assert (b["usb"]["vid"], b["usb"]["pid"]) in USB_IDS, p.stem


def test_doc_lists_the_pin_keys_and_the_chip_rules():
    # the pin rules read the doc's table: guard against a table that lost its pin rows
    assert {"i2c.scl", "i2c.sda", "modem.tx", "modem.rx", "modem.pwrkey", "battery.pin"} <= PIN_KEYS
    assert INPUT_PINS <= PIN_KEYS


# ---- the checks find broken boards --------------------------------------------------------


def _hw(stem: str) -> dict:
    return load(ROOT / "boards" / f"{stem}.json")


def _broken(stem: str, edit) -> list[str]:
    b = copy.deepcopy(_hw(stem))
    edit(b)
    return problems(b)


@pytest.mark.parametrize(
    "stem,edit,expect",
    [
        ("lilygo-t-sim7000g", lambda b: b["modem"].update(tx=34), "input-only"),
        ("lilygo-t-sim7000g", lambda b: b["i2c"].update(sda=36), "input-only"),
        ("lilygo-t-sim7000g", lambda b: b["modem"].update(pwrkey=39), "input-only"),
        ("lilygo-t-sim7000g", lambda b: b["modem"].update(dtr=b["modem"]["rx"]), "already used"),
        ("lilygo-t-sim7000g", lambda b: b["modem"].update(tx=24), "does not exist"),
        ("lilygo-t-sim7000g", lambda b: b["onewire"].update(pin=16), "flash/PSRAM"),
        ("lilygo-t-sim7000g", lambda b: b["i2c"].update(scl=7), "flash/PSRAM"),
        ("lilygo-t-sim7000g", lambda b: b["battery"].update(pin=25), "ADC1"),
        ("lilygo-t-sim7080g-s3", lambda b: b["onewire"].update(pin=36), "flash/PSRAM"),
        ("lilygo-t-sim7080g-s3", lambda b: b["modem"].update(tx=23), "does not exist"),
        ("lilygo-t-sim7080g-s3", lambda b: b["modem"]["pmu"].update(irq=41), "already used"),
        ("lilygo-t-sim7000g", lambda b: b.update(flash_offset=0), "flash_offset"),
        ("lilygo-t-sim7080g-s3", lambda b: b.update(flash_offset=0x1000), "flash_offset"),
        ("lilygo-t-sim7080g-s3", lambda b: b["micropython"].update(build="ESP32_GENERIC"), "build"),
        (
            "lilygo-t-a7670",
            lambda b: b["micropython"].update(file="ESP32_GENERIC-20241129-v1.24.1.bin"),
            "micropython.file",
        ),
        ("lilygo-t-a7670", lambda b: b["modem"].update(model="SIM800L"), "unknown"),
        ("lilygo-t-a7670", lambda b: b["modem"].update(pwrkey_off_ms=1000), "window"),
        ("esp32-devkitc-bg95", lambda b: b["modem"].update(pwrkey_off_ms=2000), "window"),
        ("esp32-devkitc-bg95", lambda b: b["modem"].update(pwrkey_on_ms=300), "window"),
        ("lilygo-t-sim7080g-s3", lambda b: b["modem"].update(pwrkey_on_ms=500), "window"),
        ("lilygo-t-a7670", lambda b: b["modem"]["_src"].pop("power_en"), "no _src"),
        ("lilygo-t-a7670", lambda b: b["modem"]["_src"].pop("pwrkey_on_ms"), "no _src"),
        ("lilygo-t-sim7080g-s3", lambda b: b["modem"]["pmu"]["_src"].pop("irq"), "no _src"),
        ("lilygo-t-sim7000g", lambda b: b["battery"]["_src"].pop("divider"), "no _src"),
        ("lilygo-t-sim7000g", lambda b: b["modem"].update(pwrkey="4"), "is not pin"),
        ("lilygo-t-sim7000g", lambda b: b["modem"].update(sleep_pin=2), "not in docs"),
        ("lilygo-t-sim7000g", lambda b: b.pop("usb"), "required, missing"),
        ("lilygo-t-sim7000g", lambda b: b["modem"].pop("pwrkey_on_ms"), "required, missing"),
        ("lilygo-t-sim7000g", lambda b: b.pop("micropython"), "Virtual board"),
        ("lilygo-t-sim7000g", lambda b: b.update(chip="esp32c3"), "unknown"),
        ("lilygo-t-sim7000g", lambda b: b.update(sensors=["battery", "co2"]), "unknown"),
        ("lilygo-t-a7670", lambda b: (b.pop("gnss"), b["sensors"].append("gnss")), "no gnss"),
        ("lilygo-t-sim7080g-s3", lambda b: b["modem"].pop("pmu"), "without modem.pmu"),
    ],
)
def test_checks_catch_a_broken_board(stem, edit, expect):
    found = _broken(stem, edit)
    assert any(expect in p for p in found), found
