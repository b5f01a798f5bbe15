# Board side of the serial protocol, version 1: docs/protocol.md (frames, commands, ack lists),
# record payloads per docs/records.md. Pure functions, no I/O: the main loop owns the UART.
#
# Allocation: the JSON writers put bytes into a caller's preallocated bytearray. With int, bool,
# None, ASCII str and preformatted-number (bytes) values encode_record allocates nothing
# (tests/firmware/test_proto.py checks this under micropython.heap_lock()). A float value costs
# a few boxed floats for its rounding: drivers that produce fixed-point ints can avoid that.
# frame() allocates one memoryview slice for binascii.crc32, which takes no offset/length, and
# on 32-bit ports a CRC >= 2**30 is a boxed int: a few dozen bytes per frame, none per byte.
#
# Heap: every function, constant object and new name of an imported .mpy stays in RAM on the
# board (about 128 bytes per function on the unix port), so the writers share one key/value
# path, keys are str constants that double as argument names (one qstr each), and there are
# no bytes/dict/tuple constants beyond _LIT and _NUMCH.
import binascii

from micropython import const

from mobiot_fw import records

_VERSION = const(1)  # docs/protocol.md: version 1
FRAME_MAX = const(1024)  # docs/protocol.md: a frame is at most 1024 bytes including CR LF
PAYLOAD_OFF = const(3)  # "@" type " " precede the payload in a frame buffer
_TAIL = const(11)  # "*" + 8 hex digits + CR LF

_NUMCH = const(b"0123456789+-.eE")
# JSON literals copied by offset (no slice objects): null 0..4, true 4..8, false 8..13
_LIT = const(b"nulltruefalse")


# --- JSON writers: (buf, off, ...) -> the offset after what they wrote ------------------------


def _digits(buf, off, v, base, n, dec):
    # v (>= 0) in `base`: at least n digits (leading zeros), a "." before the last dec of them
    p = base ** (n - 1)
    while p * base <= v:
        p *= base
    n = base**dec  # place value of the units digit
    while p:
        c = v // p % base
        buf[off] = c + (48 if c < 10 else 55)  # 0-9, A-F
        off += 1
        if p == n and dec:
            buf[off] = 0x2E  # .
            off += 1
        p //= base
    return off


def _put_str(buf, off, s):
    # JSON string, ASCII only on the wire (docs/protocol.md): '"' and '\\' are escaped by a
    # backslash, control characters and other code points become \\uXXXX (RFC 8259 section 7)
    buf[off] = 0x22
    off += 1
    for j in range(len(s)):
        c = ord(s[j])
        if c == 0x22 or c == 0x5C:
            buf[off] = 0x5C
            buf[off + 1] = c
            off += 2
        elif 0x20 <= c < 0x7F:
            buf[off] = c
            off += 1
        else:
            if c > 0xFFFF:  # a UTF-16 surrogate pair
                c -= 0x10000
                buf[off] = 0x5C
                buf[off + 1] = 0x75  # u
                off = _digits(buf, off + 2, 0xD800 | (c >> 10), 16, 4, 0)
                c = 0xDC00 | (c & 0x3FF)
            buf[off] = 0x5C
            buf[off + 1] = 0x75
            off = _digits(buf, off + 2, c, 16, 4, 0)
    buf[off] = 0x22
    return off + 1


