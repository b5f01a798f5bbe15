"""Hypothesis: noisy, truncated, corrupted, randomly chunked streams through decoder and store.

Properties: the decoder never raises; every intact frame comes out, in order, whatever the
chunking and whatever noise shares its line; nothing damaged comes out as a frame; and the
store keeps exactly the intact records (nothing bad is stored as data).
"""

from __future__ import annotations

import binascii
import json
import sqlite3
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mobiot.codec import Decoder
from mobiot.store import Store

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
scalars = st.one_of(
    st.integers(-(2**31), 2**31),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.booleans(),
    st.none(),
    st.text(max_size=20),  # any unicode, '@', '*', quotes, newlines: JSON escapes what it must
)
values = st.dictionaries(names, scalars, max_size=6)
noise = st.one_of(
    st.binary(max_size=80).filter(lambda b: b"\n" not in b),
    st.sampled_from(
        [b"Traceback (most recent call last):", b"ets Jun  8 2016 00:22:57", b">>> ", b"@", b"@R {",
         b"*DEADBEEF", b"\xff\x00\x80\xfe", b"I (312) cpu_start: Starting scheduler"]
    ),
)  # fmt: skip


def frame_line(payload: dict) -> bytes:
    body = b"R " + json.dumps(payload, separators=(",", ":")).encode("ascii")
    return b"@" + body + b"*" + f"{binascii.crc32(body):08X}".encode()


@st.composite
def streams(draw):
    """(stream bytes, intact payloads in order, chunk sizes)."""
    n = draw(st.integers(1, 25))
    out: list[bytes] = []
    intact: list[dict] = []
    for seq in range(1, n + 1):
        payload = {
            "device": draw(st.sampled_from(["356938035643809", "dev-b"])), "boot": draw(st.integers(0, 9)),
            "seq": seq, "t": draw(st.integers(0, 2**32)), "clock": draw(st.sampled_from(["utc", "uptime"])),
            "kind": draw(st.sampled_from(["reading", "connectivity", "event", "status"])),
            "values": draw(values),
        }  # fmt: skip
        line = frame_line(payload)
        if len(line) > 1022:
            continue
        fate = draw(st.sampled_from(["intact", "intact", "prefixed", "flip", "truncate", "noise_before"]))
        if fate == "noise_before":
            out.append(draw(noise) + b"\r\n")
            fate = "intact"
        if fate == "intact":
            out.append(line + b"\r\n")
            intact.append(payload)
        elif fate == "prefixed":  # boot noise on the same line, before the frame
            out.append(draw(noise) + line + b"\r\n")
            intact.append(payload)
        elif fate == "flip":
            i = draw(st.integers(1, len(line) - 1))
            bit = draw(st.integers(0, 7))
            bad = bytearray(line)
            bad[i] ^= 1 << bit
            out.append(bytes(bad) + b"\r\n")
        else:
            cut = draw(st.integers(0, len(line) - 1))
            out.append(line[:cut] + b"\r\n")
    stream = b"".join(out)
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=30)))
    return stream, intact, cuts


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams())
def test_decoder_recovers_exactly_the_intact_frames(case):
    stream, intact, cuts = case
    dec = Decoder()
    got = []
    prev = 0
    for c in [*cuts, len(stream)]:
        res = dec.feed(stream[prev:c])
        got += [f.payload for f in res.frames if f.type == "R"]
        prev = c
    got += [f.payload for f in dec.flush().frames]
    assert got == intact


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams())
def test_store_keeps_only_intact_records(case):
    stream, intact, cuts = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.sqlite"
        store = Store(path, durable=False)
        dec = Decoder()
        prev = 0
        acked = []
        for c in [*cuts, len(stream)]:
            res = dec.feed(stream[prev:c])
            store.ingest("fuzz", 1.0, res.frames, res.bad)
            prev = c
            acked += store.flush().acks.get("fuzz", [])
        store.close()
        db = sqlite3.connect(path)
        rows = db.execute("SELECT device, boot, seq, t, clock, kind, vals FROM records ORDER BY seq").fetchall()
        quarantined = db.execute("SELECT count(*) FROM quarantine").fetchone()[0]
        db.close()
    want = [(p["device"], p["boot"], p["seq"], float(p["t"]), p["clock"], p["kind"], p["values"]) for p in intact]
    assert [(*r[:6], json.loads(r[6])) for r in rows] == want
    assert sorted(acked) == [p["seq"] for p in intact]
    assert quarantined <= stream.count(b"\n") - len(intact)
