# The compact CBOR uplink encoding, version 1 (docs/uplink.md "Compact CBOR"): integer keys
# from the record table, scaled integers, delta times and sequence numbers, delta records
# between records of one kind in a message, slow fields only when they change on a connection.
#
# Transcodes queued records (their JSON bytes, read by rec.Rec) into a caller's buffer. Keys,
# values and templates live in arrays made once. Reading a value back from the 64-bit arrays
# ("q") makes a short-lived int on MicroPython's mpz long-int build, which the next collection
# frees: bench/fw_uplink.py's 10,000 cycles show no growth. (tests/firmware/test_uplink_compact.py)
from array import array

from micropython import const

from . import cbor
from .rec import VMAX, T_FALSE, T_NUM, T_STR, T_TRUE, is_integral, put_text, scaled, to_int
from .table import NOT_NUM

_K_BOOT = const(1)
_K_SEQ = const(2)
_K_T = const(3)
_K_UPTIME = const(4)
_K_RECS = const(5)
_K_MSGNO = const(6)
_R_KIND = const(-1)
_R_DT = const(-2)
_R_DSEQ = const(-3)
_R_BOOT = const(-4)
_R_CLOCK = const(-5)
_MAX_RECS = const(23)  # records per message: the array head stays one byte
_TMAX = const(24)  # values in a record that a delta record can follow
_EVENT = const(2)
_MSGNO_MOD = const(23)  # message counter 1..23 after the first message of a connection


