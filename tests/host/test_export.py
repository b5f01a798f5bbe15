"""`mobiot export` checked against the database it reads, and SenML checked per RFC 8428."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3

import pytest

from mobiot.cli import main
from mobiot.codec import Frame
from mobiot.store import Store

IMEI = "356938035643809"
MAC = "a4cf12b3c4d5"
T0 = 1764146800
RECEIVED = 1764150000.5

# Units per docs/records.md (SenML unit symbols, RFC 8428 section 12.1), written out here.
UNITS = {"temp": "Cel", "sht_temp": "Cel", "hum": "%RH", "press": "Pa", "bat": "V", "rsrp": "dBm",
         "rsrq": "dB", "sinr": "dB", "qdepth": "count", "heap": "B"}  # fmt: skip

RECORDS = [
    {"device": IMEI, "boot": 3, "seq": 1, "t": T0, "clock": "utc", "kind": "reading",
     "values": {"temp": 21.53, "hum": 45.2, "press": 101325, "bat": 3.912}},
    {"device": IMEI, "boot": 3, "seq": 2, "t": T0 + 60, "clock": "utc", "kind": "connectivity",
     "values": {"rat": "lte-m", "oper": "Telekom.de", "rsrp": -97.5, "rsrq": -11, "sinr": 4.5, "psm": True,
                "edrx": False}},
    {"device": IMEI, "boot": 3, "seq": 3, "t": T0 + 120, "clock": "utc", "kind": "reading",
     "values": {"temp": None, "sht_temp": 20.1, "hum": 44}},
    {"device": IMEI, "boot": 4, "seq": 5, "t": 12, "clock": "uptime", "kind": "event",
     "values": {"event": "boot", "reset": "deepsleep", "fw": "0.1.0"}},
    {"device": MAC, "boot": 1, "seq": 1, "t": T0 + 5, "clock": "utc", "kind": "status",
     "values": {"qdepth": 4, "heap": 81234}},
]  # fmt: skip


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "c.sqlite"
    store = Store(path, durable=False)
    store.ingest("/dev/ttyUSB0", RECEIVED, [Frame("R", r, b"") for r in RECORDS])
    store.flush()
    store.close()
    return path


def run(args, capsys):
    rc = main(args)
    out = capsys.readouterr()
    return rc, out.out, out.err


def every_value():
    """(device, seq, name, value) of every value of every record, from the input above."""
    return {(r["device"], r["seq"], n, json.dumps(v)) for r in RECORDS for n, v in r["values"].items()}


def test_jsonl_is_the_records(db, capsys):
    rc, out, _ = run(["export", "--db", str(db), "--format", "jsonl"], capsys)
    assert rc == 0
    got = [json.loads(line) for line in out.splitlines()]
    want = sorted(RECORDS, key=lambda r: (r["device"], r["seq"]))
    assert got == want  # keys device, boot, seq, t, clock, kind, values; nothing lost


def test_csv_has_one_row_per_value_with_units(db, capsys):
    rc, out, _ = run(["export", "--db", str(db), "--format", "csv"], capsys)
    assert rc == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0])[:8] == ["device", "boot", "seq", "t", "kind", "name", "value", "unit"]
    assert len(rows) == sum(len(r["values"]) for r in RECORDS)
    seen = set()
    for row in rows:
        v = row["value"]
        value = None if v == "" else v if not re.fullmatch(r"-?[0-9]+(\.[0-9]+)?|true|false", v) else json.loads(v)
        seen.add((row["device"], int(row["seq"]), row["name"], json.dumps(value)))
        assert row["unit"] == UNITS.get(row["name"], "")
    # Strings that look like numbers would break the check above; the input has none.
    assert seen == every_value()


def test_csv_matches_the_database(db, capsys):
    _, out, _ = run(["export", "--db", str(db), "--format", "csv"], capsys)
    con = sqlite3.connect(db)
    # The schema's normalized view is an independent way to list every value.
    n_values = con.execute("SELECT count(*) FROM record_values").fetchone()[0]
    con.close()
    assert len(out.splitlines()) - 1 == n_values


# ---- SenML --------------------------------------------------------------------------------------

LABELS = {"bn", "bt", "bu", "bv", "bs", "bver", "n", "u", "v", "vs", "vb", "vd", "s", "t", "ut"}
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-:./_]*")  # RFC 8428 section 4.5.1


def resolve_senml(pack):
    """Resolved records (RFC 8428 section 4.6): base values applied, checked on the way."""
    assert isinstance(pack, list) and pack
    bn, bt = "", 0
    out = []
    for rec in pack:
        assert isinstance(rec, dict)
        assert set(rec) <= LABELS, set(rec) - LABELS
        if "bn" in rec:
            bn = rec["bn"]
        if "bt" in rec:
            bt = rec["bt"]
        name = bn + rec.get("n", "")
        assert NAME_RE.fullmatch(name), name
        values = [k for k in ("v", "vs", "vb", "vd") if k in rec]
        assert len(values) == 1, rec  # section 4.2: one value per record here
        kind = values[0]
        if kind == "v":
            assert isinstance(rec["v"], (int, float)) and not isinstance(rec["v"], bool)
        elif kind == "vs":
            assert isinstance(rec["vs"], str)
        else:
            assert isinstance(rec["vb"], bool)
        t = bt + rec.get("t", 0)
        assert t >= 2**28  # absolute time, not relative to "now" (section 4.5.3)
        out.append((name, t, rec.get("u"), rec[kind]))
    return out


def test_senml_is_valid_and_complete(db, capsys):
    rc, out, _ = run(["export", "--db", str(db), "--format", "senml"], capsys)
    assert rc == 0
    resolved = resolve_senml(json.loads(out))
    want = []
    for r in sorted(RECORDS, key=lambda r: (r["device"], r["seq"])):
        # RFC 7254 section 4: urn:gsma:imei: TAC (8) "-" SNR (6) "-" check digit.
        base = "urn:gsma:imei:35693803-564380-9:" if r["device"] == IMEI else f"{r['device']}:"
        when = r["t"] if r["clock"] == "utc" else RECEIVED  # uptime: host reception time
        for n, v in r["values"].items():
            if v is None:
                continue  # SenML has no null
            want.append((base + n, when, UNITS.get(n), v))
    assert resolved == want


def test_filters_device_and_since(db, capsys):
    _, out, _ = run(["export", "--db", str(db), "--format", "jsonl", "--device", MAC], capsys)
    assert [json.loads(x)["device"] for x in out.splitlines()] == [MAC]
    # 2025-11-26T08:47:40Z is T0 + 60: seq 2 and 3 (utc) and seq 5 (uptime, received later).
    _, out, _ = run(["export", "--db", str(db), "--format", "jsonl", "--since", "2025-11-26T08:47:40Z"], capsys)
    assert [(r["device"], r["seq"]) for r in map(json.loads, out.splitlines())] == [
        (IMEI, 2),
        (IMEI, 3),
        (IMEI, 5),
    ]
    _, out2, _ = run(["export", "--db", str(db), "--format", "jsonl", "--since", str(T0 + 60)], capsys)
    assert out2 == out


def test_out_file(db, tmp_path, capsys):
    dest = tmp_path / "x.jsonl"
    rc, out, err = run(["export", "--db", str(db), "--format", "jsonl", "--out", str(dest)], capsys)
    assert rc == 0 and out == ""
    assert len(dest.read_text().splitlines()) == len(RECORDS)
    assert "5 records" in err


def test_missing_database_names_the_file(tmp_path, capsys):
    missing = tmp_path / "nope.sqlite"
    rc, _, err = run(["export", "--db", str(missing)], capsys)
    assert rc == 1
    assert err.startswith("mobiot: error:") and str(missing) in err and len(err.strip().splitlines()) == 1
    assert not missing.exists()


def test_bad_since(db, capsys):
    rc, _, err = run(["export", "--db", str(db), "--since", "yesterday"], capsys)
    assert rc == 1 and "yesterday" in err


def test_imei_urn_is_rfc_7254():
    from mobiot.export import imei_urn

    assert imei_urn(IMEI) == "urn:gsma:imei:35693803-564380-9"
    assert imei_urn(MAC) is None and imei_urn("35693803564380") is None


def test_device_or_time_range_matching_nothing_says_so(db, tmp_path, capsys):
    rc, out, err = run(["export", "--db", str(db), "--device", "nosuch"], capsys)
    assert rc == 1 and out == ""
    assert "no records for device nosuch" in err and IMEI in err and len(err.strip().splitlines()) == 1
    rc, out, err = run(["export", "--db", str(db), "--since", "2030-01-01T00:00:00Z"], capsys)
    assert rc == 1 and out == "" and "no records at or after 2030-01-01T00:00:00Z" in err
    rc, out, err = run(["export", "--db", str(db), "--device", MAC, "--since", str(T0 + 60)], capsys)
    assert rc == 1 and f"for device {MAC}" in err
    dest = tmp_path / "none.csv"
    rc, _, err = run(["export", "--db", str(db), "--device", "nosuch", "--out", str(dest)], capsys)
    assert rc == 1 and not dest.exists()


def test_out_file_is_not_overwritten_without_force(db, tmp_path, capsys):
    dest = tmp_path / "x.jsonl"
    dest.write_text("precious\n")
    rc, _, err = run(["export", "--db", str(db), "--format", "jsonl", "--out", str(dest)], capsys)
    assert rc == 1 and "--force" in err and str(dest) in err
    assert dest.read_text() == "precious\n"
    rc, _, _ = run(["export", "--db", str(db), "--format", "jsonl", "--out", str(dest), "--force"], capsys)
    assert rc == 0 and len(dest.read_text().splitlines()) == len(RECORDS)
