# Board side of the serial protocol, version 1: docs/protocol.md (frames, commands, ack lists),
# record payloads per docs/records.md. Pure functions, no I/O: the main loop owns the UART.
#
# Allocation: the JSON writers put bytes into a caller's preallocated bytearray. With int, bool,
# None, ASCII str and preformatted-number (bytes) values encode_record allocates nothing
# (tests/firmware/test_proto.py checks this under micropython.heap_lock()). A float value costs
# a few boxed floats for its rounding: drivers that produce fixed-point ints can avoid that.
# frame() allocates one memoryview slice for binascii.crc32, which takes no offset/length, and
# on 32-bit ports a CRC >= 2**30 is a boxed int: a few dozen bytes per frame, none per byte.
import binascii

from micropython import const


from mobiot_fw import records

PROTO_VERSION = const(1)
FRAME_MAX = const(1024)  # docs/protocol.md: a frame is at most 1024 bytes including CR LF
PAYLOAD_OFF = const(3)  # "@" type " " precede the payload in a frame buffer
_TAIL = const(11)  # "*" + 8 hex digits + CR LF

_HEX = b"0123456789ABCDEF"
_NUMCH = b"0123456789+-.eE"
_P10 = (1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000)

_ESC = {0x22: 0x22, 0x5C: 0x5C, 0x0A: 0x6E, 0x0D: 0x72, 0x09: 0x74}  # '"' '\' \n \r \t


class FrameError(ValueError):
    pass


# --- JSON writers: (buf, i, ...) -> new i ---------------------------------------------------


def _put(buf, i, b):
    n = len(b)
    buf[i : i + n] = b
    return i + n


def _put_uint(buf, i, v):
    if v < 10:
        buf[i] = 48 + v
        return i + 1
    p = 10
    while p * 10 <= v:
        p *= 10
    while p:
        d = v // p
        buf[i] = 48 + d
        i += 1
        v -= d * p
        p //= 10
    return i


def _put_int(buf, i, v):
    if v < 0:
        buf[i] = 0x2D
        return _put_uint(buf, i + 1, -v)
    return _put_uint(buf, i, v)


def _put_float(buf, i, v, dec):
    if v != v or v - v != 0:  # NaN or +-inf: JSON has no literal for them
        return _put(buf, i, b"null")
    if dec > 9:
        dec = 9
    neg = v < 0
    if neg:
        v = -v
    p = _P10[dec]
    s = int(v * p + 0.5)  # round half away from zero at `dec` decimals
    if neg and s:
        buf[i] = 0x2D
        i += 1
    ip = s // p
    fp = s - ip * p
    i = _put_uint(buf, i, ip)
    if fp:
        while fp % 10 == 0:  # shortest form: 21.50 -> 21.5
            fp //= 10
            dec -= 1
        buf[i] = 0x2E
        i += 1
        q = _P10[dec - 1]
        while q:
            d = fp // q
            buf[i] = 48 + d
            i += 1
            fp -= d * q
            q //= 10
    return i


def _put_str(buf, i, s):
    # JSON string, ASCII only on the wire (docs/protocol.md): other code points become \uXXXX
    buf[i] = 0x22
    i += 1
    for j in range(len(s)):
        c = ord(s[j])
        if 0x20 <= c < 0x7F and c != 0x22 and c != 0x5C:
            buf[i] = c
            i += 1
        elif c in _ESC:
            buf[i] = 0x5C
            buf[i + 1] = _ESC[c]
            i += 2
        elif c > 0xFFFF:  # UTF-16 surrogate pair, RFC 8259 section 7
            c -= 0x10000
            i = _put_u16esc(buf, i, 0xD800 | (c >> 10))
            i = _put_u16esc(buf, i, 0xDC00 | (c & 0x3FF))
        else:
            i = _put_u16esc(buf, i, c)
    buf[i] = 0x22
    return i + 1


def _put_u16esc(buf, i, c):
    buf[i] = 0x5C
    buf[i + 1] = 0x75  # u
    buf[i + 2] = _HEX[(c >> 12) & 15]
    buf[i + 3] = _HEX[(c >> 8) & 15]
    buf[i + 4] = _HEX[(c >> 4) & 15]
    buf[i + 5] = _HEX[c & 15]
    return i + 6


def _put_value(buf, i, name, v):
    if v is None:
        return _put(buf, i, b"null")
    if v is True:
        return _put(buf, i, b"true")
    if v is False:
        return _put(buf, i, b"false")
    if isinstance(v, int):
        return _put_int(buf, i, v)
    if isinstance(v, float):
        return _put_float(buf, i, v, records.decimals(name))
    if isinstance(v, str):
        return _put_str(buf, i, v)
    # bytes-like: a number literal already formatted by the caller (e.g. the NMEA latitude
    # digits, which single-precision floats on the ESP32 cannot carry to 6 decimals)
    n = len(v)
    if not n:
        raise ValueError("empty number")
    for j in range(n):
        if v[j] not in _NUMCH:
            raise ValueError("not a number")
    buf[i : i + n] = v
    return i + n


