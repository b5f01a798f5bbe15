"""The uplink's payloads (docs/uplink.md): the firmware encoders, run under the MicroPython unix
port, against cbor2 and RFC 8428's rules applied here independently, and against
host/mobiot/uplink_codec.decode_up."""

from __future__ import annotations

import json
import re
import struct
import subprocess
from pathlib import Path

import cbor2
import pytest

from mobiot.uplink_codec import UplinkDecodeError, decode_up, encoding_of

ROOT = Path(__file__).resolve().parents[2]
ENCODE = ROOT / "sim" / "uplink_encode_main.py"
DEV = "356938035643809"
TOPIC = f"mobiot/{DEV}/up"
T0 = 1764146800


def table_from_doc() -> list[tuple[str, str, str, int | None]]:
    """(name, kind, unit, dec) per row of docs/records.md's names table, in order: the compact
    keys are these rows' 1-based numbers (read from the doc, not from the code)."""
    rows = []
    text = (ROOT / "docs" / "records.md").read_text()
    body = text.split("## Names", 1)[1].split("## Events", 1)[0]
    for line in body.splitlines():
        m = re.match(r"\| (\w+) \| (\w+) \| ([^|]*) \| (\w+) \| (\d*) \|", line)
        if m and m.group(1) != "name":
            dec = int(m.group(5)) if m.group(5) else None
            rows.append((m.group(1), m.group(2), m.group(3).strip(), dec))
    return rows


ROWS = table_from_doc()
ROW_NO = {r[0]: i + 1 for i, r in enumerate(ROWS)}


def rec(seq, kind, values, t=None, boot=3, clock="utc"):
    return {"device": DEV, "boot": boot, "seq": seq, "t": T0 + seq * 30 if t is None else t, "clock": clock,
            "kind": kind, "values": values}


def reading(seq, k=0):
    return rec(seq, "reading", {"temp": round(21.53 + 0.01 * k, 2), "hum": round(45.2 - 0.1 * k, 1),
                                "press": 101325 - k, "bat": 3.912, "lat": 52.520008, "lon": 13.404954,
                                "alt": 34.5, "spd": 0, "hdop": 0.9, "sats": 9, "fix": 1}, t=T0 + 60 * k)


SLOW = {"model": "SIM7080G", "imei": DEV, "iccid": "89490200001234567890", "imsi": "262011234567890",
        "modem_fw": "1951B08SIM7080", "rat": "LTE-M", "band": 20, "earfcn": 6300, "pci": 287,
        "cell": 27435972, "tac": 6166, "mcc": 262, "mnc": "01", "oper": 'Tele"kom \u00e9', "reg": "home",
        "ip": "10.64.12.7", "apn": "iot.1nce.net", "psm": True, "t3412_s": 3600, "t3324_s": 60}


def conn(seq, k=0, **over):
    v = dict(SLOW)
    v.update({"rssi": -73 - k % 3, "rsrp": round(-95.3 - 0.4 * k, 1), "rsrq": -10.5, "sinr": round(8.1 + 0.2 * k, 1)})
    v.update(over)
    return rec(seq, "connectivity", {k_: v_ for k_, v_ in v.items() if v_ is not None}, t=T0 + 60 * k)


def encode(encoding: str, messages: list, batch: int = 1, max_bytes: int = 1024, upy: str = "") -> list[bytes]:
    import tempfile

    job = {"encoding": encoding, "device": DEV, "batch": batch, "max_bytes": max_bytes,
           "messages": [m if m == "connect" else [json.dumps(r, separators=(",", ":")) for r in m]
                        for m in messages]}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(job, f)
    try:
        out = subprocess.run([upy, str(ENCODE), f.name], capture_output=True, text=True, timeout=120)
    finally:
        Path(f.name).unlink()
    assert out.returncode == 0, out.stdout + out.stderr
    return [bytes.fromhex(line) for line in out.stdout.split()]


def same(a: dict, b: dict) -> None:
    """Records equal, floats to the table's decimals (what the record itself carries)."""
    assert {k: v for k, v in a.items() if k != "values"} == {k: v for k, v in b.items() if k != "values"}
    assert a["values"].keys() == b["values"].keys(), (a["values"], b["values"])
    for k, v in a["values"].items():
        w = b["values"][k]
        if isinstance(v, float) or isinstance(w, float):
            assert w == pytest.approx(v, abs=1e-9), k
        else:
            assert type(w) is type(v) and w == v, k


