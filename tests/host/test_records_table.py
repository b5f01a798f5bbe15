"""docs/records.md and firmware/mobiot_fw/records.py describe the same table."""

import re
from pathlib import Path

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