def _put_key(buf, i, k):
    i = _put_str(buf, i, k)
    buf[i] = 0x3A  # :
    return i + 1


# --- frames -----------------------------------------------------------------------------------


def encode_record(buf, off, device, boot, seq, t, clock, kind, values):
    """Write a record payload (docs/records.md) as compact JSON into buf at off; return the end.

    values: a dict, or a sequence of (name, value) pairs (no iterator allocation). Value types:
    int, float (rounded to records.decimals(name)), str, bool, None, or bytes holding a
    preformatted JSON number. Raises ValueError if buf is too small.
    """
    try:
        i = _put(buf, off, b'{"device":')
        i = _put_str(buf, i, device)
        i = _put(buf, i, b',"boot":')
        i = _put_int(buf, i, boot)
        i = _put(buf, i, b',"seq":')
        i = _put_int(buf, i, seq)
        i = _put(buf, i, b',"t":')
        i = _put_int(buf, i, t)
        i = _put(buf, i, b',"clock":')
        i = _put_str(buf, i, clock)
        i = _put(buf, i, b',"kind":')
        i = _put_str(buf, i, kind)
        i = _put(buf, i, b',"values":{')
        first = True
        if isinstance(values, dict):
            for k in values:
                if not first:
                    buf[i] = 0x2C
                    i += 1
                first = False
                i = _put_key(buf, i, k)
                i = _put_value(buf, i, k, values[k])
        else:
            for k, v in values:
                if not first:
                    buf[i] = 0x2C
                    i += 1
                first = False
                i = _put_key(buf, i, k)
                i = _put_value(buf, i, k, v)
        buf[i] = 0x7D
        buf[i + 1] = 0x7D
        return i + 2
    except IndexError:
        raise ValueError("record too long")


def frame(buf, typ, end):
    """Close a frame whose payload sits at buf[PAYLOAD_OFF:end]: write "@<typ> " before it and
    "*<CRC-32 hex>\\r\\n" after it. typ is one of b"H", b"R", b"K" (or its byte value).
    Returns the frame length; the frame is buf[0:length]."""
    if end + _TAIL > len(buf) or end + _TAIL > FRAME_MAX:
        raise ValueError("frame too long")
    buf[0] = 0x40  # @
    buf[1] = typ if isinstance(typ, int) else typ[0]
    buf[2] = 0x20
    # CRC-32 (IEEE 802.3, as zlib/binascii) over type, space and payload: docs/protocol.md
    c = binascii.crc32(memoryview(buf)[1:end])
    buf[end] = 0x2A  # *
    k = 28
    j = end + 1
    while k >= 0:
        buf[j] = _HEX[(c >> k) & 15]
        j += 1
        k -= 4
    buf[j] = 0x0D
    buf[j + 1] = 0x0A
    return j + 2


def frame_payload(buf, typ, payload):
    """Frame an already encoded payload (e.g. a record read back from the queue)."""
    n = len(payload)
    if PAYLOAD_OFF + n + _TAIL > len(buf):
        raise ValueError("frame too long")
    buf[PAYLOAD_OFF : PAYLOAD_OFF + n] = payload
    return frame(buf, typ, PAYLOAD_OFF + n)


def encode_record_frame(buf, device, boot, seq, t, clock, kind, values):
    """An R frame in buf; returns its length. Payload is at buf[PAYLOAD_OFF:len-11]."""
    end = encode_record(buf, PAYLOAD_OFF, device, boot, seq, t, clock, kind, values)
    return frame(buf, b"R", end)


def encode_hello(buf, device, fw, board, boot, hold):
    """An H frame (docs/protocol.md): returns its length."""
    try:
        i = _put(buf, PAYLOAD_OFF, b'{"proto":')
        i = _put_uint(buf, i, PROTO_VERSION)
        i = _put(buf, i, b',"device":')
        i = _put_str(buf, i, device)
        i = _put(buf, i, b',"fw":')
        i = _put_str(buf, i, fw)
        i = _put(buf, i, b',"board":')
        i = _put_str(buf, i, board)
        i = _put(buf, i, b',"boot":')
        i = _put_int(buf, i, boot)
        i = _put(buf, i, b',"hold":')
        i = _put(buf, i, b"true}" if hold else b"false}")
    except IndexError:
        raise ValueError("frame too long")
    return frame(buf, b"H", i)