def _kv(buf, off, key, v):
    # `"key":v,` at off: every member ends with a comma, the object's closer overwrites the last
    off = _put_str(buf, off, key)
    buf[off] = 0x3A  # :
    off += 1
    lit = 0  # a JSON literal is _LIT[lit:end]
    end = 0
    if isinstance(v, str):
        off = _put_str(buf, off, v)
    elif v is True:
        lit = 4
        end = 8
    elif v is False:
        lit = 8
        end = 13
    elif v is None or isinstance(v, float) and v - v != 0:  # NaN, +-inf: JSON has no literal
        end = 4
    elif isinstance(v, float) or isinstance(v, int):
        # an int, or a float rounded half away from zero at the table's decimals for this name,
        # in its shortest form (21.50 -> 21.5, 20.0 -> 20, -0.001 -> 0)
        neg = v < 0
        if neg:
            v = -v
        dec = 0
        if isinstance(v, float):
            dec = records.decimals(key)  # 0..9: 10**dec is a small int on the ESP32 too
            v = int(v * 10**dec + 0.5)
            while dec and v % 10 == 0:
                v //= 10
                dec -= 1
        if neg and v:
            buf[off] = 0x2D  # -
            off += 1
        off = _digits(buf, off, v, 10, dec + 1, dec)
    else:
        # bytes-like: a number literal already formatted by the caller (e.g. the NMEA latitude
        # digits, which single-precision floats on the ESP32 cannot carry to 6 decimals)
        if not v:
            raise ValueError("not a number")
        for j in range(len(v)):
            if v[j] not in _NUMCH:
                raise ValueError("not a number")
            buf[off] = v[j]
            off += 1
    while lit < end:
        buf[off] = _LIT[lit]
        off += 1
        lit += 1
    buf[off] = 0x2C  # ,
    return off + 1


def _members(buf, off, values):
    # a dict, or a sequence of (name, value) pairs (no iterator allocation)
    if isinstance(values, dict):
        for key in values:
            off = _kv(buf, off, key, values[key])
    else:
        for key, v in values:
            off = _kv(buf, off, key, v)
    return off


# --- frames -----------------------------------------------------------------------------------


def encode_record(buf, off, device, boot, seq, t, clock, kind, values):
    """Write a record payload (docs/records.md) as compact JSON into buf at off; return the end.

    values: a dict, or a sequence of (name, value) pairs (no iterator allocation). Value types:
    int, float (rounded to records.decimals(name)), str, bool, None, or bytes holding a
    preformatted JSON number. Raises ValueError if buf is too small.
    """
    try:
        buf[off] = 0x7B  # {
        i = _kv(buf, off + 1, "device", device)
        i = _kv(buf, i, "boot", boot)
        i = _kv(buf, i, "seq", seq)
        i = _kv(buf, i, "t", t)
        i = _kv(buf, i, "clock", clock)
        i = _kv(buf, i, "kind", kind)
        i = _put_str(buf, i, "values")
        buf[i] = 0x3A
        buf[i + 1] = 0x7B
        j = _members(buf, i + 2, values)
        if j == i + 2:
            j += 1  # {} : no comma to overwrite
        buf[j - 1] = 0x7D  # }
        buf[j] = 0x7D
        return j + 1
    except IndexError:
        raise ValueError("frame too long")


def frame(buf, typ, end):
    """Close a frame in buf and return its length (the frame is buf[0:length]): write "@<typ> "
    before the payload at buf[PAYLOAD_OFF:end] and "*<CRC-32 hex>\\r\\n" after it. typ is b"H",
    b"R", b"K" or its byte value. `end` may also be an encoded payload (bytes-like, e.g. a record
    read back from the queue), which is copied to PAYLOAD_OFF first: frame_payload."""
    data = None
    if not isinstance(end, int):
        data = end
        end = PAYLOAD_OFF + len(data)
    if end + _TAIL > len(buf) or end + _TAIL > FRAME_MAX:
        raise ValueError("frame too long")
    if data is not None:
        buf[PAYLOAD_OFF:end] = data
    buf[0] = 0x40  # @
    buf[1] = typ if isinstance(typ, int) else typ[0]
    buf[2] = 0x20
    # CRC-32 (IEEE 802.3, as zlib/binascii) over type, space and payload: docs/protocol.md
    c = binascii.crc32(memoryview(buf)[1:end])
    buf[end] = 0x2A  # *
    end = _digits(buf, end + 1, c, 16, 8, 0)
    buf[end] = 0x0D
    buf[end + 1] = 0x0A
    return end + 2


