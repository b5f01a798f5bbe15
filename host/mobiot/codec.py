"""Host side of the serial protocol v1 (docs/protocol.md): frame decoder and command encoder.

The decoder is incremental and works on whole lines with bytes methods (split, rfind, crc32,
json.loads), never byte by byte in Python, so that decoding is a small part of the collector's
per-record cost.

Every line of the stream is one of three things:

- a frame: `@T {json}*CRC32` whose CRC matches and whose payload is a JSON object;
- a bad frame: a line that carries a frame head (`@H {`, `@R {`, `@K {`) or ends in a CRC
  trailer after an `@`, but whose CRC, JSON or shape is wrong (truncated by a reset, corrupted
  on the wire). These are counted and kept raw for the collector's quarantine table;
- a log line: anything else (MicroPython output, tracebacks, boot ROM text, wrong-baud
  garbage). Not data, never counted as an error.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from collections.abc import Iterable
from typing import Any, NamedTuple

# docs/protocol.md "Board -> host frames": a frame is at most 1024 bytes including CR LF.
FRAME_MAX = 1024
# The longest line the decoder keeps while waiting for its end. A frame ends its line, so only
# the last FRAME_MAX bytes of an overlong line can hold one; the rest is dropped as log text.
_TAIL_KEEP = FRAME_MAX
FRAME_TYPES = (b"H", b"R", b"K")
_HEADS = (b"@H {", b"@R {", b"@K {")
# "*" + 8 hex digits of CRC-32 (IEEE 802.3, zlib.crc32), docs/protocol.md.
_CRC_LEN = 8
_TRAILER_LEN = 1 + _CRC_LEN
_HEX_UPPER = frozenset(b"0123456789ABCDEF")

# docs/protocol.md "Host -> board commands": the board accepts CR or LF; one terminator only.
COMMAND_EOL = b"\n"
# Keep command lines short so a board with a small line buffer takes them whole.
ACK_LINE_MAX = 120


def _no_constant(name: str) -> float:
    # NaN and Infinity are not JSON (RFC 8259 section 6); Python would accept them.
    raise ValueError(name)


_JSON_DECODE = json.JSONDecoder(parse_constant=_no_constant).decode


class Frame(NamedTuple):
    """One valid frame: `type` is "H", "R" or "K"; `raw` is the frame line from `@` to the CRC."""

    type: str
    payload: dict
    raw: bytes


class BadFrame(NamedTuple):
    """A line that looked like a frame but did not pass the checks; `reason` is one word."""

    raw: bytes
    reason: str


class Decoded(NamedTuple):
    frames: list[Frame]
    bad: list[BadFrame]
    logs: list[bytes]


def frame_crc(body: bytes) -> bytes:
    """The 8 upper-case hex digits of CRC-32 over `body` (type, space and payload)."""
    return b"%08X" % zlib.crc32(body)


def encode_frame(ftype: str, payload: dict) -> bytes:
    """Board-side encoding of a frame, with CR LF: used by tests, benchmarks and fake boards."""
    body = ftype.encode("ascii") + b" " + json.dumps(payload, separators=(",", ":")).encode("ascii")
    return b"@" + body + b"*" + frame_crc(body) + b"\r\n"


def _check_at(line: bytes, at: int) -> Frame | str:
    """Parse the frame starting at index `at` (an `@`) to the end of `line`: a Frame or a reason."""
    n = len(line)
    if n - at > FRAME_MAX - 2:
        return "length"
    if line[n - _TRAILER_LEN] != 0x2A:  # "*"
        return "trailer"
    body = line[at + 1 : n - _TRAILER_LEN]
    crc = line[n - _CRC_LEN :]
    if frame_crc(body) != crc:
        return "crc"
    if body[1:2] != b" " or body[:1] not in FRAME_TYPES:
        return "type"
    # The payload is ASCII per the protocol; the CRC already vouches for what the board sent,
    # so a non-ASCII payload is a board bug, not line noise: still bad, never data.
    try:
        payload = _JSON_DECODE(body[2:].decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return "json"
    if not isinstance(payload, dict):
        return "json"
    return Frame(chr(body[0]), payload, line[at:])


def classify_line(line: bytes) -> Frame | BadFrame | None:
    """One line without its terminator: a Frame, a BadFrame, or None for a log line.

    A frame starts at the last `@` of the line whose remainder is a valid frame (text before it
    is boot noise); a string value inside the payload may hold an `@` too, hence the walk
    leftwards when the remainder after the last `@` does not check out.
    """
    at = line.rfind(b"@")
    if at < 0:
        return None
    first_reason = None
    while at >= 0:
        n = len(line)
        # Cheap shape test first: room for "@T {}" and a trailer; the CRC catches the rest.
        if n - at >= 5 + _TRAILER_LEN:
            res = _check_at(line, at)
            if isinstance(res, Frame):
                return res
            if first_reason is None or res == "crc":
                first_reason = res
        at = line.rfind(b"@", 0, at)
    if _looks_like_frame(line):
        return BadFrame(line, first_reason or "short")
    return None


def _looks_like_frame(line: bytes) -> bool:
    """A frame head anywhere, or an `@` followed later by a well-formed CRC trailer."""
    for head in _HEADS:
        if head in line:
            return True
    n = len(line)
    if n >= _TRAILER_LEN and line[n - _TRAILER_LEN] == 0x2A and b"@" in line[: n - _TRAILER_LEN]:
        return all(c in _HEX_UPPER for c in line[n - _CRC_LEN :])
    return False


class Decoder:
    """Incremental decoder: `feed(bytes)` with any chunking, get what the complete lines held.

    Counters (`frames`, `bad_frames`, `log_lines`, `bytes_in`) add up over the decoder's life.
    """

    __slots__ = ("_tail", "frames", "bad_frames", "log_lines", "bytes_in")

    def __init__(self) -> None:
        self._tail = b""
        self.frames = 0
        self.bad_frames = 0
        self.log_lines = 0
        self.bytes_in = 0

    def feed(self, data: bytes) -> Decoded:
        self.bytes_in += len(data)
        frames: list[Frame] = []
        bad: list[BadFrame] = []
        logs: list[bytes] = []
        if self._tail:
            data = self._tail + data
        lines = data.split(b"\n")
        tail = lines.pop()
        if len(tail) > _TAIL_KEEP:
            # No line end for more than a frame's length: the head can never be part of a
            # frame, keep only what could still end one.
            logs.append(tail[:-_TAIL_KEEP])
            tail = tail[-_TAIL_KEEP:]
        self._tail = tail
        for line in lines:
            if line[-1:] == b"\r":
                line = line[:-1]
            # Fast path: a whole line that is a frame (the common case at line rate).
            if line[:1] == b"@" and line.count(b"@") == 1 and len(line) >= 5 + _TRAILER_LEN:
                res = _check_at(line, 0)
                if isinstance(res, Frame):
                    frames.append(res)
                    continue
            got = classify_line(line)
            if got is None:
                if line:
                    logs.append(line)
            elif isinstance(got, Frame):
                frames.append(got)
            else:
                bad.append(got)
        self.frames += len(frames)
        self.bad_frames += len(bad)
        self.log_lines += len(logs)
        return Decoded(frames, bad, logs)

    def flush(self) -> Decoded:
        """End of stream: the unterminated last line is judged as it stands."""
        tail, self._tail = self._tail, b""
        if not tail:
            return Decoded([], [], [])
        got = self.feed(tail + b"\n")
        self.bytes_in -= 1
        return got


# ---- records ---------------------------------------------------------------------------------

RECORD_KINDS = ("reading", "connectivity", "event", "status")
CLOCKS = ("utc", "uptime")


def record_problem(p: dict[str, Any]) -> str | None:
    """Why an R payload is not a storable record (docs/protocol.md, docs/records.md), or None."""
    dev = p.get("device")
    if not isinstance(dev, str) or not dev or len(dev) > 64:
        return "device"
    boot = p.get("boot")
    if type(boot) is not int or boot < 0:
        return "boot"
    # seq starts at 1 (docs/records.md); the board rejects a whole ack list holding a 0.
    seq = p.get("seq")
    if type(seq) is not int or seq < 1:
        return "seq"
    t = p.get("t")
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
        return "t"
    if p.get("clock") not in CLOCKS:
        return "clock"
    if p.get("kind") not in RECORD_KINDS:
        return "kind"
    values = p.get("values")
    if not isinstance(values, dict):
        return "values"
    for name, v in values.items():
        tv = type(v)
        if tv is float:
            if not math.isfinite(v):
                return "value " + name
        elif tv not in (int, str, bool) and v is not None:
            # null: measured but unavailable (docs/records.md "Envelope")
            return "value " + name
    return None


# ---- host -> board commands ------------------------------------------------------------------


def nmea_checksum(body: bytes) -> int:
    """XOR of all bytes between "!" and "*" (NMEA 0183 style), docs/protocol.md."""
    x = 0
    for c in body:
        x ^= c
    return x


def encode_command(verb: str, args: str = "") -> bytes:
    """`!verb args*XX` plus the line end, e.g. encode_command("hello") == b"!hello*62\\n"."""
    body = (verb + (" " + args if args else "")).encode("ascii")
    if not body or any(c < 0x20 or c > 0x7E or c in (0x21, 0x2A) for c in body):
        raise ValueError(f"command {body!r} must be printable ASCII without '!' or '*'")
    return b"!" + body + b"*%02X" % nmea_checksum(body) + COMMAND_EOL


def seq_ranges(seqs: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted, deduplicated (first, last) runs of consecutive integers."""
    out: list[tuple[int, int]] = []
    for s in sorted(set(seqs)):
        if out and s == out[-1][1] + 1:
            out[-1] = (out[-1][0], s)
        else:
            out.append((s, s))
    return out