def encode_reply(buf, cmd, ok, err=None, extra=None):
    """A K frame: {"cmd":..,"ok":..[,"err":..][,extra pairs..]}; returns its length.
    extra: dict or sequence of (key, value) pairs appended to the object."""
    try:
        i = _put(buf, PAYLOAD_OFF, b'{"cmd":')
        i = _put_str(buf, i, cmd)
        i = _put(buf, i, b',"ok":true' if ok else b',"ok":false')
        if err is not None:
            i = _put(buf, i, b',"err":')
            i = _put_str(buf, i, err)
        if extra:
            if isinstance(extra, dict):
                for k in extra:
                    buf[i] = 0x2C
                    i = _put_key(buf, i + 1, k)
                    i = _put_value(buf, i, k, extra[k])
            else:
                for k, v in extra:
                    buf[i] = 0x2C
                    i = _put_key(buf, i + 1, k)
                    i = _put_value(buf, i, k, v)
        buf[i] = 0x7D
        i += 1
    except IndexError:
        raise ValueError("frame too long")
    return frame(buf, b"K", i)


# --- host -> board commands ---------------------------------------------------------------


def nmea_xor(s, start=0, end=-1):
    """XOR of the characters s[start:end] (NMEA 0183 checksum), s a str or bytes."""
    if end < 0:
        end = len(s)
    x = 0
    b = isinstance(s, str)
    for j in range(start, end):
        x ^= ord(s[j]) if b else s[j]
    return x


def _hexval(c):
    if 48 <= c <= 57:
        return c - 48
    if 65 <= c <= 70:
        return c - 55
    if 97 <= c <= 102:  # accept lower case from hand-typed commands
        return c - 87
    return -1


def parse_command(line):
    """Parse a host command line (str or bytes) "!verb[ args]*XX" -> (verb, args) as str.

    Leading text before the last "!" and trailing CR/LF/space are ignored. Raises
    ValueError("checksum") when the checksum is wrong or missing, ValueError("syntax") when the
    line holds no command.
    """
    if not isinstance(line, str):
        line = bytes(line).decode()
    end = len(line)
    while end and line[end - 1] in "\r\n ":
        end -= 1
    start = line.rfind("!", 0, end)
    if start < 0 or end - start < 2:
        raise ValueError("syntax")
    star = line.rfind("*", start, end)
    if star < 0 or end - star != 3:
        raise ValueError("checksum")
    h = _hexval(ord(line[star + 1]))
    lo = _hexval(ord(line[star + 2]))
    if h < 0 or lo < 0 or (h << 4 | lo) != nmea_xor(line, start + 1, star):
        raise ValueError("checksum")
    body = line[start + 1 : star]
    sp = body.find(" ")
    if sp < 0:
        verb, args = body, ""
    else:
        verb, args = body[:sp], body[sp + 1 :].strip()
    if not verb:
        raise ValueError("syntax")
    return verb, args


def encode_command(verb, args=""):
    """The host side of a command line, for tests and tools: "!verb args*XX\\r\\n"."""
    body = verb + (" " + args if args else "")
    return "!%s*%02X\r\n" % (body, nmea_xor(body))


def _uint_end(s, j, n):
    # index after the run of decimal digits starting at j
    while j < n and "0" <= s[j] <= "9":
        j += 1
    return j


def _uint(s, j, k):
    v = 0
    while j < k:
        v = v * 10 + ord(s[j]) - 48
        j += 1
    return v


def check_ack_list(args):
    """Count the ranges of an ack list "15,17-20"; raise ValueError if any part is malformed,
    so that a damaged list acks nothing (docs/protocol.md: never delete the wrong record)."""
    n = len(args)
    j = 0
    count = 0
    while True:
        k = _uint_end(args, j, n)
        if k == j:
            raise ValueError("bad ack list")
        a = _uint(args, j, k)
        if a < 1:
            raise ValueError("bad ack list")
        j = k
        if j < n and args[j] == "-":
            k = _uint_end(args, j + 1, n)
            if k == j + 1 or _uint(args, j + 1, k) < a:
                raise ValueError("bad ack list")
            j = k
        count += 1
        if j == n:
            return count
        if args[j] != ",":
            raise ValueError("bad ack list")
        j += 1


def iter_ack_ranges(args):
    """Yield (first, last) inclusive sequence ranges of an ack list such as "15,17-20", without
    building a list (one 2-tuple per range). The whole list is validated first: malformed input
    yields nothing and raises ValueError."""
    check_ack_list(args)
    n = len(args)
    j = 0
    while j < n:
        k = _uint_end(args, j, n)
        a = b = _uint(args, j, k)
        j = k
        if j < n and args[j] == "-":
            k = _uint_end(args, j + 1, n)
            b = _uint(args, j + 1, k)
            j = k
        yield a, b
        j += 1
