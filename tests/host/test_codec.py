"""Codec against docs/protocol.md: frames built by hand here, CRCs and checksums computed here."""

from __future__ import annotations

import binascii
import json
from functools import reduce

import pytest

from mobiot import codec
from mobiot.codec import BadFrame, Decoder, Frame, classify_line, encode_acks, encode_command

# The worked example of docs/protocol.md, verbatim (its CRC is part of the contract).
DOC_EXAMPLE = (
    b'@R {"device":"356938035643809","boot":3,"seq":17,"t":1764146800,"clock":"utc",'
    b'"kind":"reading","values":{"temp":21.53,"hum":45.2,"press":101325}}*67048C10'
)


def hand_frame(ftype: bytes, payload: bytes) -> bytes:
    """Frame per docs/protocol.md: "@" type " " payload "*" CRC-32 as 8 upper-case hex, CR LF."""
    body = ftype + b" " + payload
    return b"@" + body + b"*" + f"{binascii.crc32(body):08X}".encode() + b"\r\n"


def xor(data: bytes) -> int:
    return reduce(lambda a, b: a ^ b, data, 0)


def test_doc_example_decodes():
    got = Decoder().feed(DOC_EXAMPLE + b"\r\n")
    assert got.bad == [] and got.logs == []
    (fr,) = got.frames
    assert fr.type == "R"
    assert fr.payload == {
        "device": "356938035643809", "boot": 3, "seq": 17, "t": 1764146800, "clock": "utc",
        "kind": "reading", "values": {"temp": 21.53, "hum": 45.2, "press": 101325},
    }  # fmt: skip
    assert fr.raw == DOC_EXAMPLE


def test_doc_example_crc_matches_independent_crc():
    body = DOC_EXAMPLE[1 : DOC_EXAMPLE.index(b"*")]
    assert f"{binascii.crc32(body):08X}" == "67048C10"
    assert codec.frame_crc(body) == b"67048C10"


def test_hello_and_reply_frames():
    h = hand_frame(b"H", b'{"proto":1,"device":"d1","fw":"0.1","board":"esp32-devkit","boot":7,"hold":true}')
    k = hand_frame(b"K", b'{"cmd":"interval","ok":false,"err":"range"}')
    got = Decoder().feed(h + k)
    assert [f.type for f in got.frames] == ["H", "K"]
    assert got.frames[0].payload["hold"] is True
    assert got.frames[1].payload["err"] == "range"


def test_encode_frame_is_what_the_doc_describes():
    payload = {
        "device": "d",
        "boot": 0,
        "seq": 1,
        "t": 5,
        "clock": "uptime",
        "kind": "event",
        "values": {"x": "é"},
    }
    compact = json.dumps(payload, separators=(",", ":")).encode()  # ASCII: é -> \u00e9
    assert b"\\u00e9" in compact
    assert codec.encode_frame("R", payload) == hand_frame(b"R", compact)


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 4096])
def test_any_chunking_gives_the_same_frames(chunk):
    rec = b'{"device":"d","boot":1,"seq":%d,"t":%d,"clock":"utc","kind":"reading","values":{"v":%d}}'
    stream = b"".join(hand_frame(b"R", rec % (i, 1764146800 + i, i)) + b"log line %d\r\n" % i for i in range(20))
    dec = Decoder()
    frames, logs = [], []
    for off in range(0, len(stream), chunk):
        got = dec.feed(stream[off : off + chunk])
        frames += got.frames
        logs += got.logs
        assert got.bad == []
    assert [f.payload["seq"] for f in frames] == list(range(20))
    assert logs == [b"log line %d" % i for i in range(20)]
    assert dec.frames == 20 and dec.log_lines == 20 and dec.bytes_in == len(stream)


def test_noise_before_the_frame_on_the_same_line_is_ignored():
    fr = hand_frame(b"R", b'{"device":"d","boot":1,"seq":1,"t":1,"clock":"uptime","kind":"event","values":{}}')
    # Boot ROM text and a stray "@" before the frame, on the same line.
    got = Decoder().feed(b"ets Jun  8 2016 rst:0x1 @x" + fr)
    assert len(got.frames) == 1 and got.frames[0].payload["seq"] == 1
    assert got.bad == []


def test_at_sign_inside_a_string_value():
    fr = hand_frame(
        b"R", b'{"device":"d","boot":1,"seq":2,"t":1,"clock":"utc","kind":"event","values":{"msg":"a@R b"}}'
    )
    (got,) = Decoder().feed(fr).frames
    assert got.payload["values"]["msg"] == "a@R b"


def test_bad_crc_is_a_bad_frame_not_a_log():
    fr = bytearray(hand_frame(b"R", b'{"device":"d","boot":1,"seq":3,"t":1,"clock":"utc","kind":"event","values":{}}'))
    fr[10] ^= 0x01  # one bit flipped on the wire
    got = Decoder().feed(bytes(fr))
    assert got.frames == [] and got.logs == []
    assert got.bad == [BadFrame(bytes(fr[:-2]), "crc")]


