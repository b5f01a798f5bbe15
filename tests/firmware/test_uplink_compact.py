# The compact CBOR encoder (firmware/mobiot_fw/uplink/compact.py, docs/uplink.md "Compact
# CBOR") on the board's side, with the board's own dict order (none): row runs and delta
# records. Byte-level decoding is checked on the host with cbor2: tests/host/test_uplink_codec.py.
import json

from mobiot_fw.uplink.compact import Compact
from mobiot_fw.uplink.rec import Rec
from mobiot_fw.uplink.table import Table

DEV = "356938035643809"


def _records(n):
    out = []
    for k in range(n):
        env = {"device": DEV, "boot": 3, "t": 1764146800 + 60 * k, "clock": "utc"}
        out.append(json.dumps(dict(env, seq=100 + 2 * k, kind="reading", values={
            "temp": 21.53 + 0.01 * (k % 3), "hum": 45.2, "press": 101325 - k, "bat": 3.912, "lat": 48.137412,
            "lon": 11.575512, "alt": 520.3, "spd": 0, "hdop": 0.9, "sats": 9, "fix": 1})).encode())
        out.append(json.dumps(dict(env, seq=101 + 2 * k, kind="connectivity", values={
            "rssi": -65 - k % 3, "rsrp": -95.3, "rsrq": -10.5, "sinr": 8.1})).encode())
    return out


def test_a_batch_of_ten_reports_fits_the_goal():
    enc = Compact(Table())
    rec = Rec()
    recs = _records(10)
    buf = bytearray(1024)
    enc.begin(buf, 0)
    for b in recs[:2]:  # the first message of the connection
        assert enc.add(rec.parse(b))
    first = enc.end()
    enc.begin(buf, 0)
    added = 0
    for b in recs:
        if enc.add(rec.parse(b)):
            added += 1
    end = enc.end()
    assert first > 0 and added == 20, added
    assert end <= 10 * 24, end  # docs/uplink.md goal: at most 24 bytes a report in batches of 10


def test_a_record_in_any_key_order_goes_as_a_row_run():
    enc = Compact(Table())
    rec = Rec()
    buf = bytearray(256)
    enc.begin(buf, 0)
    assert enc.add(rec.parse(_records(1)[0]))
    end = enc.end()
    # map head, then key 5 and the records array; its one record a row run: an array whose
    # first item is a negative integer (-1: row 1, temp)
    i = bytes(buf[:end]).index(b"\x05\x81")
    assert buf[i + 2] & 0xE0 == 0x80 and buf[i + 3] == 0x20, bytes(buf[:end])
