"""docs/records.md and firmware/mobiot_fw/records.py describe the same table."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mobiot_fw import records

DOC = Path(__file__).resolve().parents[2] / "docs" / "records.md"


def _table(header_first):
    rows = []
    inside = False
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith(f"| {header_first} |"):
            inside = True
            continue
        if inside:
            if not line.startswith("|"):
                break
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if set(cells[0]) <= set("-"):
                continue
            rows.append(cells)
    assert rows, f"no table starting with | {header_first} | in {DOC}"
    return rows


def test_names_table_equals_records_fields():
    doc = [(c[0], c[1], c[2], c[3], int(c[4]) if c[4] else None, c[5]) for c in _table("name")]
    assert doc == list(records.FIELDS)


def test_events_table_equals_records_events():
    doc = []
    for c in _table("event"):
        fields = tuple(tuple(f.strip().split(":")) for f in c[1].split(",")) if c[1] else ()
        doc.append((c[0], fields))
    assert doc == list(records.EVENTS)


def test_every_row_is_well_formed():
    senml = {"Cel", "%RH", "Pa", "V", "lat", "lon", "m", "m/s", "/", "count", "B", "s", "dBm", "dB", ""}
    for name, kind, unit, typ, dec, lwm2m in records.FIELDS:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name), name
        assert kind in records.KINDS and kind != "event"
        assert unit in senml, (name, unit)
        assert typ in ("num", "int", "str", "bool")
        assert (dec is not None) == (typ == "num"), name
        assert lwm2m == "" or re.fullmatch(r"\d+/0/\d+", lwm2m), lwm2m
    names = [r[0] for r in records.FIELDS]
    assert len(names) == len(set(names))


def test_unit_of_prefixed_names():
    assert records.unit_of("temp") == "Cel"
    assert records.unit_of("sht_temp") == "Cel"
    assert records.unit_of("bme_1_press") == "Pa"
    assert records.unit_of("x_heap_min") == "B"  # longest known tail, not "min"
    assert records.unit_of("ds_t3412_s") == "s"
    assert records.unit_of("fix") == ""
    assert records.unit_of("nothing") is None
    assert records.decimals("sht_temp") == 2 and records.decimals("foo") == records.DEFAULT_DEC


def test_check_values():
    assert records.check_values("reading", {"sht_temp": 21.5, "sats": 7}) == []
    assert records.check_values("reading", {"sats": 7.5})
    assert records.check_values("reading", {"rsrp": -90})  # connectivity name in a reading
    assert records.check_values("event", {"event": "boot", "reset": "wdt"}) == []
    assert records.check_values("event", {"event": "boot", "bogus": 1})
    assert records.check_values("event", {"event": "nope"})


def test_decimals_agree_with_the_doc_and_the_host_lookup():
    # records.decimals() (the board's in-place scan) and records.field() (the host's lookup over
    # FIELDS) implement the same prefix rule twice: they must agree, and both follow the doc.
    doc = {c[0]: int(c[4]) if c[4] else None for c in _table("name")}
    assert "rounded to 4 decimals" in DOC.read_text(encoding="utf-8") and records.DEFAULT_DEC == 4
    for name, dec in doc.items():
        for n in (name, "sht_" + name, "bme_1_" + name, name + "zz", "x" + name, "_" + name):
            r = records.field(n)
            want = 4 if r is None or r[4] is None else r[4]
            assert records.decimals(n) == want, n
        assert records.decimals("sht_" + name) == (4 if dec is None else dec)
        assert records.base_name("a_b_" + name) == name
    assert records.base_name("x_heap_min") == "heap_min" and records.base_name("heapmin") is None


def _tool(name: str) -> str | None:
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else shutil.which(name)


# The heap that importing proto (and with it records) takes on the unix port, compiled to .mpy
# as provisioning does. It was ~29.6 KB when the table was tuples (records alone ~21 KB); the
# goal is <= 6 KB (the whole firmware must fit ~110 KB of ESP32 heap). Measured 6.2 KB on the
# 64-bit unix port; an ESP32 (32-bit pointers) needs less. Since proto lives in the link
# package, importing it also makes that package's module (~320 B): 6.6 KB measured.
BOARD_IMPORT_BUDGET = 6800


def test_board_import_cost(tmp_path):
    mpy_cross, upy = _tool("mpy-cross"), _tool("micropython")
    if not (mpy_cross and upy):
        pytest.fail("mpy-cross or the micropython unix port is not installed: run `make setup`")
    fw = Path(__file__).resolve().parents[2] / "firmware"
    for py in (fw / "mobiot_fw").rglob("*.py"):
        name = py.relative_to(fw).as_posix()
        out = tmp_path / name.replace(".py", ".mpy")
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([mpy_cross, "-s", name, "-o", str(out), str(py)], check=True)
    code = (
        "import gc, sys; gc.collect(); a = gc.mem_free(); import mobiot_fw.link.proto; gc.collect();"
        "print(a - gc.mem_free(), 'mobiot_fw.records_api' in sys.modules,"
        " mobiot_fw.link.proto.records.decimals('sht_temp'))"
    )
    got = subprocess.run(
        [upy, "-X", "heapsize=512k", "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.split()
    assert got[1:] == ["False", "2"], got
    assert int(got[0]) <= BOARD_IMPORT_BUDGET, got