def test_lowercase_crc_is_rejected():
    fr = hand_frame(b"K", b'{"cmd":"bye","ok":true,"x":"zz"}')
    lower = fr[:-10] + fr[-10:-2].lower() + b"\r\n"
    assert fr[-10:-2] != fr[-10:-2].lower(), "pick a payload whose CRC has a hex letter"
    got = Decoder().feed(lower)
    assert got.frames == [] and len(got.bad) == 1


def test_valid_crc_but_bad_json_is_bad():
    for payload in (b'{"a":1', b"[1,2]", b'{"a":NaN}', b'{"a":"\xff"}'):
        got = classify_line(hand_frame(b"R", payload)[:-2])
        assert isinstance(got, BadFrame), payload
        assert got.reason == "json"


def test_unknown_type_is_bad():
    got = classify_line(hand_frame(b"X", b"{}")[:-2])
    assert isinstance(got, BadFrame) and got.reason == "type"


def test_truncated_frame_is_bad_and_log_lines_are_logs():
    fr = hand_frame(b"R", b'{"device":"d","boot":1,"seq":4,"t":1,"clock":"utc","kind":"event","values":{}}')
    got = Decoder().feed(fr[:30] + b"\r\n" + b"Traceback (most recent call last):\r\n>>> \r\n")
    assert len(got.bad) == 1 and got.frames == []
    assert got.logs == [b"Traceback (most recent call last):", b">>> "]


def test_log_lines_with_at_signs_and_binary_are_logs():
    lines = [b"user@example.com logged", b"\x00\xff\x13\x80 wrong baud", b"@", b"@@@@", b"price: 5 @ 3*2"]
    got = Decoder().feed(b"\r\n".join(lines) + b"\r\n")
    assert got.frames == [] and got.bad == []
    assert got.logs == lines


def test_overlong_line_without_end_does_not_grow_the_buffer():
    dec = Decoder()
    for _ in range(100):
        dec.feed(b"x" * 10_000)
    assert len(dec._tail) <= codec.FRAME_MAX
    fr = hand_frame(b"R", b'{"device":"d","boot":1,"seq":9,"t":1,"clock":"utc","kind":"event","values":{}}')
    got = dec.feed(fr)  # the frame still ends the garbage line
    assert len(got.frames) == 1


def test_frame_over_1024_bytes_is_rejected():
    big = b'{"device":"d","boot":1,"seq":1,"t":1,"clock":"utc","kind":"event","values":{"s":"' + b"a" * 1000 + b'"}}'
    line = hand_frame(b"R", big)
    assert len(line) > 1024
    got = Decoder().feed(line)
    assert got.frames == [] and len(got.bad) == 1


def test_flush_judges_the_last_unterminated_line():
    fr = hand_frame(b"K", b'{"cmd":"bye","ok":true}')
    dec = Decoder()
    assert dec.feed(fr[:-2]).frames == []
    assert len(dec.flush().frames) == 1


# ---- commands ---------------------------------------------------------------------------------


def test_hello_command_matches_the_doc():
    assert encode_command("hello") == b"!hello*62" + codec.COMMAND_EOL
    assert xor(b"hello") == 0x62


def test_command_checksum_is_nmea_xor():
    for verb, args in (("bye", ""), ("interval", "60"), ("status", ""), ("sample", "")):
        body = (verb + (" " + args if args else "")).encode()
        assert encode_command(verb, args) == b"!" + body + b"*%02X" % xor(body) + codec.COMMAND_EOL


def test_command_rejects_control_and_framing_chars():
    for bad in ("a*b", "x!y", "tab\t", "\x03"):
        with pytest.raises(ValueError):
            encode_command("ack", bad)


def test_ack_of_the_doc_example():
    # docs/protocol.md: `!ack 15,17-20*48`
    assert xor(b"ack 15,17-20") == 0x48
    assert encode_acks([20, 15, 18, 17, 19, 17]) == [b"!ack 15,17-20*48" + codec.COMMAND_EOL]


def _parse_ack_line(line: bytes) -> list[int]:
    """Independent board-side reading of one ack line."""
    assert line.endswith(codec.COMMAND_EOL)
    line = line[: -len(codec.COMMAND_EOL)]
    assert line.startswith(b"!ack ") and line[-3:-2] == b"*"
    body = line[1:-3]
    assert int(line[-2:], 16) == xor(body)
    seqs = []
    for item in body[4:].split(b","):
        if b"-" in item:
            a, b = item.split(b"-")
            assert int(a) < int(b)
            seqs += range(int(a), int(b) + 1)
        else:
            seqs.append(int(item))
    return seqs


def test_acks_split_into_short_lines_and_cover_exactly_the_seqs():
    seqs = list(range(0, 3000, 2)) + list(range(5000, 5100)) + [10**9]
    lines = encode_acks(seqs)
    assert len(lines) > 1
    assert all(len(line) <= codec.ACK_LINE_MAX for line in lines)
    got = [s for line in lines for s in _parse_ack_line(line)]
    assert got == sorted(set(seqs))