def encode_acks(seqs: Iterable[int], max_line: int = ACK_LINE_MAX) -> list[bytes]:
    """`!ack` command lines covering `seqs` (ranges compressed), each at most `max_line` bytes."""
    lines: list[bytes] = []
    items: list[str] = []
    # "!ack " + list + "*XX" + EOL
    budget = max_line - len("!ack *XX") - len(COMMAND_EOL)
    used = -1
    for a, b in seq_ranges(seqs):
        item = str(a) if a == b else f"{a}-{b}"
        if items and used + 1 + len(item) > budget:
            lines.append(encode_command("ack", ",".join(items)))
            items, used = [], -1
        items.append(item)
        used += 1 + len(item)
    if items:
        lines.append(encode_command("ack", ",".join(items)))
    return lines


_COMMAND_RE = re.compile(rb"!([ -)+-~]+)\*([0-9A-F]{2})\r?\n?$")


def parse_command(line: bytes) -> tuple[str, str]:
    """Board-side parse of `!verb args*XX`: (verb, args); ValueError on a bad line or checksum."""
    m = _COMMAND_RE.search(line)
    if not m:
        raise ValueError("not a command")
    body = m.group(1)
    if b"!" in body or nmea_checksum(body) != int(m.group(2), 16):
        raise ValueError("checksum")
    verb, _, args = body.decode("ascii").partition(" ")
    return verb, args


def parse_ack_list(args: str) -> list[int]:
    """`15,17-20` -> [15, 17, 18, 19, 20]; ValueError when malformed."""
    out: list[int] = []
    for part in args.split(","):
        a, dash, b = part.partition("-")
        if not a.isdigit() or (dash and not b.isdigit()):
            raise ValueError(f"bad ack item {part!r}")
        lo, hi = int(a), int(b) if dash else int(a)
        if hi < lo:
            raise ValueError(f"bad ack range {part!r}")
        out.extend(range(lo, hi + 1))
    return out