# ---- compact ---------------------------------------------------------------------------------


def test_compact_keys_are_doc_rows_and_values_scaled_integers(upy):
    msg = encode("compact", [[reading(17)]], upy=upy)[0]
    assert encoding_of(msg) == "compact" and 0xA0 <= msg[0] <= 0xBB
    m = cbor2.loads(msg)
    assert m[1] == 3 and m[2] == 17 and m[3] == T0 and 4 not in m  # boot, seq, t; utc
    (r,) = m[5]
    # a row run, [-first row, value, value, ...]: values by their row, no keys
    assert isinstance(r, list) and r[0] < 0
    r = {-r[0] + i: v for i, v in enumerate(r[1:]) if v is not cbor2.undefined}
    # integer keys = 1-based rows of docs/records.md; num values x 10**dec
    assert r[ROW_NO["temp"]] == 2153 and r[ROW_NO["hum"]] == 452 and r[ROW_NO["press"]] == 101325
    assert r[ROW_NO["lat"]] == 52520008 and r[ROW_NO["lon"]] == 13404954 and r[ROW_NO["bat"]] == 3912
    assert r[ROW_NO["alt"]] == 345 and r[ROW_NO["sats"]] == 9 and r[ROW_NO["hdop"]] == 9
    assert -1 not in r  # kind follows from the first key's row (reading)
    assert ROW_NO["temp"] == 1  # rows of the doc's table, in its order


def test_compact_row_run_is_shorter_than_the_map_and_decodes_by_row(upy):
    """The first reading and the signal part of a connectivity record go as row runs; values
    out of table order, or a record with a string, stay a map."""
    recs = [reading(17), conn(18)]
    m = cbor2.loads(encode("compact", [recs, recs], batch=2, upy=upy)[1])  # slow fields sent already
    run, sig = m[5]
    assert run[0] == -ROW_NO["temp"] and sig[0] < 0 and cbor2.undefined in sig  # a row not written
    # the decoder on its own, from hand-made CBOR: a run's rows, gaps and kind
    hand = {1: 3, 2: 40, 3: T0, 5: [[-ROW_NO["temp"], 2153, cbor2.undefined, 101325],
                                    [-ROW_NO["rsrp"], -956]]}
    a, b = decode_up(TOPIC, cbor2.dumps(hand))
    assert (a["seq"], a["t"], a["kind"], a["values"]) == (40, T0, "reading", {"temp": 21.53, "press": 101325})
    assert (b["seq"], b["t"], b["kind"], b["values"]) == (41, T0, "connectivity", {"rsrp": -95.6})
    with pytest.raises(UplinkDecodeError, match="past the record table"):
        decode_up(TOPIC, cbor2.dumps({1: 3, 2: 1, 3: T0, 5: [[-len(ROW_NO), 1, 2]]}))
    # the record's key order does not matter (a board's dicts have none): values go by row
    out_of_order = dict(reading(19), values=dict(reversed(list(reading(19)["values"].items()))))
    (r,) = cbor2.loads(encode("compact", [[out_of_order]], upy=upy)[0])[5]
    assert r[0] == -ROW_NO["temp"]
    same(out_of_order, decode_up(TOPIC, encode("compact", [[out_of_order]], upy=upy)[0])[0])
    # a record with a string stays a map
    (r,) = cbor2.loads(encode("compact", [[rec(20, "reading", {"temp": 21.5, "note": "x"})]], upy=upy)[0])[5]
    assert isinstance(r, dict)


def test_compact_single_report_round_trip(upy):
    recs = [reading(17), conn(18)]
    msgs = encode("compact", [recs], batch=2, upy=upy)
    assert len(msgs) == 1
    got = decode_up(TOPIC, msgs[0])
    for a, b in zip(recs, got, strict=True):
        same(a, b)


