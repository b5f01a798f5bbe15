# firmware/mobiot_fw/link/proto.py against docs/protocol.md. Expected CRCs and checksums are computed
# here from their definitions (CRC-32 via binascii, NMEA XOR by hand), not taken from the code.
import binascii
import json

import micropython
from mobiot_fw.link import proto

BUF = bytearray(proto.FRAME_MAX)
BUF2 = bytearray(proto.FRAME_MAX)


def _split(frame):
    # -> (type, payload bytes, crc hex) checking the frame grammar of docs/protocol.md
    assert frame[0:1] == b"@" and frame[-2:] == b"\r\n"
    star = frame.rfind(b"*")
    assert star == len(frame) - 11
    body = frame[1:star]
    assert body[1:2] == b" "
    for c in frame[:-2]:
        assert 0x20 <= c <= 0x7E
    return body[0:1], body[2:], frame[star + 1 : -2], body


def _crc_hex(b):
    c = binascii.crc32(b) & 0xFFFFFFFF
    return ("%08X" % c).encode()


def _record_frame(*rec):
    # an R frame as store/outbox.py writes one: the payload at PAYLOAD_OFF, the frame around it
    return proto.frame(BUF, b"R", proto.encode_record(BUF, proto.PAYLOAD_OFF, *rec))


def test_protocol_doc_example_crc():
    n = _record_frame("356938035643809", 3, 17, 1764146800, "utc", "reading",
                      (("temp", 21.53), ("hum", 45.2), ("press", 101325)))
    want = (
        b'@R {"device":"356938035643809","boot":3,"seq":17,"t":1764146800,"clock":"utc",'
        b'"kind":"reading","values":{"temp":21.53,"hum":45.2,"press":101325}}*67048C10\r\n'
    )
    assert bytes(BUF[:n]) == want


def test_record_round_trip_and_crc():
    vals = (("sht_temp", -3.256), ("hum", 99.96), ("bat", 3.7), ("sats", 7), ("fix", 1),
            ("oper", 'Tele "2"\\x'), ("psm", True), ("edrx", False), ("rsrp", None),
            ("lat", b"-33.8688197"), ("lon", 151.2092955))
    n = _record_frame("dev-1", 12, 4000000000, 1764146800, "utc", "reading", vals)
    typ, payload, crc, body = _split(bytes(BUF[:n]))
    assert typ == b"R"
    assert crc == _crc_hex(body)
    d = json.loads(payload)
    assert d["device"] == "dev-1" and d["boot"] == 12 and d["seq"] == 4000000000
    assert d["t"] == 1764146800 and d["clock"] == "utc" and d["kind"] == "reading"
    v = d["values"]
    assert v["sht_temp"] == -3.26  # rounded to the 2 decimals of temp (base name)
    assert v["hum"] == 100.0 and v["bat"] == 3.7 and v["sats"] == 7
    assert v["oper"] == 'Tele "2"\\x' and v["psm"] is True and v["edrx"] is False
    assert v["rsrp"] is None
    assert abs(v["lat"] - (-33.8688197)) < 1e-9  # preformatted digits pass through
    assert abs(v["lon"] - 151.209296) < 1e-6  # 6 decimals


def test_non_ascii_is_escaped():
    n = proto.encode_reply(BUF, "x", False, "caf\u00e9 \U0001F600")
    typ, payload, crc, body = _split(bytes(BUF[:n]))
    assert b"\\u00E9" in payload and b"\\uD83D\\uDE00" in payload
    assert json.loads(payload)["err"].startswith("caf\u00e9 ")  # MicroPython json keeps surrogates
    # control characters: RFC 8259 section 7 requires them escaped; \u00XX is valid for all
    n = proto.encode_reply(BUF, "x", False, "a\nb\tc\x01")
    typ, payload, crc, body = _split(bytes(BUF[:n]))
    assert b"a\\u000Ab\\u0009c\\u0001" in payload, payload
    assert json.loads(payload)["err"] == "a\nb\tc\x01"


