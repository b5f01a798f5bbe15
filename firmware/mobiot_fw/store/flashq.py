# Store-and-forward queue of encoded records on flash: the board never loses a record whose
# append() returned, across reset, brown-out and power loss at any instant. Contract:
# docs/protocol.md "Delivery" (write before first send, remove only when acked by seq, by any
# transport). Firmware only (uses os.ilistdir and MicroPython stream calls).
#
# On-flash format, all integers little-endian, in directory `root` (default "/q"):
#
#   s%08x   segment file named by the sequence number of its first record (hex). Append-only,
#           at most seg_records records (<= 30) and about seg_bytes bytes; records in a segment
#           have consecutive sequence numbers, and segment i+1 starts where segment i ends.
#           Record = 12-byte header + payload:
#             0  u8   magic 0xA7
#             1  u8   flags (0)
#             2  u16  payload length
#             4  u32  sequence number
#             8  u32  CRC-32 (binascii.crc32) of header bytes 0..7 followed by the payload
#   a       ack log, append-only, 12-byte entries: u32 first, u32 last (inclusive range of
#           records that are acked or dropped), u32 CRC-32 of those 8 bytes. Compacted (rewritten
#           from the in-RAM state into a.new, then renamed over a) when it grows past log_max.
#   st      state: u32 magic "MQS1", u32 boot counter, u32 last sequence number handed out
#           (a floor), u32 CRC-32 of the 12 bytes. Written as st.new then renamed over st.
#
# Why this survives power loss
# - littlefs commits a file's new contents atomically at close()/flush(): after power loss a
#   file is at its last committed state. append() returns only after close(), so a returned
#   append is durable. On a file system without that property (FAT, the unix VfsPosix) a torn
#   tail is still caught by the per-record CRC; the valid prefix is kept and appends go on in a
#   new segment.
# - Records are removed only by deleting a whole segment, and only from the old end, once every
#   record in it is acked; the ack that makes it so is in the ack log first. Segments therefore
#   stay contiguous, so a segment's record count is known from its successor's name without
#   reading it (open() reads only the newest segment).
# - The newest segment is never deleted, so the next sequence number is always derivable from
#   it (its name + its valid record count); st holds a floor for the case of an empty directory.
#   littlefs rename() replaces an existing file in one metadata commit, so st/a are either old or
#   new after power loss; if a rename cannot replace (EEXIST), the old file is removed first.
#   open() reads a leftover a.new together with a (every entry of either is a durable ack) and
#   st.new together with st (the larger counters win), so no order of cuts loses either.
# - Losing an ack (torn log tail) only re-sends a record: the host deduplicates by (device, seq).
#
# Memory: fixed arrays for the segment table (max_segments entries), one read buffer of
# 12 + max_payload bytes, one ack-batch buffer; nothing proportional to the queue's length.
import binascii
import os
from array import array

from micropython import const


MAGIC = const(0xA7)
HDR = const(12)
ENT = const(12)
_BATCH = const(16)  # ack entries written per log append
SEG_MAX = const(30)  # bitmap of a segment must stay a small int on 32-bit ports
ST_MAGIC = b"MQS1"
_ENOENT = const(2)
_EEXIST = const(17)
_ENOSPC = const(28)


def u32(b, o):
    return b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)


def _put32(b, o, v):
    b[o] = v & 0xFF
    b[o + 1] = (v >> 8) & 0xFF
    b[o + 2] = (v >> 16) & 0xFF
    b[o + 3] = (v >> 24) & 0xFF


def seg_path(root, first):
    return "%s/s%08x" % (root, first)


def _full(n):
    return (1 << n) - 1


def _popcount(x):
    n = 0
    while x:
        x &= x - 1
        n += 1
    return n


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def remove(path):
    try:
        os.remove(path)
    except OSError as e:
        if e.errno != _ENOENT:
            raise


def _replace(src, dst):
    try:
        os.rename(src, dst)  # littlefs and POSIX: atomic replace
    except OSError as e:
        # Only "dst exists" means the file system cannot rename over a file. Any other error
        # (flash I/O, no space for the metadata commit) leaves dst in force: removing it then
        # would put the data in src alone, and src is a temporary the next attempt truncates.
        if e.args[0] != _EEXIST:
            raise
        remove(dst)  # open() merges a lone or leftover src (see _open)
        os.rename(src, dst)


