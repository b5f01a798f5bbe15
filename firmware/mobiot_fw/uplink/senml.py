# SenML-CBOR uplink encoding (RFC 8428 §6; docs/uplink.md "SenML-CBOR"): a pack any SenML reader
# resolves (base name = the device URN, base time, units from the record table), with our
# envelope (seq, boot, kind, uptime) in extension labels a reader ignores (RFC 8428 §4.4).
# Transcodes queued records (rec.Rec) into a caller's buffer; a fractional value costs one
# float (an IEEE 754 single on the wire), everything else allocates nothing.
import struct

from micropython import const

from . import cbor
from .rec import T_NULL, T_NUM, T_STR, T_TRUE, is_integral, put_text, scaled, to_int
from .table import NOT_NUM

# RFC 8428 §6 Table 4: integer labels of the CBOR representation
_BN = const(-2)
_BT = const(-3)
_N = const(0)
_U = const(1)
_V = const(2)
_VS = const(3)
_VB = const(4)
_MAX_ENTRIES = const(255)  # the pack's head stays at most two bytes


def device_urn(device):
    """The base name of a device (docs/uplink.md): RFC 7254 IMEI URN for a 15-digit IMEI
    (TAC 8 digits, SNR 6, check digit), RFC 9039 urn:dev:mac for 12 hex digits, else
    urn:dev:ops. Ends with ":" so that bn + n reads urn:...:temp."""
    if len(device) == 15 and device.isdigit():
        return "urn:gsma:imei:%s-%s-%s:" % (device[:8], device[8:14], device[14])
    if len(device) == 12 and all(c in "0123456789abcdefABCDEF" for c in device):
        return "urn:dev:mac:%s:" % device.lower()
    return "urn:dev:ops:mobiot-%s:" % device


def _lit(buf, off, s):
    # a short ASCII text string from a bytes constant
    off = cbor.head(buf, off, cbor.TEXT, len(s))
    for j in range(len(s)):
        buf[off + j] = s[j]
    return off + len(s)


class SenML:
    def __init__(self, table, device):
        self.tab = table
        self.bn = device_urn(device).encode()
        self.buf = bytearray(0)

    def reset(self):
        pass  # no state across messages

    def begin(self, buf, off, limit=0):
        self.buf = buf
        self.start = off
        self.off = off + 1
        self.limit = limit or len(buf)
        self.nent = 0
        self.nrec = 0
        return off

    def add(self, rec):
        if self.nrec and rec.uptime != self.uptime:
            return False  # one clock per message (docs/uplink.md)
        buf = self.buf
        try:
            off, n = self._record(buf, self.off, rec)
            if off + 2 > self.limit or self.nent + n > _MAX_ENTRIES:
                return False
        except IndexError:
            return False
        if not self.nrec:
            self.uptime = rec.uptime
        self.bt = rec.t
        self.off = off
        self.nent += n
        self.nrec += 1
        return True

    def end(self):
        if not self.nrec:
            return self.start
        return cbor.close(self.buf, self.start, self.off, cbor.ARRAY, self.nent)

    def _record(self, buf, off, rec):
        tab = self.tab
        b = rec.b
        first = not self.nrec
        nent = 0
        head = True  # the next SenML record is this record's first: it carries the envelope
        i = 0
        while head or i < rec.n:
            if i < rec.n and rec.vt[i] == T_NULL:
                i += 1  # no SenML form for "measured but unavailable"
                continue
            start = off
            off += 1
            pairs = 0
            if head:
                if first:
                    off = cbor.put_int(buf, off, _BN)
                    off = cbor.head(buf, off, cbor.TEXT, len(self.bn))
                    buf[off : off + len(self.bn)] = self.bn
                    off += len(self.bn)
                    pairs += 1
                if rec.uptime:
                    off = _lit(buf, off, b"up")
                    off = cbor.put_int(buf, off, rec.t)
                    pairs += 1
                elif first or rec.t != self.bt:
                    # base time (a base field applies to the records after it, RFC 8428 §4.1)
                    off = cbor.put_int(buf, off, _BT)
                    off = cbor.put_int(buf, off, rec.t)
                    pairs += 1
                off = _lit(buf, off, b"seq")
                off = cbor.put_int(buf, off, rec.seq)
                off = _lit(buf, off, b"boot")
                off = cbor.put_int(buf, off, rec.boot)
                pairs += 2
                r0 = tab.base_row(b, rec.ks[i], rec.ke[i]) if i < rec.n else 0
                if rec.kind == 2 or not r0 or tab.kinds[r0 - 1] != rec.kind:
                    off = _lit(buf, off, b"kind")
                    off = _lit(buf, off, (b"reading", b"connectivity", b"event", b"status")[rec.kind])
                    pairs += 1
                head = False
            if i < rec.n:
                ks = rec.ks[i]
                ke = rec.ke[i]
                r = tab.base_row(b, ks, ke)
                off = cbor.put_int(buf, off, _N)
                off = put_text(buf, off, b, ks, ke)
                pairs += 1
                if r and tab.uoff[r] > tab.uoff[r - 1]:
                    u0 = tab.uoff[r - 1]
                    u1 = tab.uoff[r]
                    off = cbor.put_int(buf, off, _U)
                    off = cbor.head(buf, off, cbor.TEXT, u1 - u0)
                    for j in range(u0, u1):
                        buf[off] = tab.units[j]
                        off += 1
                    pairs += 1
                t = rec.vt[i]
                vs = rec.vs[i]
                ve = rec.ve[i]
                if t == T_NUM:
                    off = cbor.put_int(buf, off, _V)
                    dec = tab.dec(r)
                    if dec == NOT_NUM or is_integral(b, vs, ve) and dec == 0:
                        whole = is_integral(b, vs, ve)
                        off = cbor.put_int(buf, off, to_int(b, vs, ve) if whole else scaled(b, vs, ve, 0))
                    else:
                        v = scaled(b, vs, ve, dec)
                        p = 10**dec
                        if v % p == 0:
                            off = cbor.put_int(buf, off, v // p)
                        else:
                            buf[off] = cbor.FLOAT32
                            struct.pack_into(">f", buf, off + 1, v / p)
                            off += 5
                elif t == T_STR:
                    off = cbor.put_int(buf, off, _VS)
                    off = put_text(buf, off, b, vs, ve)
                else:
                    off = cbor.put_int(buf, off, _VB)
                    buf[off] = cbor.TRUE if t == T_TRUE else cbor.FALSE
                    off += 1
                pairs += 1
                i += 1
            off = cbor.close(buf, start, off, cbor.MAP, pairs)
            nent += 1
        return off, nent