def test_float_rounding_per_table():
    for name, v, want in (("temp", 21.005, "21.01"), ("temp", 20.0, "20"), ("press", 101324.6, "101325"),
                          ("hum", 0.04, "0"), ("temp", -0.001, "0"), ("unknown", 1.23456, "1.2346"),
                          # docs/records.md: a prefixed name has the decimals of the longest table
                          # name after an underscore; not a num, or no such name: 4
                          ("sht_temp", 21.005, "21.01"), ("bme_1_press", 101324.6, "101325"),
                          ("ds_bat", -3.7004, "-3.7"), ("a_heap_min", 1.23456, "1.2346"),
                          ("xtemp", 0.123456, "0.1235"), ("lat", 0.0000004, "0"),
                          ("lon", -0.000005, "-0.000005"), ("alt", 1e6 + 0.25, "1000000.3")):
        end = proto.encode_record(BUF, 0, "d", 1, 1, 0, "uptime", "reading", ((name, v),))
        s = bytes(BUF[:end])
        assert s.endswith(b'"values":{"%s":%s}}' % (name.encode(), want.encode())), (name, v, s)


def test_hello_and_reply_frames():
    n = proto.encode_hello(BUF, "356938035643809", "0.1.0", "t-sim7080g", 5, True)
    typ, payload, crc, body = _split(bytes(BUF[:n]))
    assert typ == b"H" and crc == _crc_hex(body)
    assert json.loads(payload) == {"proto": 1, "device": "356938035643809", "fw": "0.1.0",
                                   "board": "t-sim7080g", "boot": 5, "hold": True}
    n = proto.encode_reply(BUF, "?", False, "checksum")
    assert bytes(BUF[:n]).startswith(b'@K {"cmd":"?","ok":false,"err":"checksum"}*')
    n = proto.encode_reply(BUF, "interval", True, extra=(("interval_s", 60),))
    typ, payload, crc, body = _split(bytes(BUF[:n]))
    assert json.loads(payload) == {"cmd": "interval", "ok": True, "interval_s": 60}


def test_frame_payload_from_queue_bytes():
    payload = b'{"device":"d","boot":1,"seq":2,"t":3,"clock":"uptime","kind":"status","values":{}}'
    n = proto.frame_payload(BUF, b"R", payload)
    assert bytes(BUF[:n]) == b"@R " + payload + b"*" + _crc_hex(b"R " + payload) + b"\r\n"


def test_too_long_raises():
    small = bytearray(64)
    try:
        proto.encode_record(small, 0, "d" * 80, 1, 1, 0, "utc", "reading", ())
        assert False
    except ValueError:
        pass
    try:
        proto.frame_payload(BUF, b"R", bytes(1020))
        assert False
    except ValueError:
        pass


def _xor(s):
    x = 0
    for ch in s:
        x ^= ord(ch)
    return x


def test_parse_command_checksum():
    assert "%02X" % _xor("hello") == "62"  # docs/protocol.md: !hello*62
    assert proto.parse_command("!hello*62\r\n") == ("hello", "")
    assert proto.parse_command(b"noise>!hello*62\n") == ("hello", "")
    assert proto.parse_command("!ack 15,17-20*%02X\r" % _xor("ack 15,17-20")) == ("ack", "15,17-20")
    assert proto.parse_command("!interval 60*%02x" % _xor("interval 60")) == ("interval", "60")
    assert proto.encode_command("ack", "15,17-20") == "!ack 15,17-20*%02X\r\n" % _xor("ack 15,17-20")
    for bad in ("!hello*63", "!hello", "!hello*6", "!hellp*62", "!ack 15,17-21*48", "!hello*G2"):
        try:
            proto.parse_command(bad)
            assert False, bad
        except ValueError as e:
            assert e.args[0] == "checksum", (bad, e.args)
    for bad in ("hello*62", "", "!*00"):
        try:
            proto.parse_command(bad)
            assert False, bad
        except ValueError as e:
            assert e.args[0] in ("syntax", "checksum")


