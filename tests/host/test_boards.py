"""Board definitions (boards/*.json) against their schema (mobiot.boarddef, docs/boards.md), the
chips' pin rules, the firmware that reads them, and the device form that goes onto a board.

Each check is a function board -> list of problems (mobiot.boarddef), so the same checks are
run on the real boards (no problems) and on broken copies of them (the problem is found): a
check that cannot fail is caught here too.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from pathlib import Path

import pytest

from mobiot import boarddef
from mobiot.boarddef import INPUT_PINS, KEYS, PIN_KEYS, is_virtual, problems
from mobiot.errors import MobiotError

ROOT = Path(__file__).resolve().parents[2]
BOARD_FILES = sorted((ROOT / "boards").glob("*.json"))
DOC = ROOT / "docs" / "boards.md"


def load(path: Path) -> dict:
    return json.loads(path.read_text())


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


def doc_host_keys() -> set[str]:
    """The keys docs/boards.md "## Host-only keys and the device form" lists before "Every other"."""
    text = DOC.read_text()
    section = text.split("\n## Host-only keys and the device form\n", 1)[1].split("Every other key", 1)[0]
    listed = set(re.findall(r"`([a-z_][a-z0-9_.]*)`", section.split("never go onto a board:", 1)[1])) & set(KEYS)
    # an object listed there ("`micropython` and its keys") takes its keys with it
    return listed | {k for k in KEYS for o in listed if KEYS[o][0] == "object" and k.startswith(o + ".")}


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
        ("lilygo-t-sim7080g-s3", lambda b: b["modem"].update(ri=b["modem"]["tx"]), "already used"),
        ("lilygo-t-sim7000g", lambda b: b.update(flash_offset=0), "flash_offset"),
        ("lilygo-t-sim7080g-s3", lambda b: b.update(flash_offset=0x1000), "flash_offset"),
        ("lilygo-t-sim7080g-s3", lambda b: b["micropython"].update(build="ESP32_GENERIC"), "build"),
        (
            "lilygo-t-a7670",
            lambda b: b["micropython"].update(file="ESP32_GENERIC-SPIRAM-20241129-v1.24.1.bin"),
            "micropython.file",
        ),
        ("lilygo-t-a7670", lambda b: b["micropython"].update(version="1.24.1"), "micropython.file"),
        ("lilygo-t-a7670", lambda b: b["modem"]["_src"].pop("power_en"), "no _src"),
        ("lilygo-t-a7670", lambda b: b["modem"]["_src"].pop("reset_ms"), "no _src"),
        ("lilygo-t-a7670", lambda b: b["micropython"]["_src"].pop("file"), "no _src"),
        ("lilygo-t-sim7080g-s3", lambda b: b["i2c"]["_src"].pop("scl"), "no _src"),
        ("lilygo-t-sim7000g", lambda b: b["battery"]["_src"].pop("divider"), "no _src"),
        ("lilygo-t-sim7000g", lambda b: b["modem"].update(pwrkey="4"), "is not pin"),
        ("lilygo-t-sim7000g", lambda b: b["modem"].update(sleep_pin=2), "not a board key"),
        # removed from the schema: the modem model's table holds the pulse widths (issue 9)
        ("lilygo-t-sim7000g", lambda b: b["modem"].update(pwrkey_on_ms=1100), "not a board key"),
        ("lilygo-t-sim7000g", lambda b: b.update(led={"pin": 12}), "not a board key"),
        ("lilygo-t-sim7000g", lambda b: b.pop("usb"), "required, missing"),
        ("lilygo-t-sim7000g", lambda b: b["modem"].pop("pwrkey_active"), "required, missing"),
        ("lilygo-t-sim7000g", lambda b: b["modem"].update(uart=0), "REPL"),
        ("lilygo-t-sim7000g", lambda b: b["battery"].update(atten=12), "battery.atten"),
        ("lilygo-t-sim7000g", lambda b: b.pop("micropython"), "Virtual board"),
        ("lilygo-t-sim7000g", lambda b: b.update(chip="esp32c3"), "unknown"),
        ("lilygo-t-sim7000g", lambda b: b.update(sensors=["battery", "co2"]), "unknown"),
        ("lilygo-t-a7670", lambda b: (b.pop("gnss"), b["sensors"].append("gnss")), "no gnss"),
        ("lilygo-t-sim7080g-s3", lambda b: b["modem"].pop("pmu"), "without modem.pmu"),
        ("lilygo-t-sim7080g-s3", lambda b: b["modem"]["pmu"].update(model="AXP192"), "the firmware drives"),
        ("sim-s3", lambda b: b["modem"]["pmu"].update(model="AXP192"), "the firmware drives"),
        ("lilygo-t-sim7080g-s3", lambda b: b["modem"]["pmu"].update(i2c=0), "not a board key"),
    ],
)
def test_checks_catch_a_broken_board(stem, edit, expect):
    found = _broken(stem, edit)
    assert any(expect in p for p in found), found


def test_a_changed_chip_changes_the_pin_rules():
    # chip is host-only: it selects the rules the board is checked by (and esptool's --chip)
    b = copy.deepcopy(_hw("lilygo-t-sim7000g"))
    assert problems(b) == []
    b["chip"] = "esp32s3"
    assert any("micropython.build" in p for p in problems(b))


# ---- the schema is docs/boards.md ----------------------------------------------------------


def test_doc_table_is_the_schema():
    doc = doc_schema()
    code = {k: (t, req) for k, (t, req, _) in KEYS.items()}
    assert {k: v for k, v in doc.items() if k not in code} == {}, "in docs/boards.md, not in boarddef.KEYS"
    assert {k: v for k, v in code.items() if k not in doc} == {}, "in boarddef.KEYS, not in docs/boards.md"
    assert doc == code


def test_doc_lists_the_host_only_keys():
    assert doc_host_keys() == set(boarddef.HOST_KEYS)


# ---- every key is read: device keys by the firmware, host keys by the host tools -------------


def _names_in(folder: Path, leaf: str) -> list[str]:
    # A key is read as board["leaf"], c.get("leaf"...) or "leaf" in c: named as a string
    # literal next to a subscript, a get or an `in`.
    pat = re.compile(r"""\[\s*["']%s["']\s*\]|\.get\(\s*["']%s["']|["']%s["']\s+in\b""" % ((re.escape(leaf),) * 3))
    return [str(p.relative_to(ROOT)) for p in folder.rglob("*.py") if pat.search(p.read_text(errors="replace"))]


def test_every_device_key_is_read_by_the_firmware():
    unread = []
    for key, (_, _, by) in KEYS.items():
        if by != boarddef.DEVICE or key in boarddef.NOT_READ_YET:
            continue
        if not _names_in(ROOT / "firmware", key.rsplit(".", 1)[-1]):
            unread.append(key)
    assert unread == [], "device keys no firmware code reads: read them, or remove them from the schema"


def test_keys_not_read_yet_are_still_unread():
    # NOT_READ_YET only shrinks: once the firmware reads a key, take it off the list. (A leaf
    # name the firmware uses for something else cannot be told apart here: none today.)
    now_read = {k: _names_in(ROOT / "firmware", k.rsplit(".", 1)[-1]) for k in boarddef.NOT_READ_YET}
    assert {k: v for k, v in now_read.items() if v} == {}, "read now: remove from boarddef.NOT_READ_YET"


# which host module reads each host-only key (checked: the module names it)
HOST_READERS = {
    "description": "board.py",
    "chip": "boarddef.py",
    "micropython": "boarddef.py",
    "micropython.build": "boarddef.py",
    "micropython.variant": "boarddef.py",
    "micropython.version": "boarddef.py",
    "micropython.file": "boarddef.py",
    "micropython.url": "flash.py",
    "image": "flash.py",
    "image.file": "flash.py",
    "image.url": "flash.py",
    "flash_offset": "boarddef.py",
    "flash_size": "boarddef.py",
    "usb": "board.py",
    "usb.vid": "board.py",
    "usb.pid": "board.py",
    "modem.pmu.model": "boarddef.py",
    "_src": "boarddef.py",
}


def test_every_host_key_is_read_by_the_host_tools():
    assert set(HOST_READERS) == set(boarddef.HOST_KEYS)
    for key, module in HOST_READERS.items():
        readers = _names_in(ROOT / "host" / "mobiot", key.rsplit(".", 1)[-1])
        assert f"host/mobiot/{module}" in readers, (key, readers)


def test_the_firmware_knows_every_board_modem(upy):
    # modem.model is the firmware's: its model table (cell_models) must have each board's model
    code = ("import sys\nfor m in ('mobiot_fw.cell.models', 'mobiot_fw.cell_models'):\n"
            "    try:\n        t = __import__(m, None, None, ['names'])\n        break\n"
            "    except ImportError:\n        pass\nprint(' '.join(t.names()))")
    env = {"MICROPYPATH": str(ROOT / "firmware")}
    out = subprocess.run([upy, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    models = set(out.stdout.split())
    assert models, out.stdout
    for p in BOARD_FILES:
        assert load(p)["modem"]["model"] in models, p.stem


# ---- load() and the device form --------------------------------------------------------------


def test_load_checks_and_names_the_file_and_key(tmp_path):
    b = _hw("lilygo-t-sim7000g")
    b["modem"]["tx"] = 34
    (tmp_path / "bad.json").write_text(json.dumps(dict(b, name="bad")))
    (tmp_path / "garbled.json").write_text('{"name": "garbled",\n "chip": }')
    (tmp_path / "other.json").write_text(json.dumps(_hw("lilygo-t-sim7000g")))
    cases = {"bad": "bad.json: modem.tx: GPIO34 is input-only", "garbled": "garbled.json:2:",
             "other": "is not the file's name", "nope": "no " + str(tmp_path / "nope.json")}
    for name, want in cases.items():
        with pytest.raises(MobiotError) as exc:
            boarddef.load(name, tmp_path)
        assert want in str(exc.value) and "\n" not in str(exc.value), str(exc.value)


def test_every_board_loads_by_name():
    assert boarddef.names() == sorted(p.stem for p in BOARD_FILES)
    for p in BOARD_FILES:
        assert boarddef.load(p.stem)["name"] == p.stem


@pytest.mark.parametrize("path", BOARD_FILES, ids=lambda p: p.stem)
def test_device_form_keeps_what_the_firmware_reads_and_nothing_else(path):
    board = load(path)
    dev = boarddef.device_form(board)
    kept = {k for k, _, _ in boarddef.walk(dev)}
    want = {k for k, _, _ in boarddef.walk(board) if KEYS[k][2] == boarddef.DEVICE}
    assert kept == want
    assert "_src" not in json.dumps(dev)
    for k in kept:  # values unchanged
        assert boarddef.get(dev, k) == boarddef.get(board, k) or isinstance(boarddef.get(dev, k), dict)
    assert json.loads(boarddef.device_json(board)) == dev


def test_device_form_of_the_s3_board_is_a_fraction_of_the_file():
    path = ROOT / "boards" / "lilygo-t-sim7080g-s3.json"
    full, dev = path.read_text(), boarddef.device_json(load(path))
    assert len(dev) * 3 < len(full), (len(dev), len(full))
    assert "usb" not in json.loads(dev) and "micropython" not in json.loads(dev)


def test_device_form_refuses_an_unknown_key():
    b = _hw("sim")
    b["modem"]["sleep_pin"] = 2
    with pytest.raises(MobiotError, match="modem.sleep_pin"):
        boarddef.device_form(b)


def test_image_is_the_release_file_and_where_it_goes():
    img = boarddef.image(boarddef.load("lilygo-t-sim7080g-s3"))
    assert img["url"] == ("https://micropython.org/resources/firmware/"
                          "ESP32_GENERIC_S3-SPIRAM_OCT-20260824-v1.29.0.bin")
    assert (img["chip"], img["offset"], img["flash_size"]) == ("esp32s3", 0, "16MB")
    with pytest.raises(MobiotError, match="virtual"):
        boarddef.image(boarddef.load("sim"))