# frame_payload(buf, typ, payload): frame an already encoded payload. One function object less
# on the board's heap than a wrapper.
frame_payload = frame


def encode_hello(buf, device, fw, board, boot, hold, fwid=""):
    """An H frame (docs/protocol.md): returns its length. `fwid` is the firmware id of the
    deployed files (mobiot_fw.manifest), sent when there is one."""
    try:
        buf[PAYLOAD_OFF] = 0x7B
        i = _kv(buf, PAYLOAD_OFF + 1, "proto", _VERSION)
        i = _kv(buf, i, "device", device)
        i = _kv(buf, i, "fw", fw)
        if fwid:
            i = _kv(buf, i, "fwid", fwid)
        i = _kv(buf, i, "board", board)
        i = _kv(buf, i, "boot", boot)
        i = _kv(buf, i, "hold", bool(hold))
        buf[i - 1] = 0x7D
    except IndexError:
        raise ValueError("frame too long")
    return frame(buf, b"H", i)


def encode_reply(buf, cmd, ok, err=None, extra=None):
    """A K frame"""
    try:
        buf[PAYLOAD_OFF] = 0x7B
        i = _kv(buf, PAYLOAD_OFF + 1, "cmd", cmd)
        i = _kv(buf, i, "ok", bool(ok))
        if err is not None:
            i = _kv(buf, i, "err", err)
        if extra:
            i = _members(buf, i, extra)
        buf[i - 1] = 0x7D
    except IndexError:
        raise ValueError("frame too long")
    return frame(buf, b"K", i)


# --- host -> board commands ---------------------------------------------------------------


def parse_command(line):
    """Parse a host command line (str or bytes) "!verb[ args]*XX" -> (verb, args) as str.

    Leading text before the last "!" and trailing white space are ignored. Raises
    ValueError("checksum") when the checksum is wrong or missing, ValueError("syntax") when the
    line holds no command.
    """
    if not isinstance(line, str):
        line = bytes(line).decode()
    line = line.rstrip()
    start = line.rfind("!")
    if start < 0 or len(line) - start < 2:
        raise ValueError("syntax")
    end = line.rfind("*", start)
    body = line[start + 1 : end]
    # the two hex digits after "*" (either case) are those encode_command computes for the body
    if end < 0 or encode_command(body)[-4:-2] != line[end + 1 :].upper():
        raise ValueError("checksum")
    verb, _, args = body.partition(" ")
    if not verb:
        raise ValueError("syntax")
    return verb, args.strip()


def encode_command(verb, args=""):
    """The host side of a command line, for tests and tools: "!verb args*XX\\r\\n", XX the
    XOR of the characters between "!" and "*" (NMEA 0183 checksum, docs/protocol.md)."""
    body = verb + (" " + args if args else "")
    x = 0
    for c in body:
        x ^= ord(c)
    return "!%s*%02X\r\n" % (body, x)


def iter_ack_ranges(args):
    """Yield (first, last) inclusive sequence ranges of an ack list such as "15,17-20", without
    building a list (one 2-tuple per range). The whole list is validated first (docs/protocol.md:
    never delete the wrong record): malformed input yields nothing and raises ValueError.
    Sequence numbers are decimal and >= 1, and a range a-b needs a <= b."""
    n = len(args)
    for emit in range(2):  # pass 0 validates the whole list, pass 1 yields its ranges
        a = -1  # first number of a range once its "-" is read
        b = -1  # the number being read; -1 before its first digit
        for j in range(n + 1):
            c = ord(args[j]) if j < n else 0x2C  # the list ends as if by a comma
            if 0x30 <= c <= 0x39:
                b = (b if b > 0 else 0) * 10 + c - 0x30
            elif c == 0x2D and a < 0 and b > 0:  # -
                a = b
                b = -1
            elif c == 0x2C and b > 0 and b >= a:  # ,
                if emit:
                    yield (a if a > 0 else b), b
                a = b = -1
            else:
                raise ValueError("bad ack list")