def test_acks_respect_a_custom_line_limit():
    lines = encode_acks(range(1, 200, 3), max_line=24)
    assert all(len(line) <= 24 for line in lines)
    assert [s for line in lines for s in _parse_ack_line(line)] == list(range(1, 200, 3))


def test_no_seqs_no_ack():
    assert encode_acks([]) == []


def test_parse_command_roundtrip_and_rejects_bad_checksum():
    assert codec.parse_command(b"!ack 15,17-20*48\r") == ("ack", "15,17-20")
    assert codec.parse_command(encode_command("interval", "600")) == ("interval", "600")
    with pytest.raises(ValueError):
        codec.parse_command(b"!ack 15,17-20*49\n")
    assert codec.parse_ack_list("15,17-20") == [15, 17, 18, 19, 20]
    with pytest.raises(ValueError):
        codec.parse_ack_list("5-3")


# ---- records ------------------------------------------------------------------------------------


def _rec(**kw):
    base = {
        "device": "d",
        "boot": 1,
        "seq": 1,
        "t": 1764146800,
        "clock": "utc",
        "kind": "reading",
        "values": {},
    }
    base.update(kw)
    return base


def test_record_problem():
    assert codec.record_problem(_rec()) is None
    # docs/records.md: numbers, strings, true/false or null (measured but unavailable)
    assert codec.record_problem(_rec(values={"a": 1, "b": 2.5, "c": "x", "d": True, "e": None})) is None
    assert codec.record_problem(_rec(seq=-1)) == "seq"
    assert codec.record_problem(_rec(seq=0)) == "seq"  # docs/records.md: seq starts at 1
    assert codec.record_problem(_rec(boot=0)) is None
    assert codec.record_problem(_rec(seq=True)) == "seq"
    assert codec.record_problem(_rec(seq="1")) == "seq"
    assert codec.record_problem(_rec(device="")) == "device"
    assert codec.record_problem(_rec(clock="gps")) == "clock"
    assert codec.record_problem(_rec(kind="other")) == "kind"
    assert codec.record_problem(_rec(values=[1])) == "values"
    assert codec.record_problem(_rec(values={"a": [1]})) == "value a"
    assert codec.record_problem(_rec(values={"a": float("inf")})) == "value a"
    assert codec.record_problem(_rec(t=float("nan"))) == "t"
    r = _rec()
    del r["boot"]
    assert codec.record_problem(r) == "boot"


def test_frame_namedtuple_shape():
    fr = Decoder().feed(hand_frame(b"K", b'{"cmd":"bye","ok":true}')).frames[0]
    assert isinstance(fr, Frame) and fr.type == "K" and fr.payload == {"cmd": "bye", "ok": True}


# ---- against the board side (firmware/mobiot_fw/link/proto.py, run here under CPython) -------------


@pytest.fixture
def proto(monkeypatch):
    """The firmware's protocol module under CPython: `micropython.const` is the identity there."""
    import importlib
    import sys
    import types

    if "micropython" not in sys.modules:
        shim = types.ModuleType("micropython")
        shim.const = lambda x: x
        monkeypatch.setitem(sys.modules, "micropython", shim)
    monkeypatch.delitem(sys.modules, "mobiot_fw.link.proto", raising=False)
    return importlib.import_module("mobiot_fw.link.proto")


def test_board_frames_decode(proto):
    buf = bytearray(proto.FRAME_MAX)
    values = {"temp": 21.534, "hum": 45.25, "press": 101325, "bat": 3.9, "rat": "lte-m", "psm": True, "x": None}
    n = proto.frame(buf, b"R", proto.encode_record(buf, proto.PAYLOAD_OFF, "356938035643809", 3, 17, 1764146800, "utc",
                                                   "reading", values))
    got = Decoder().feed(bytes(buf[:n]))
    (fr,) = got.frames
    assert fr.type == "R" and codec.record_problem(fr.payload) is None
    p = fr.payload
    assert (p["device"], p["boot"], p["seq"], p["t"], p["clock"], p["kind"]) == (
        "356938035643809", 3, 17, 1764146800, "utc", "reading",
    )  # fmt: skip
    assert p["values"]["press"] == 101325 and p["values"]["psm"] is True and p["values"]["x"] is None
    assert abs(p["values"]["temp"] - 21.53) < 1e-9  # docs/records.md: temp has 2 decimals
    n = proto.encode_hello(buf, "356938035643809", "0.1.0", "sim", 3, True)
    (h,) = Decoder().feed(bytes(buf[:n])).frames
    assert h.type == "H" and h.payload["hold"] is True and h.payload["proto"] == 1


def test_board_parses_our_acks_and_commands(proto):
    seqs = [1, 2, 3, 5, 8, 9, 10] + list(range(100, 400, 2))
    covered = []
    for line in encode_acks(seqs):
        verb, args = proto.parse_command(line)
        assert verb == "ack"
        for a, b in proto.iter_ack_ranges(args):
            covered += range(a, b + 1)
    assert covered == sorted(seqs)
    for verb in ("hello", "bye", "status", "sample"):
        assert proto.parse_command(encode_command(verb)) == (verb, "")
    assert proto.parse_command(encode_command("interval", "60")) == ("interval", "60")
