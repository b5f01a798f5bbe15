# One queued record, read into offsets: the uplink encoders transcode the record's JSON bytes
# (docs/records.md, as proto.py writes them and the queue keeps them) into CBOR without
# building a dict, a str or a float per value. Contract: docs/uplink.md "Payloads".
#
# Rec.parse() accepts the JSON proto.encode_record writes (and any equivalent with blanks):
# an object with device, boot, seq, t, clock, kind and a flat values object. Value spans are
# kept in preallocated arrays; strings stay escaped in place and are unescaped while copied.
from array import array

from micropython import const

from . import cbor

VMAX = const(64)  # values per record (a full connectivity record has ~35)

T_NUM = const(0)
T_STR = const(1)
T_TRUE = const(2)
T_FALSE = const(3)
T_NULL = const(4)

# kind codes of the compact encoding (docs/uplink.md): reading, connectivity, event, status
KINDS = ("reading", "connectivity", "event", "status")


def _eq(b, s, e, lit):
    n = len(lit)
    if e - s != n:
        return False
    for j in range(n):
        if b[s + j] != lit[j]:
            return False
    return True


def _ws(b, i):
    while b[i] == 0x20 or b[i] == 0x0A or b[i] == 0x0D or b[i] == 0x09:
        i += 1
    return i


def _str_end(b, i):
    # b[i] is the opening quote: the offset of the closing one
    i += 1
    while b[i] != 0x22:
        if b[i] == 0x5C:
            i += 1
        i += 1
    return i


def _val_end(b, i):
    # end of a number or literal starting at i
    while True:
        c = b[i]
        if c == 0x2C or c == 0x7D or c == 0x5D or c == 0x20 or c == 0x0A or c == 0x0D or c == 0x09:
            return i
        i += 1


def _hex4(b, i):
    v = 0
    for j in range(i, i + 4):
        c = b[j] | 0x20
        v = v * 16 + (c - 87 if c >= 0x61 else c - 48)
    return v


def _cp(b, i):
    # (code point, offset after) of the escape at b[i] == "\\"
    c = b[i + 1]
    if c != 0x75:  # u; RFC 8259 §7 two-character escapes
        if c == 0x6E:
            c = 10
        elif c == 0x74:
            c = 9
        elif c == 0x72:
            c = 13
        elif c == 0x62:
            c = 8
        elif c == 0x66:
            c = 12
        return c, i + 2
    v = _hex4(b, i + 2)
    if 0xD800 <= v < 0xDC00 and b[i + 6] == 0x5C:  # a UTF-16 surrogate pair
        return 0x10000 + ((v - 0xD800) << 10) + (_hex4(b, i + 8) - 0xDC00), i + 12
    return v, i + 6


def _ulen(cp):
    return 1 if cp < 0x80 else 2 if cp < 0x800 else 3 if cp < 0x10000 else 4


def text_len(b, s, e):
    """UTF-8 length of the JSON string body b[s:e] once unescaped."""
    n = 0
    i = s
    while i < e:
        if b[i] == 0x5C:
            cp, i = _cp(b, i)
            n += _ulen(cp)
        else:
            n += 1
            i += 1
    return n


def put_text(buf, off, b, s, e):
    """The JSON string body b[s:e] as a CBOR text string at off; returns the end."""
    off = cbor.head(buf, off, cbor.TEXT, text_len(b, s, e))
    i = s
    while i < e:
        c = b[i]
        if c != 0x5C:
            buf[off] = c
            off += 1
            i += 1
            continue
        cp, i = _cp(b, i)
        n = _ulen(cp)
        if n == 1:
            buf[off] = cp
        else:
            k = n - 1
            while k > 0:
                buf[off + k] = 0x80 | (cp & 0x3F)
                cp >>= 6
                k -= 1
            buf[off] = (0xC0 if n == 2 else 0xE0 if n == 3 else 0xF0) | cp
        off += n
    return off


def to_int(b, s, e):
    """A JSON integer b[s:e]."""
    neg = b[s] == 0x2D
    if neg:
        s += 1
    v = 0
    while s < e:
        v = v * 10 + b[s] - 48
        s += 1
    return -v if neg else v