def test_ack_ranges():
    assert list(proto.iter_ack_ranges("15,17-20")) == [(15, 15), (17, 20)]
    assert list(proto.iter_ack_ranges("1")) == [(1, 1)]
    assert list(proto.iter_ack_ranges("3-3,9,100-4000000000")) == [(3, 3), (9, 9), (100, 4000000000)]
    for bad in ("", "0", "5-3", "1,,2", "1-", "-1", "1,2,", "a", "1 2", "1-2-3"):
        try:
            list(proto.iter_ack_ranges(bad))
            assert False, bad
        except ValueError:
            pass


def test_bad_ack_list_yields_nothing():
    # validation happens before the first range is produced: a damaged list acks nothing
    got = []
    try:
        for r in proto.iter_ack_ranges("15,17-20,x"):
            got.append(r)
    except ValueError:
        pass
    assert got == []


def test_encode_record_does_not_allocate():
    vals = (("temp", 2153), ("hum", 452), ("press", 101325), ("fw", "0.1.0"), ("psm", True))
    more = (("rssi", -97), ("sht_temp", 0), ("oper", 'a "b" \\'), ("edrx", False), ("rsrp", None),
            ("lat", b"-33.8688197"))
    conn = {"rat": "lte-m", "cell": 26396163}
    proto.encode_record(BUF, 3, "356938035643809", 3, 17, 1764146800, "utc", "reading", vals)
    proto.encode_record(BUF2, 3, "356938035643809", 3, 17, 1764146800, "utc", "reading", more)
    proto.encode_record(BUF2, 3, "356938035643809", 3, 17, 1764146800, "utc", "connectivity", conn)
    micropython.heap_lock()
    try:
        end = proto.encode_record(BUF, 3, "356938035643809", 3, 18, 1764146801, "utc", "reading", vals)
        end2 = proto.encode_record(BUF2, 3, "356938035643809", 3, 18, 1764146801, "utc", "reading",
                                   (("temp", 2153), ("lat", b"52.520008")))
        end3 = proto.encode_record(BUF2, end2, "d", 3, 19, 5, "uptime", "reading", more)
        end4 = proto.encode_record(BUF2, end3, "d", 3, 20, 5, "uptime", "connectivity", conn)
    finally:
        micropython.heap_unlock()
    assert json.loads(bytes(BUF2[3:end2]))["values"]["lat"] == 52.520008
    assert json.loads(bytes(BUF[3:end]))["values"]["fw"] == "0.1.0"
    v = json.loads(bytes(BUF2[end2:end3]))["values"]
    assert v == {"rssi": -97, "sht_temp": 0, "oper": 'a "b" \\', "edrx": False, "rsrp": None,
                 "lat": -33.8688197}, v
    assert json.loads(bytes(BUF2[end3:end4]))["values"] == conn


def test_frame_allocation_is_small():
    import gc

    end = proto.encode_record(BUF, proto.PAYLOAD_OFF, "d", 1, 1, 0, "utc", "status", (("heap", 1),))
    gc.collect()
    gc.disable()
    a0 = gc.mem_alloc()
    n = proto.frame(BUF, b"R", end)
    used = gc.mem_alloc() - a0
    gc.enable()
    assert n == end + 11
    assert used <= 128, used  # the memoryview slice for crc32, independent of the frame length


def test_parse_ack_list_does_not_allocate_per_range():
    import gc

    args = ",".join("%d-%d" % (i, i + 1) for i in range(1, 200, 3))
    gc.collect()
    gc.disable()
    a0 = gc.mem_alloc()
    n = 0
    for a, b in proto.iter_ack_ranges(args):
        n += b - a + 1
    used = gc.mem_alloc() - a0
    gc.enable()
    assert n == 2 * 67
    assert used <= 256 + 48 * 67, used  # the generator and one 2-tuple per range, no list
