# firmware/mobiot_fw/records.py on MicroPython (the host checks the same table in
# tests/host/test_records_table.py against docs/records.md), and a record's encode/parse round
# trip through proto.py and MicroPython's json.
import json
import sys

import micropython
from mobiot_fw import records
from mobiot_fw.link import proto

_DOC = __file__.rpartition("/")[0] + "/../../docs/records.md"


def _doc_decimals():
    # {name: decimals} from the Names table of docs/records.md (the contract), parsed here:
    # None for a row that is not a num
    out = {}
    inside = False
    with open(_DOC) as f:
        for line in f:
            if line.startswith("| name |"):
                inside = True
                continue
            if inside:
                if not line.startswith("|"):
                    break
                c = [x.strip() for x in line.strip().strip("|").split("|")]
                if c[0].startswith("-"):
                    continue
                out[c[0]] = int(c[4]) if c[4] else None
    assert len(out) > 40, len(out)
    return out


def test_board_import_leaves_the_tuples_unbuilt():
    # proto and records are imported above; nothing has asked for FIELDS yet, so the module that
    # builds them must not be loaded (it is what the board must not pay for)
    assert "mobiot_fw.records_api" not in sys.modules
    assert "FIELDS" not in records.__dict__
    assert len(records.FIELDS) == len(_doc_decimals())
    assert "mobiot_fw.records_api" in sys.modules


def test_decimals_follow_the_doc_table():
    # docs/records.md: a num is rounded to its dec; a name with no row (or not a num) to 4; a
    # prefixed name has the row of the longest table name after an underscore
    doc = _doc_decimals()
    for name, dec in doc.items():
        want = 4 if dec is None else dec
        assert records.decimals(name) == want, name
        assert records.decimals("sht_" + name) == want, name
        assert records.decimals("bme_1_" + name) == want, name
        if name + "zz" not in doc:
            assert records.decimals(name + "zz") == 4, name  # no underscore boundary
            assert records.decimals("x" + name) == 4 or ("x" + name) in doc, name
    assert records.decimals("") == 4 and records.decimals("_") == 4 and records.decimals("temp_") == 4
    assert records.decimals("_temp") == 2
    assert records.decimals("x_heap_min") == 4  # heap_min (int), not a shorter "min"
    assert records.decimals("a_edrx_s") == doc["edrx_s"]  # edrx_s, longer than s or edrx


def test_decimals_does_not_allocate():
    names = ("temp", "sht_temp", "bme_1_press", "a_heap_min", "rx_bytes", "nope", "x_y_z", "t3412_s")
    want = [records.decimals(n) for n in names]
    got = [0] * len(names)
    micropython.heap_lock()
    try:
        for i in range(len(names)):
            got[i] = records.decimals(names[i])
    finally:
        micropython.heap_unlock()
    assert got == want and want == [2, 2, 0, 4, 4, 4, 4, 4], got


def test_table_shape():
    names = [r[0] for r in records.FIELDS]
    assert len(names) == len(set(names))
    for r in records.FIELDS:
        assert len(r) == 6 and r[1] in records.KINDS
    for k in ("temp", "hum", "press", "bat", "lat", "lon", "alt", "spd", "sats", "fix"):
        assert records.kind_of(k) == "reading", k
    for k in ("heap", "uptime", "qdepth", "qdrops", "fw"):
        assert records.kind_of(k) == "status", k
    for k in ("rat", "rsrp", "rsrq", "cell", "imei", "t3412_s", "tx_bytes"):
        assert records.kind_of(k) == "connectivity", k


def test_senml_units():
    # RFC 8428 section 12.1 symbols
    assert records.unit_of("temp") == "Cel"
    assert records.unit_of("hum") == "%RH"
    assert records.unit_of("press") == "Pa"
    assert records.unit_of("bat") == "V"
    assert records.unit_of("lat") == "lat" and records.unit_of("lon") == "lon"
    assert records.unit_of("spd") == "m/s"
    assert records.unit_of("rsrp") == "dBm"


def test_prefix_resolution():
    assert records.base_name("ds_temp") == "temp"
    assert records.base_name("bme_1_hum") == "hum"
    assert records.base_name("a_heap_min") == "heap_min"
    assert records.base_name("temperature") is None
    assert records.lwm2m_of("sht_temp") == "3303/0/5700"
    assert records.lwm2m_of("bat") == "3/0/7"


def test_events():
    assert records.event("boot")[1] == (("reset", "str"), ("fw", "str"), ("fwid", "str"))
    assert records.event("queue_drop") is not None
    assert records.event("nope") is None


def test_record_round_trip_every_kind():
    buf = bytearray(proto.FRAME_MAX)
    cases = (
        ("reading", (("sht_temp", 21.53), ("hum", 45.2), ("press", 101325), ("sats", 9))),
        ("connectivity", (("rat", "lte-m"), ("rsrp", -97.5), ("cell", 26396163), ("psm", True))),
        ("status", (("heap", 81234), ("uptime", 3600), ("qdepth", 0), ("fw", "0.1.0"))),
        ("event", (("event", "boot"), ("reset", "deepsleep"), ("fw", "0.1.0"))),
    )
    seq = 1
    for kind, vals in cases:
        end = proto.encode_record(buf, 0, "356938035643809", 4, seq, 1764146800, "utc", kind, vals)
        d = json.loads(bytes(buf[:end]))
        assert d["kind"] == kind and d["seq"] == seq and d["boot"] == 4
        for k, v in vals:
            got = d["values"][k]
            if isinstance(v, float):
                assert abs(got - v) < 0.5 * 10 ** -records.decimals(k) + 1e-9, (k, got)
            else:
                assert got == v, (k, got)
        vd = d["values"]
        assert records.check_values(kind, vd) == [], records.check_values(kind, vd)
        seq += 1