class Queue:
    def __init__(
        self,
        root="/q",
        max_records=1000,
        max_bytes=256 * 1024,
        seg_records=16,
        seg_bytes=4096,
        max_payload=1008,
        log_max=2048,
        max_segments=0,
    ):
        if not 1 <= seg_records <= SEG_MAX:
            raise ValueError("seg_records")
        if max_bytes < 2 * seg_bytes:
            raise ValueError("max_bytes")
        self.root = root.rstrip("/") or "/"
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.seg_records = seg_records
        self.seg_bytes = seg_bytes
        self.max_payload = max_payload
        self.log_max = log_max
        cap = max_segments or (max_records // seg_records + max_bytes // seg_bytes + 2)
        self._cap = cap
        self._first = array("I", bytes(4 * cap))  # first seq of segment i (0 = oldest)
        self._count = array("H", bytes(2 * cap))  # records in segment i
        self._bits = array("I", bytes(4 * cap))  # bit k set: record first+k acked or dropped
        self._size = array("I", bytes(4 * cap))  # file bytes of segment i
        self._nseg = 0
        self._sealed = False  # the newest segment takes no more appends (torn tail)
        self._next = 1
        self._unacked = 0
        self._bytes = 0
        self._boot = 0
        self._log_size = 0
        self._log_limit = log_max
        self.drops = 0  # records dropped because the queue was full, since open
        self.corrupt = 0  # records discarded because their CRC failed, since open
        self._rbuf = bytearray(HDR + max_payload)
        self._rmv = memoryview(self._rbuf)
        self._hdr = bytearray(HDR)
        self._abuf = bytearray(ENT * _BATCH)
        self._amv = memoryview(self._abuf)
        self._na = 0
        self._flushed = 0  # records marked by _flush_acks since the caller reset it
        # read cursor: offset of record _c_idx in segment _c_first (sequential reads are O(1))
        self._c_first = 0
        self._c_idx = 0
        self._c_off = 0
        self._open()

    # --- paths -------------------------------------------------------------------------------
    def _seg_path(self, first):
        return seg_path(self.root, first)

    def _p(self, name):
        return self.root + "/" + name

    # --- public API ---------------------------------------------------------------------------
    @property
    def depth(self):
        """Records not yet acked (or dropped)."""
        return self._unacked

    @property
    def nbytes(self):
        """Bytes used by live segment files."""
        return self._bytes

    @property
    def segments(self):
        return self._nseg

    @property
    def boot(self):
        return self._boot

    def next_seq(self):
        """The sequence number the next append() must carry (starts at 1, +1 per record)."""
        return self._next

    def bump_boot(self):
        """Increment and persist the boot counter; return the new value. Call once per boot."""
        self._boot += 1
        self._write_state()
        return self._boot

    def append(self, seq, payload):
        """Store a record durably before it is sent. seq must equal next_seq(). When the queue is
        full the oldest records are dropped (counted in .drops)."""
        if seq != self._next:
            raise ValueError("seq %d, expected %d" % (seq, self._next))
        n = len(payload)
        if n > self.max_payload:
            raise ValueError("payload too long")
        rec = HDR + n
        while self._unacked >= self.max_records:
            if not self._drop_oldest_record():
                break
        while True:
            need_new = self._need_new(rec)
            while self._nseg > 1 and (
                self._bytes + rec > self.max_bytes or (need_new and self._nseg >= self._cap)
            ):
                self._drop_oldest_segment()
            if need_new and self._nseg >= self._cap:  # only possible with max_segments=1
                raise OSError(_ENOSPC)
            try:
                self._write_record(seq, payload, n, need_new)
                break
            except OSError as e:
                if e.args[0] != _ENOSPC or self._nseg < 2:
                    raise
                self._drop_oldest_segment()  # flash full of other files: make room, retry
        self._next = seq + 1
        self._unacked += 1
        if need_new:
            self._gc()
        return seq

    def ack(self, seq):
        return self.ack_range(seq, seq)

    def ack_range(self, a, b):
        """Remove records a..b (inclusive) that are still queued; return how many were removed.
        Records not in the queue (already acked, never written) are ignored."""
        self._flushed = 0
        self._log_range(a, b)
        self._flush_acks()
        if self._flushed:
            self._gc()
        return self._flushed

    def ack_ranges(self, ranges):
        """Ack an iterable of (a, b) ranges (e.g. proto.iter_ack_ranges(args)) with one log
        write per 16 ranges. Returns how many records were removed."""
        self._flushed = 0
        for a, b in ranges:
            self._log_range(a, b)
        self._flush_acks()
        if self._flushed:
            self._gc()
        return self._flushed

    def is_queued(self, seq):
        i = self._seg_of(seq)
        return i >= 0 and not (self._bits[i] >> (seq - self._first[i])) & 1

    def first_unacked(self, after=0):
        """Smallest queued sequence number > after, or 0 when there is none."""
        for i in range(self._nseg):
            f = self._first[i]
            c = self._count[i]
            if f + c - 1 <= after:
                continue
            bits = self._bits[i]
            k = after - f + 1 if after >= f else 0
            while k < c:
                if not (bits >> k) & 1:
                    return f + k
                k += 1
        return 0

    def read(self, seq):
        """Payload of queued record seq as a memoryview into the queue's read buffer (valid until
        the next read), or None if it is not queued. A record that fails its CRC is never
        returned: it is discarded (counted in .corrupt) and None is returned."""
        i = self._seg_of(seq)
        if i < 0:
            return None
        first = self._first[i]
        k = seq - first
        if (self._bits[i] >> k) & 1:
            return None
        n = self._read_at(i, k)
        if n < 0:
            return None
        return self._rmv[HDR : HDR + n]

    def unacked(self, after=0):
        """Iterate (seq, payload memoryview) of queued records, oldest first. The memoryview is
        valid until the next step."""
        s = self.first_unacked(after)
        while s:
            p = self.read(s)
            if p is not None:
                yield s, p
            s = self.first_unacked(s)

    # --- internals: append ------------------------------------------------------------------
    def _need_new(self, rec):
        if self._nseg == 0 or self._sealed:
            return True
        j = self._nseg - 1
        c = self._count[j]
        if self._first[j] + c != self._next or c >= self.seg_records:
            return True
        return c > 0 and self._size[j] + rec > self.seg_bytes

    def _write_record(self, seq, payload, n, new):
        h = self._hdr
        h[0] = MAGIC
        h[1] = 0
        h[2] = n & 0xFF
        h[3] = n >> 8
        _put32(h, 4, seq)
        crc = binascii.crc32(payload, binascii.crc32(memoryview(h)[0:8]))
        _put32(h, 8, crc)
        if new:
            j = self._nseg
            self._first[j] = seq
            self._count[j] = 0
            self._bits[j] = 0
            self._size[j] = 0
            self._nseg = j + 1
            self._sealed = False
            if self._c_first == seq:
                self._c_first = 0
        j = self._nseg - 1
        # a new segment's name is the next seq: any file of that name holds nothing valid
        # (a failed earlier attempt), so "wb" starts it clean
        f = open(self._seg_path(self._first[j]), "wb" if new else "ab")
        ok = False
        try:
            f.write(h)
            f.write(payload)
            f.close()  # littlefs commits the record here: from now on it survives power loss
            ok = True
        finally:
            if not ok:
                # a partial record may get committed: later appends go to a new segment
                self._sealed = True
                if new:
                    self._nseg = j  # nothing valid in it
                try:
                    f.close()
                except OSError:
                    pass
        self._count[j] += 1
        self._size[j] += HDR + n
        self._bytes += HDR + n

    def _drop_oldest_record(self):
        s = self.first_unacked(0)
        if not s:
            return 0
        self._flushed = 0
        self._log_range(s, s)
        self._flush_acks()
        self.drops += self._flushed
        self._gc()
        return self._flushed

    def _drop_oldest_segment(self):
        n = self._count[0] - _popcount(self._bits[0])
        remove(self._seg_path(self._first[0]))
        self._unacked -= n
        self.drops += n
        self._shift()

    def _shift(self):
        self._bytes -= self._size[0]
        if self._c_first == self._first[0]:
            self._c_first = 0
        m = self._nseg - 1
        for i in range(m):
            self._first[i] = self._first[i + 1]
            self._count[i] = self._count[i + 1]
            self._bits[i] = self._bits[i + 1]
            self._size[i] = self._size[i + 1]
        self._nseg = m

    def _gc(self):
        # delete fully acked segments from the old end, never the newest (it carries next seq)
        while self._nseg > 1 and self._bits[0] == _full(self._count[0]):
            remove(self._seg_path(self._first[0]))
            self._shift()
        if self._log_size > self._log_limit:
            self._compact()

    # --- internals: acks ------------------------------------------------------------------------
    def _seg_of(self, seq):
        for i in range(self._nseg):
            f = self._first[i]
            if f <= seq < f + self._count[i]:
                return i
        return -1

    def _mask(self, i, a, b):
        # bits of segment i that records a..b occupy (0 when they do not overlap it)
        f = self._first[i]
        c = self._count[i]
        if b < f or a >= f + c:
            return 0
        lo = a - f if a > f else 0
        hi = b - f if b < f + c - 1 else c - 1
        return _full(hi - lo + 1) << lo

    def _mark(self, a, b):
        # set acked bits for a..b in RAM; return how many records changed state
        n = 0
        for i in range(self._nseg):
            m = self._mask(i, a, b)
            if m:
                old = self._bits[i]
                n += _popcount(m & ~old)
                self._bits[i] = old | m
        return n

    def _pending(self, a, b):
        # how many of a..b are queued and not acked
        n = 0
        for i in range(self._nseg):
            n += _popcount(self._mask(i, a, b) & ~self._bits[i])
        return n

    def _log_range(self, a, b):
        if a > b or not self._nseg:
            return 0
        lo = self._first[0]
        hi = self._next - 1
        if a < lo:
            a = lo
        if b > hi:
            b = hi
        if a > b or not self._pending(a, b):
            return 0
        if self._na == _BATCH:
            self._flush_acks()
        o = self._na * ENT
        _put32(self._abuf, o, a)
        _put32(self._abuf, o + 4, b)
        _put32(self._abuf, o + 8, binascii.crc32(self._amv[o : o + 8]))
        self._na += 1  # RAM state changes in _flush_acks, once the entry is durable
        return 1

    def _flush_acks(self):
        na = self._na
        if not na:
            return
        f = open(self._p("a"), "ab")
        try:
            f.write(self._amv[: na * ENT])
        finally:
            f.close()  # committed: the acks survive power loss from here on
        self._log_size += na * ENT
        self._na = 0
        abuf = self._abuf
        for k in range(na):
            o = k * ENT
            m = self._mark(u32(abuf, o), u32(abuf, o + 4))
            self._unacked -= m
            self._flushed += m

    def _compact(self):
        tmp = self._p("a.new")
        f = open(tmp, "wb")
        size = 0
        na = 0
        abuf = self._abuf
        try:
            for i in range(self._nseg):
                f0 = self._first[i]
                bits = self._bits[i]
                c = self._count[i]
                k = 0
                while k < c:
                    if not (bits >> k) & 1:
                        k += 1
                        continue
                    s = k
                    while k < c and (bits >> k) & 1:
                        k += 1
                    o = na * ENT
                    _put32(abuf, o, f0 + s)
                    _put32(abuf, o + 4, f0 + k - 1)
                    _put32(abuf, o + 8, binascii.crc32(self._amv[o : o + 8]))
                    na += 1
                    if na == _BATCH:
                        f.write(abuf)
                        size += na * ENT
                        na = 0
            if na:
                f.write(self._amv[: na * ENT])
                size += na * ENT
        finally:
            f.close()
        _replace(tmp, self._p("a"))
        self._log_size = size
        self._log_limit = self.log_max if size * 2 < self.log_max else size * 2

    # --- internals: reading ---------------------------------------------------------------------
    def _read_at(self, i, k):
        # read record k of segment i into _rbuf; return payload length, or -1 after discarding
        first = self._first[i]
        h = self._hdr
        f = open(self._seg_path(first), "rb")
        try:
            if self._c_first == first and self._c_idx <= k:
                j = self._c_idx
                off = self._c_off
            else:
                j = 0
                off = 0
            while j < k:  # skip over earlier records by their headers
                f.seek(off)
                if f.readinto(h) != HDR or h[0] != MAGIC or u32(h, 4) != first + j:
                    return self._discard(i, j)
                off += HDR + (h[2] | h[3] << 8)
                j += 1
            f.seek(off)
            got = f.readinto(self._rbuf, HDR)
            n = self._rbuf[2] | self._rbuf[3] << 8
            if got != HDR or self._rbuf[0] != MAGIC or u32(self._rbuf, 4) != first + k:
                return self._discard(i, k)
            if n > self.max_payload:
                return self._discard(i, k)
            if f.readinto(self._rmv[HDR : HDR + n]) != n or not self._crc_ok(self._rbuf, n):
                self._c_first = first  # the next record can still be found after this one
                self._c_idx = k + 1
                self._c_off = off + HDR + n
                self._discard_one(first + k)
                return -1
            self._c_first = first
            self._c_idx = k + 1
            self._c_off = off + HDR + n
            return n
        finally:
            f.close()

    def _crc_ok(self, b, n):
        c = binascii.crc32(self._rmv[HDR : HDR + n], binascii.crc32(self._rmv[0:8]))
        return c == u32(b, 8)

    def _discard_one(self, seq):
        self._flushed = 0
        self._log_range(seq, seq)
        self._flush_acks()
        self.corrupt += self._flushed

    def _discard(self, i, k):
        # header of record k is unreadable: records k.. of segment i cannot be located
        first = self._first[i]
        self._flushed = 0
        self._log_range(first + k, first + self._count[i] - 1)
        self._flush_acks()
        self.corrupt += self._flushed
        self._c_first = 0
        return -1

    # --- internals: open ------------------------------------------------------------------------
    def _open(self):
        # Once per boot: the code that reads the files back is imported for it and dropped
        # (store/recover.py; docs/memory.md).
        from mobiot_fw import once

        r = once("mobiot_fw.store.recover")
        n, self._sealed, self._bytes = r.segments(self.root, self._cap, self.max_payload, self._rbuf, self._first,
                                                  self._count, self._size)
        self._nseg = n
        nxt = 1
        if n:
            nxt = self._first[n - 1] + self._count[n - 1]
        boot, last = r.read_state(self.root)
        self._boot = boot
        self._next = nxt if nxt > last + 1 else last + 1
        # a.new outlives a compaction cut before or inside its rename, or inside _replace's
        # remove-then-rename. Each of its entries was written from RAM state that holds only
        # acks already durable in a, so whichever of a and a.new is newer, their union is
        # exactly the durable acks: read both and rewrite the log. (Dropping a.new because a
        # exists loses acks when a was removed and then recreated by a later append.)
        good, torn = r.read_log(self._p("a"), self._hdr, self._mark)
        left = r.read_log(self._p("a.new"), self._hdr, self._mark)[0] >= 0
        del r
        self._log_size = good if good > 0 else 0
        if torn or left:  # later appends must not hide behind garbage, a.new must go
            self._compact()
        n = 0
        for i in range(self._nseg):
            n += self._count[i] - _popcount(self._bits[i])
        self._unacked = n
        self._gc()

    # --- internals: state file ------------------------------------------------------------------
    def _write_state(self):
        b = bytearray(16)
        b[0:4] = ST_MAGIC
        _put32(b, 4, self._boot)
        _put32(b, 8, self._next - 1)
        _put32(b, 12, binascii.crc32(b[0:12]))
        tmp = self._p("st.new")
        f = open(tmp, "wb")
        try:
            f.write(b)
        finally:
            f.close()
        _replace(tmp, self._p("st"))