class Compact:
    """enc = Compact(table); per connection enc.reset(); per message begin(buf, off), add(rec)
    while it returns True, end() -> the offset after the message."""

    def __init__(self, table):
        self.tab = table
        rows = table.rows
        self.last = array("i", bytes(4 * (rows + 1)))  # per row: hash of the slow value last written, 0 none
        self.new = array("i", bytes(4 * (rows + 1)))  # the record being written (committed after)
        # templates of delta records, per kind: rows and values of the last record
        self.tn = bytearray(4)
        self.tk = bytearray(4 * _TMAX)
        self.tv = array("q", bytes(8 * 4 * _TMAX))
        # per kind: t of its last record in this message and the interval before that one
        self.tt = array("q", bytes(8 * 4))
        self.ti = array("q", bytes(8 * 4))
        self.seen = bytearray(4)  # per kind: a record of it is in this message
        # the record in hand: per value its row (0: text key), whether written, scaled value
        self.rr = bytearray(VMAX)
        self.rw = bytearray(VMAX)
        self.rv = array("q", bytes(8 * VMAX))
        self.msgs = 0
        self.buf = bytearray(0)
        self.reset()

    def reset(self):
        """A new connection: every slow field is written again, the message counter restarts."""
        for i in range(len(self.last)):
            self.last[i] = 0
        self.msgs = 0

    # -- message -----------------------------------------------------------------------------
    def begin(self, buf, off, limit=0):
        self.buf = buf
        self.start = off
        self.limit = limit or len(buf)
        self.nrec = 0
        for k in range(4):
            self.tn[k] = 0
            self.seen[k] = 0
        return off

    def add(self, rec):
        """Append one record; False (nothing written) when the message is full or the record
        needs another message (a different clock: not in compact, every record carries its
        own). The message's envelope is written with its first record."""
        if self.nrec >= _MAX_RECS:
            return False
        buf = self.buf
        off = self.end_off if self.nrec else self.start
        try:
            if not self.nrec:
                off = self._envelope(buf, off, rec)
                self.arr = off
                off += 1  # the records array's head, written by end()
                self._prev(rec, rec.seq - 1)
            end = self._record(buf, off, rec)
            if end + 1 > self.limit:  # one byte kept for the array head of end()
                return False
        except IndexError:
            return False
        self._commit(rec)
        self.end_off = end
        self.nrec += 1
        return True

    def _prev(self, rec, seq):
        # one assignment each: a 4-tuple assignment builds a tuple (an allocation)
        self.pb = rec.boot
        self.ps = seq
        self.pt = rec.t
        self.pu = rec.uptime

    def end(self):
        """Close the message; returns the offset after it (the start when it holds nothing)."""
        if not self.nrec:
            return self.start
        cbor.head(self.buf, self.arr, cbor.ARRAY, self.nrec)
        self.msgs += 1
        return self.end_off

    def _envelope(self, buf, off, rec):
        first = self.msgs == 0
        buf[off] = 0xA0 | (4 + (1 if rec.uptime else 0) + (0 if first else 1))
        off += 1
        off = cbor.head(buf, off, 0, _K_BOOT)
        off = cbor.put_int(buf, off, rec.boot)
        off = cbor.head(buf, off, 0, _K_SEQ)
        off = cbor.put_int(buf, off, rec.seq)
        off = cbor.head(buf, off, 0, _K_T)
        off = cbor.put_int(buf, off, rec.t)
        if rec.uptime:
            off = cbor.head(buf, off, 0, _K_UPTIME)
            off = cbor.head(buf, off, 0, 1)
        if not first:
            off = cbor.head(buf, off, 0, _K_MSGNO)
            off = cbor.head(buf, off, 0, (self.msgs - 1) % _MSGNO_MOD + 1)
        off = cbor.head(buf, off, 0, _K_RECS)
        return off

    # -- record ------------------------------------------------------------------------------
    def _prepare(self, rec):
        # rows, scaled values and which values to write; True if every written value is a
        # number at a row (a delta record may follow it)
        tab = self.tab
        b = rec.b
        simple = rec.kind != _EVENT
        slow_ok = rec.kind == 1 or rec.kind == 3  # connectivity, status
        last = self.last
        new = self.new
        for i in range(len(new)):
            new[i] = last[i]
        for i in range(rec.n):
            s = rec.ks[i]
            e = rec.ke[i]
            r = tab.row(b, s, e)
            self.rr[i] = r
            self.rw[i] = 1
            t = rec.vt[i]
            vs = rec.vs[i]
            ve = rec.ve[i]
            if r and slow_ok and tab.slow[r - 1]:
                h = _hash(b, vs - (1 if t == T_STR else 0), ve, t)
                if h == last[r]:
                    self.rw[i] = 0
                    continue
                new[r] = h
            if t == T_NUM:
                dec = tab.dec(r if r else tab.base_row(b, s, e))
                if dec == NOT_NUM:
                    self.rv[i] = to_int(b, vs, ve) if is_integral(b, vs, ve) else scaled(b, vs, ve, 0)
                else:
                    self.rv[i] = scaled(b, vs, ve, dec)
                if not r:
                    simple = False
            else:
                simple = False
        if slow_ok:
            # a slow field written before that this record no longer has: "undefined" once
            kinds = tab.kinds
            for r in range(1, len(last)):
                if last[r] and kinds[r - 1] == rec.kind and not self._has(rec, r):
                    new[r] = -1  # marks "write undefined"
        return simple

    def _has(self, rec, r):
        for i in range(rec.n):
            if self.rr[i] == r:
                return True
        return False

    def _record(self, buf, off, rec):
        simple = self._prepare(rec)
        k = rec.kind
        same_env = rec.boot == self.pb and rec.uptime == self.pu and rec.seq == self.ps + 1
        if simple and same_env and self.tn[k] and self._fits_template(rec):
            return self._delta(buf, off, rec)
        if simple and same_env and rec.t == self.pt and not self._undefs():
            end = self._run(buf, off, rec)
            if end:
                return end
        return self._full(buf, off, rec)

    def _run(self, buf, off, rec):
        # A row run, [-r, v_r, v_r+1, ...] (docs/uplink.md): the values of consecutive table
        # rows, in row order whatever the record's key order, without their keys; `undefined`
        # for a row not written. Only when it is shorter than the map; 0 when the record does
        # not qualify.
        first = 0
        last = 0
        keys = 0  # bytes the map's keys would take
        n = 0
        for i in range(rec.n):
            if not self.rw[i]:
                continue
            r = self.rr[i]
            if not first or r < first:
                first = r
            if r > last:
                last = r
            keys += 1 if r < 24 else 2
            n += 1
        if not n or self.tab.kinds[first - 1] != rec.kind:
            return 0
        # run: its head once more than the map's, -r, one byte per row skipped
        if 1 + (1 if first <= 24 else 2) + (last - first + 1 - n) >= keys:
            return 0
        off = cbor.head(buf, off, cbor.ARRAY, 1 + last - first + 1)
        off = cbor.put_int(buf, off, -first)
        for r in range(first, last + 1):
            i = self._at(rec, r)
            if i < 0:
                buf[off] = cbor.UNDEFINED
                off += 1
            else:
                off = cbor.put_int(buf, off, self.rv[i])
        return off

    def _at(self, rec, r):
        # the index of the written value at row r, -1 if none
        for i in range(rec.n):
            if self.rw[i] and self.rr[i] == r:
                return i
        return -1

    def _fits_template(self, rec):
        # the record writes exactly the template's rows (in any order)
        k = rec.kind
        n = 0
        base = k * _TMAX
        tn = self.tn[k]
        for i in range(rec.n):
            if not self.rw[i]:
                continue
            n += 1
            j = 0
            while j < tn and self.tk[base + j] != self.rr[i]:
                j += 1
            if j == tn:
                return False
        return n == tn and not self._undefs()

    def _undefs(self):
        new = self.new
        for r in range(1, len(new)):
            if new[r] == -1:
                return True
        return False

    def _delta(self, buf, off, rec):
        # [kind, t - (t of the kind's last record + its last interval), deltas...] in the
        # template's order (table rows); trailing zero deltas are left out
        k = rec.kind
        base = k * _TMAX
        tn = self.tn[k]
        m = 0  # deltas up to the last non-zero one
        for j in range(tn):
            if self.rv[self._at(rec, self.tk[base + j])] != self.tv[base + j]:
                m = j + 1
        off = cbor.head(buf, off, cbor.ARRAY, 2 + m)
        off = cbor.head(buf, off, 0, k)
        off = cbor.put_int(buf, off, rec.t - self.tt[k] - self.ti[k])
        for j in range(m):
            off = cbor.put_int(buf, off, self.rv[self._at(rec, self.tk[base + j])] - self.tv[base + j])
        return off

    def _full(self, buf, off, rec):
        tab = self.tab
        b = rec.b
        start = off
        off += 1  # map head, closed below
        pairs = 0
        k = rec.kind
        first = -1
        for i in range(rec.n):
            if self.rw[i]:
                first = i
                break
        if first < 0 or not self.rr[first] or tab.kinds[self.rr[first] - 1] != k or k == _EVENT:
            off = cbor.put_int(buf, off, _R_KIND)
            off = cbor.head(buf, off, 0, k)
            pairs += 1
        if rec.t != self.pt:
            off = cbor.put_int(buf, off, _R_DT)
            off = cbor.put_int(buf, off, rec.t - self.pt)
            pairs += 1
        if rec.seq != self.ps + 1:
            off = cbor.put_int(buf, off, _R_DSEQ)
            off = cbor.put_int(buf, off, rec.seq - self.ps - 1)
            pairs += 1
        if rec.boot != self.pb:
            off = cbor.put_int(buf, off, _R_BOOT)
            off = cbor.put_int(buf, off, rec.boot)
            pairs += 1
        if rec.uptime != self.pu:
            off = cbor.put_int(buf, off, _R_CLOCK)
            off = cbor.head(buf, off, 0, 1 if rec.uptime else 0)
            pairs += 1
        for i in range(rec.n):
            if not self.rw[i]:
                continue
            r = self.rr[i]
            if r:
                off = cbor.head(buf, off, 0, r)
            else:
                off = put_text(buf, off, b, rec.ks[i], rec.ke[i])
            t = rec.vt[i]
            if t == T_NUM:
                off = cbor.put_int(buf, off, self.rv[i])
            elif t == T_STR:
                off = put_text(buf, off, b, rec.vs[i], rec.ve[i])
            else:
                buf[off] = cbor.TRUE if t == T_TRUE else cbor.FALSE if t == T_FALSE else cbor.NULL
                off += 1
            pairs += 1
        new = self.new
        for r in range(1, len(new)):
            if new[r] == -1:
                off = cbor.head(buf, off, 0, r)
                buf[off] = cbor.UNDEFINED
                off += 1
                pairs += 1
        return cbor.close(buf, start, off, cbor.MAP, pairs)

    def _commit(self, rec):
        # the record is in the message: its slow values and its template count from now on
        last = self.last
        new = self.new
        for r in range(len(new)):
            last[r] = 0 if new[r] == -1 else new[r]
        k = rec.kind
        self._prev(rec, rec.seq)
        if k == _EVENT:
            return
        self.ti[k] = rec.t - self.tt[k] if self.seen[k] else 0
        self.tt[k] = rec.t
        self.seen[k] = 1
        n = 0
        base = k * _TMAX
        for i in range(rec.n):
            if not self.rw[i]:
                continue
            if not self.rr[i] or rec.vt[i] != T_NUM or n >= _TMAX:
                n = 0
                break
            # insertion sort by row: the template is in table order (no allocation)
            j = n
            while j and self.tk[base + j - 1] > self.rr[i]:
                self.tk[base + j] = self.tk[base + j - 1]
                self.tv[base + j] = self.tv[base + j - 1]
                j -= 1
            self.tk[base + j] = self.rr[i]
            self.tv[base + j] = self.rv[i]
            n += 1
        self.tn[k] = n


def _hash(b, s, e, t):
    # A 24-bit multiplicative hash of the value's JSON text, type and length: every product
    # stays below 2**30, a small int on 32-bit ports (no allocation). Never 0 ("not written")
    # nor -1. A changed value with the same hash (p ~ 6e-8) would be omitted once.
    h = (t << 16) ^ (e - s)
    for i in range(s, e):
        h = (h * 31 + b[i]) & 0xFFFFFF
    return h + 1