def test_compact_batch_uses_delta_records_and_decodes_exactly(upy):
    recs = []
    for k in range(10):
        recs += [reading(100 + 2 * k, k), conn(101 + 2 * k, k)]
        recs[-2]["seq"], recs[-1]["seq"] = 100 + 2 * k, 101 + 2 * k
    msgs = encode("compact", [recs, recs], batch=20, upy=upy)
    assert len(msgs) == 2
    m = cbor2.loads(msgs[0])
    deltas = [r for r in m[5] if isinstance(r, list) and r[0] >= 0]
    # every record after the first of its kind, except the second connectivity record: the first
    # (first message of a connection) carries the slow strings, so it cannot be a template
    assert len(deltas) == 17
    assert m[5][3][0] < 0 and m[5][5][0] >= 0  # a row run (no template yet), then a delta record
    # a delta record: [kind, dt, value differences in the template's key order]
    d = m[5][2]
    assert d[0] == 0 and d[1] == 60 and d[2] == 1 and d[3] == -1 and d[4] == -1  # temp +0.01, hum -0.1, press -1
    state: dict = {}
    got = decode_up(TOPIC, msgs[0], state)
    assert len(got) == 20
    for a, b in zip(recs, got, strict=True):
        same(a, b)
    # the steady state (not the first message of a connection): goal <= 24 bytes a report
    assert len(msgs[1]) / 10 <= 24, len(msgs[1])
    for a, b in zip(recs, decode_up(TOPIC, msgs[1], state), strict=True):
        same(a, b)


def test_compact_slow_fields_only_when_changed_and_after_connect(upy):
    first = [reading(1), conn(2)]
    second = [reading(3, 1), conn(4, 1, oper="Vodafone", ip=None)]  # oper changed, ip gone
    third = [reading(5, 2), conn(6, 2, oper="Vodafone", ip=None)]
    msgs = encode("compact", [first, second, third, "connect", third], batch=2, upy=upy)
    assert len(msgs) == 4
    c = [cbor2.loads(m)[5][1] for m in msgs]
    imei, oper, ip = ROW_NO["imei"], ROW_NO["oper"], ROW_NO["ip"]
    assert c[0][imei] == DEV and c[0][oper] == 'Tele"kom \u00e9'
    assert imei not in c[1] and c[1][oper] == "Vodafone" and c[1][ip] is cbor2.undefined
    assert imei not in c[2] and oper not in c[2] and ip not in c[2]
    assert c[3][imei] == DEV and c[3][oper] == "Vodafone"  # first message after a connect
    # message counter: absent in a connection's first message, then 1, 2, ...
    assert [cbor2.loads(m).get(6) for m in msgs] == [None, 1, 2, None]
    # with a state the decoder gives the serial records exactly
    state: dict = {}
    for m, want in zip(msgs, [first, second, third, third], strict=True):
        for a, b in zip(want, decode_up(TOPIC, m, state), strict=True):
            same(a, b)
    # without one (or after a gap) the omitted slow fields are simply absent
    bare = decode_up(TOPIC, msgs[2])[1]
    assert "imei" not in bare["values"] and bare["values"]["rssi"] == third[1]["values"]["rssi"]
    gap: dict = {}
    decode_up(TOPIC, msgs[0], gap)
    assert "imei" not in decode_up(TOPIC, msgs[2], gap)[1]["values"]  # message 1 was missed


def test_compact_envelope_gaps_boot_clock_events(upy):
    recs = [rec(5, "status", {"heap": 81234, "heap_min": 80000, "uptime": 3600, "qdepth": 3, "qdrops": 0,
                              "qerr": 0, "fw": "0.1.0"}),
            rec(9, "event", {"event": "sensor_error", "sensor": "bme280", "err": "ENODEV", "errno": 19}),
            rec(10, "event", {"event": "boot", "reset": "power_on", "fw": "0.1.0"}, t=3, boot=4, clock="uptime"),
            rec(11, "reading", {"sht_temp": 20.25, "x_heap_min": 7, "mystery": 1.23456, "temp": None,
                                "ok": True}, t=4, boot=4, clock="uptime")]
    msgs = encode("compact", [recs], batch=4, upy=upy)
    assert len(msgs) == 1
    m = cbor2.loads(msgs[0])
    assert m[5][1][-3] == 3  # seq gap 6..8
    assert m[5][2][-4] == 4 and m[5][2][-5] == 1  # new boot, uptime clock
    assert m[5][3]["sht_temp"] == 2025 and m[5][3]["mystery"] == 12346  # prefixed: temp's 2 decimals; unknown: 4
    for a, b in zip(recs, decode_up(TOPIC, msgs[0]), strict=True):
        want = dict(a, values=dict(a["values"]))
        if want["seq"] == 11:
            want["values"]["mystery"] = 1.2346
        same(want, b)