def scaled(b, s, e, dec):
    """The JSON number b[s:e] times 10**dec, rounded half away from zero, as an int (no float
    for plain decimals; an exponent, which proto never writes, goes through float())."""
    neg = b[s] == 0x2D
    if neg or b[s] == 0x2B:
        s += 1
    v = 0
    i = s
    while i < e and 0x30 <= b[i] <= 0x39:
        v = v * 10 + b[i] - 48
        i += 1
    if i < e and b[i] != 0x2E:  # an exponent
        f = float(bytes(b[s:e]))
        v = int(f * 10**dec + 0.5)
        return -v if neg else v
    i += 1  # the "." (or past the end)
    d = 0
    while d < dec:
        v = v * 10
        if i < e:
            v += b[i] - 48
            i += 1
        d += 1
    if i < e and b[i] >= 0x35:  # the first digit dropped: round half away from zero
        v += 1
    return -v if neg else v


def is_integral(b, s, e):
    for i in range(s, e):
        if b[i] == 0x2E or b[i] == 0x65 or b[i] == 0x45:
            return False
    return True


class Rec:
    """One record's envelope and value spans. parse() reuses the arrays: no allocation."""

    def __init__(self):
        self.b = b""
        self.dev_s = self.dev_e = 0
        self.boot = self.seq = self.t = 0
        self.uptime = False
        self.kind = 0
        self.n = 0  # values
        self.ks = array("H", bytes(2 * VMAX))  # key body start
        self.ke = array("H", bytes(2 * VMAX))  # key body end
        self.vs = array("H", bytes(2 * VMAX))  # value start (string: body start)
        self.ve = array("H", bytes(2 * VMAX))  # value end (string: body end)
        self.vt = bytearray(VMAX)  # T_*

    def parse(self, b):
        """Read a record payload (bytes-like). Raises ValueError when it is not one."""
        self.b = b
        self.n = 0
        try:
            i = _ws(b, 0)
            if b[i] != 0x7B:
                raise ValueError("not a record")
            i = _ws(b, i + 1)
            while b[i] != 0x7D:
                ks = i + 1
                ke = _str_end(b, i)
                i = _ws(b, ke + 1)
                if b[i] != 0x3A:
                    raise ValueError("not a record")
                i = _ws(b, i + 1)
                if _eq(b, ks, ke, b"values"):
                    i = self._values(b, i)
                elif b[i] == 0x22:
                    e = _str_end(b, i)
                    if _eq(b, ks, ke, b"device"):
                        self.dev_s = i + 1
                        self.dev_e = e
                    elif _eq(b, ks, ke, b"clock"):
                        self.uptime = _eq(b, i + 1, e, b"uptime")
                    elif _eq(b, ks, ke, b"kind"):
                        c = b[i + 1]
                        self.kind = 0 if c == 0x72 else 1 if c == 0x63 else 2 if c == 0x65 else 3
                    i = e + 1
                else:
                    e = _val_end(b, i)
                    if _eq(b, ks, ke, b"boot"):
                        self.boot = to_int(b, i, e)
                    elif _eq(b, ks, ke, b"seq"):
                        self.seq = to_int(b, i, e)
                    elif _eq(b, ks, ke, b"t"):
                        self.t = to_int(b, i, e) if is_integral(b, i, e) else scaled(b, i, e, 0)
                    i = e
                i = _ws(b, i)
                if b[i] == 0x2C:
                    i = _ws(b, i + 1)
        except IndexError:
            raise ValueError("truncated record")
        return self

    def _values(self, b, i):
        if b[i] != 0x7B:
            raise ValueError("values")
        i = _ws(b, i + 1)
        n = 0
        while b[i] != 0x7D:
            if n >= VMAX:
                raise ValueError("too many values")
            self.ks[n] = i + 1
            e = _str_end(b, i)
            self.ke[n] = e
            i = _ws(b, e + 1) + 1  # past ":"
            i = _ws(b, i)
            c = b[i]
            if c == 0x22:
                e = _str_end(b, i)
                self.vs[n] = i + 1
                self.ve[n] = e
                self.vt[n] = T_STR
                i = e + 1
            else:
                e = _val_end(b, i)
                self.vs[n] = i
                self.ve[n] = e
                self.vt[n] = T_TRUE if c == 0x74 else T_FALSE if c == 0x66 else T_NULL if c == 0x6E else T_NUM
                i = e
            n += 1
            i = _ws(b, i)
            if b[i] == 0x2C:
                i = _ws(b, i + 1)
        self.n = n
        return i + 1
