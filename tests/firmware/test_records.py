# firmware/mobiot_fw/records.py on MicroPython (the host checks the same table in
# tests/host/test_records_table.py against docs/records.md), and a record's encode/parse round
# trip through proto.py and MicroPython's json.
import json

from mobiot_fw import proto, records


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
    assert records.event("boot")[1] == (("reset", "str"), ("fw", "str"))
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