def test_compact_message_size_limit_splits(upy):
    recs = [rec(1 + k, "event", {"event": "reg_change", "old": "home", "new": "searching"}) for k in range(20)]
    msgs = encode("compact", ["connect", recs], batch=23, max_bytes=300, upy=upy)
    assert len(msgs) > 1 and all(len(m) <= 300 for m in msgs)
    state: dict = {}
    got = [r for m in msgs for r in decode_up(TOPIC, m, state)]
    assert [r["seq"] for r in got] == [r["seq"] for r in recs]


# ---- SenML-CBOR, checked with RFC 8428's rules here ------------------------------------------


def resolve(pack: list) -> list[dict]:
    """RFC 8428 §4.6 resolution with the integer labels of §6 (bn -2, bt -3, n 0, u 1, v 2, vs 3,
    vb 4, t 6), written from the RFC for this test."""
    bn, bt = "", 0
    out = []
    for e in pack:
        assert not any(isinstance(k, str) and k.endswith("_") for k in e), "must-understand label"
        bn = e.get(-2, bn)
        bt = e.get(-3, bt)
        if 0 in e:
            r = {"n": bn + e[0], "t": bt + e.get(6, 0)}
            for lab, key in ((1, "u"), (2, "v"), (3, "vs"), (4, "vb")):
                if lab in e:
                    r[key] = e[lab]
            out.append(r)
    return out


def test_senml_cbor_resolves_by_rfc8428(upy):
    recs = [reading(17), conn(18)]
    recs[1]["t"] = T0 + 5
    msgs = encode("senml", [recs], batch=2, upy=upy)
    assert len(msgs) == 1 and encoding_of(msgs[0]) == "senml"
    pack = cbor2.loads(msgs[0])
    assert isinstance(pack, list)
    res = {r["n"]: r for r in resolve(pack)}
    urn = "urn:gsma:imei:35693803-564380-9:"  # RFC 7254: TAC-SNR-check digit
    t = res[urn + "temp"]
    assert t["u"] == "Cel" and t["t"] == T0 and t["v"] == struct.unpack(">f", struct.pack(">f", 21.53))[0]
    assert res[urn + "press"]["v"] == 101325 and res[urn + "press"]["u"] == "Pa"
    assert res[urn + "rssi"]["u"] == "dBm" and res[urn + "rssi"]["t"] == T0 + 5
    assert res[urn + "rat"]["vs"] == "LTE-M" and "u" not in res[urn + "rat"]
    assert res[urn + "psm"]["vb"] is True
    assert len(res) == len(recs[0]["values"]) + len(recs[1]["values"])
    for a, b in zip(recs, decode_up(TOPIC, msgs[0]), strict=True):
        same(a, b)


def test_senml_uptime_records_have_no_senml_time(upy):
    r = rec(4, "event", {"event": "time_set", "delta_s": 1764146000, "source": "network"}, t=12, clock="uptime")
    pack = cbor2.loads(encode("senml", [[r]], upy=upy)[0])
    assert -3 not in pack[0] and pack[0]["up"] == 12 and pack[0]["kind"] == "event"
    same(r, decode_up(TOPIC, cbor2.dumps(pack))[0])


# ---- JSON and errors -------------------------------------------------------------------------


def test_json_is_the_serial_record_objects(upy):
    recs = [reading(17), conn(18)]
    msg = encode("json", [recs], batch=2, upy=upy)[0]
    assert json.loads(msg) == recs and decode_up(TOPIC, msg) == recs


@pytest.mark.parametrize(
    "topic,payload,what",
    [("mobiot/x/down", b"\xa0", "not an up topic"), (TOPIC, b"\x01", "unknown encoding"),
     (TOPIC, b"\xa1\x05\x81\x82\x00\x00", "bad compact"), (TOPIC, b"[{\"device\":\"other\"}]", "bad json"),
     (TOPIC, b"\x81\xa1\x64bad_\x01", "bad senml")],
)
def test_bad_messages_are_one_line_errors(topic, payload, what):
    with pytest.raises(UplinkDecodeError, match=what) as e:
        decode_up(topic, payload)
    assert "\n" not in str(e.value)
