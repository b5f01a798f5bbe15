# firmware/mobiot_fw/store/flashq.py on real littlefs (vfs.VfsLfs2) over RAM flash (sim/fileblockdev.py).
import errno
import gc
import os
import time

import fileblockdev as fb

import cutblockdev as cb
from mobiot_fw.store.flashq import Queue

MNT = "/tq"
ROOT = MNT + "/q"


def _fresh(blocks=64):
    bd = cb.CutBlockDev(blocks)
    fb.mount(bd, MNT, mkfs=True)
    return bd


def _remount(bd):
    # power off and on: the old mount is dead, a new one reads what reached the flash
    bd = bd.revive()
    fb.mount(bd, MNT)
    return bd


def _q(**kw):
    args = dict(max_records=1000, max_bytes=128 * 1024, seg_records=8, seg_bytes=2048, log_max=256)
    args.update(kw)
    return Queue(ROOT, **args)


def payload(seq):
    # length and bytes depend on seq, so a record read back under the wrong seq is caught
    n = 10 + seq % 37
    return bytes((seq * 31 + i * 7) & 0xFF for i in range(n))


def _put(q, count):
    out = []
    for _ in range(count):
        s = q.next_seq()
        q.append(s, payload(s))
        out.append(s)
    return out


def _queued(q):
    return [(s, bytes(p)) for s, p in q.unacked()]


def test_sequence_starts_at_one_and_is_plus_one():
    _fresh()
    q = _q()
    assert q.next_seq() == 1
    assert _put(q, 5) == [1, 2, 3, 4, 5]
    assert q.next_seq() == 6 and q.depth == 5


def test_append_rejects_wrong_seq_and_oversize():
    _fresh()
    q = _q(max_payload=100)
    for bad in (0, 2):
        try:
            q.append(bad, b"x")
            assert False, "seq %d accepted" % bad
        except ValueError:
            pass
    try:
        q.append(1, bytes(101))
        assert False
    except ValueError:
        pass
    assert q.depth == 0 and q.next_seq() == 1


def test_iterate_oldest_first_with_payloads():
    _fresh()
    q = _q()
    _put(q, 20)  # spans 3 segments of 8
    assert q.segments == 3
    assert _queued(q) == [(s, payload(s)) for s in range(1, 21)]
    assert q.first_unacked(0) == 1 and q.first_unacked(7) == 8 and q.first_unacked(20) == 0


def test_selective_acks_any_order():
    _fresh()
    q = _q()
    _put(q, 20)
    assert q.ack(7) == 1
    assert q.ack(7) == 0  # already gone
    assert q.ack_range(15, 17) == 3
    assert q.ack_ranges(((2, 2), (19, 100), (1000, 2000))) == 3  # 2, 19, 20
    left = [s for s, _ in _queued(q)]
    assert left == [1, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 18], left
    assert q.depth == 13
    assert q.read(7) is None and bytes(q.read(8)) == payload(8)
    assert not q.is_queued(15) and q.is_queued(18)


def test_acked_segments_are_deleted_from_the_old_end_only():
    _fresh()
    q = _q()
    _put(q, 24)  # segments 1-8, 9-16, 17-24
    q.ack_range(9, 16)  # a middle segment: kept until the older one is done
    assert q.segments == 3
    q.ack_range(1, 8)
    assert q.segments == 1
    names = sorted(os.listdir(ROOT))
    assert "s%08x" % 17 in names and "s%08x" % 1 not in names and "s%08x" % 9 not in names
    q.ack_range(17, 24)  # the newest stays: it carries the next sequence number
    assert q.segments == 1 and q.depth == 0 and q.next_seq() == 25


def test_reopen_keeps_records_acks_and_sequence():
    bd = _fresh()
    q = _q()
    _put(q, 30)
    q.ack_range(3, 9)
    q.ack(22)
    before = _queued(q)
    bd = _remount(bd)
    q2 = _q()
    assert _queued(q2) == before
    assert q2.next_seq() == 31 and q2.depth == 30 - 8
    assert _put(q2, 1) == [31]


def test_sequence_survives_an_empty_queue_and_restart():
    bd = _fresh()
    q = _q()
    _put(q, 17)
    q.ack_range(1, 17)
    assert q.depth == 0
    bd = _remount(bd)
    q = _q()
    assert q.next_seq() == 18
    _put(q, 8)  # fills and rolls over segments; older fully acked ones go
    q.ack_range(1, 100)
    bd = _remount(bd)
    assert _q().next_seq() == 26


def test_boot_counter_persists():
    bd = _fresh()
    q = _q()
    assert q.boot == 0
    assert q.bump_boot() == 1 and q.bump_boot() == 2
    bd = _remount(bd)
    q = _q()
    assert q.boot == 2 and q.bump_boot() == 3


def test_full_queue_drops_oldest_and_counts():
    _fresh()
    q = _q(max_records=10)
    _put(q, 10)
    assert q.drops == 0
    _put(q, 3)  # 1, 2, 3 go
    assert q.drops == 3 and q.depth == 10
    assert [s for s, _ in _queued(q)] == list(range(4, 14))


def test_byte_limit_drops_oldest_segments():
    _fresh()
    q = _q(max_bytes=4096, seg_bytes=2048, seg_records=30)
    size = 12 + 200
    for _ in range(40):
        s = q.next_seq()
        q.append(s, bytes(200))
    assert q.nbytes <= 4096
    assert q.depth == q.nbytes // size
    assert q.drops == 40 - q.depth
    assert q.first_unacked() == 41 - q.depth  # the newest survive


def test_drops_survive_restart_as_removed():
    bd = _fresh()
    q = _q(max_records=5)
    _put(q, 8)
    bd = _remount(bd)
    q = _q(max_records=5)
    assert [s for s, _ in _queued(q)] == [4, 5, 6, 7, 8]


def test_ack_log_compaction_keeps_state():
    bd = _fresh()
    q = _q(log_max=48)  # 4 entries
    _put(q, 40)
    for s in range(2, 40, 3):  # scattered acks: many log entries
        q.ack(s)
    st = os.stat(ROOT + "/a")[6]
    assert st <= 2 * 48 + 12 * 16, st  # compacted, not one entry per ack forever
    before = _queued(q)
    bd = _remount(bd)
    assert _queued(_q(log_max=48)) == before


def _bigpayload(seq):
    return bytes((seq * 131 + i * 7) & 0xFF for i in range(300 + seq))


def test_corrupt_record_is_never_delivered():
    # records large enough that littlefs keeps the segment in data blocks (no littlefs CRC
    # there): a bit flip in flash is caught only by the record's own CRC
    bd = _fresh()
    q = _q()
    for _ in range(6):
        s = q.next_seq()
        q.append(s, _bigpayload(s))
    bd = _remount(bd)
    needle = _bigpayload(3)
    img = bytes(bd.data)
    i = img.find(needle)
    assert i > 0
    while i >= 0:  # copy-on-write leaves stale copies: flip the bit in every one
        bd.data[i + 100] ^= 0x40
        i = img.find(needle, i + 1)
    bd = _remount(bd)
    q = _q()
    got = [(s, bytes(p)) for s, p in q.unacked()]
    assert got == [(s, _bigpayload(s)) for s in range(1, 7) if s != 3], [s for s, _ in got]
    assert q.corrupt == 1 and q.depth == 5
    bd = _remount(bd)
    assert [s for s, _ in _q().unacked()] == [1, 2, 4, 5, 6]  # the discard is durable


def test_torn_tail_on_a_non_atomic_filesystem_is_discarded():
    # VfsPosix has no commit-at-close: write half a record by hand, as a crash would

    d = "/tmp/mobiot_tq_%d" % time.ticks_ms()
    os.mkdir(d)
    q = Queue(d, seg_records=8, seg_bytes=2048, max_bytes=64 * 1024)
    _put(q, 3)
    seg = d + "/s%08x" % 1
    f = open(seg, "ab")
    f.write(b"\xa7\x00\x40\x00\x04\x00\x00\x00")  # header of a seq-4 record, cut short
    f.close()
    q = Queue(d, seg_records=8, seg_bytes=2048, max_bytes=64 * 1024)
    assert q.next_seq() == 4
    assert _queued(q) == [(s, payload(s)) for s in (1, 2, 3)]
    _put(q, 2)  # goes to a new segment after the torn one
    q = Queue(d, seg_records=8, seg_bytes=2048, max_bytes=64 * 1024)
    assert _queued(q) == [(s, payload(s)) for s in range(1, 6)]
    for n in os.listdir(d):
        os.remove(d + "/" + n)
    os.rmdir(d)


def _script(q, model):
    # the operations cut at every flash write: appends, acks out of order, compaction, deletion
    for step in range(26):
        if step % 3 == 2:
            s = q.first_unacked((step * 5) % 11)
            if s:
                model["ack_started"] = (s, s + step % 4)
                q.ack_range(s, s + step % 4)
                model["acked"].append((s, s + step % 4))
                model["ack_started"] = None
        else:
            s = q.next_seq()
            model["append_started"] = s
            q.append(s, payload(s))
            model["done"].append(s)
            model["append_started"] = None


def _check(q, model):
    got = _queued(q)
    seqs = [s for s, _ in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    for s, p in got:
        assert p == payload(s), s
        assert not any(a <= s <= b for a, b in model["acked"]), "acked %d back" % s
    pend = model["ack_started"]
    for s in model["done"]:
        if s not in seqs:
            assert any(a <= s <= b for a, b in model["acked"]) or (pend and pend[0] <= s <= pend[1]), (
                "lost %d" % s
            )
    last = model["done"][-1] if model["done"] else 0
    started = model["append_started"]
    assert q.next_seq() in (last + 1, (started or last) + 1), (q.next_seq(), last, started)


def test_power_cut_at_every_flash_write():
    # Exhaustive: for k = 1, 2, ... cut power at the k-th program/erase of the script (the
    # cut operation lands half-written), remount, and check nothing returned was lost, nothing
    # acked came back, nothing corrupt is delivered, and the sequence continues.
    base = cb.CutBlockDev(48)
    fb.mount(base, MNT, mkfs=True)
    q = _q(seg_records=4, seg_bytes=1024, log_max=36)
    _put(q, 3)
    snapshot = bytes(base.data)
    # count the writes the script makes without a cut
    m = {"done": [1, 2, 3], "acked": [], "append_started": None, "ack_started": None}
    base.ops = 0
    _script(q, m)
    total = base.ops
    assert total > 40, total
    cuts = 0
    for k in range(1, total + 1):
        for torn in (True, False):
            base = base.revive()
            base.data[:] = snapshot
            fb.mount(base, MNT)
            q = _q(seg_records=4, seg_bytes=1024, log_max=36)
            m = {"done": [1, 2, 3], "acked": [], "append_started": None, "ack_started": None}
            base.arm(k, torn)
            try:
                _script(q, m)
            except OSError:
                cuts += 1
            base = _remount(base)
            q = _q(seg_records=4, seg_bytes=1024, log_max=36)
            _check(q, m)
            # and it keeps working after the cut
            s = q.next_seq()
            q.append(s, payload(s))
            assert bytes(q.read(s)) == payload(s)
    assert cuts >= total  # every k < total really cut something
    print("power cuts checked:", cuts, "flash writes in script:", total)


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _cq():
    return _q(seg_records=4, seg_bytes=1024, log_max=48)  # the ack log holds 4 entries


def test_power_cut_at_every_write_of_a_compaction():
    # An ack that completes the oldest segment and overflows the ack log: the ack is appended
    # to "a" (its close() commits it, so ack() may return), the segment is deleted, and the
    # log is compacted into "a.new" and renamed over "a". A cut anywhere in that must leave the
    # earlier acks in force, and once a cut point leaves the new ack in force so must every
    # later one (a compaction must never lose an ack that was already durable).
    bd = _fresh(48)
    q = _cq()
    _put(q, 16)  # segments 1-4, 5-8, 9-12, 13-16
    for a, b in ((2, 4), (6, 6), (10, 10), (14, 14)):
        q.ack_range(a, b)
    assert os.stat(ROOT + "/a")[6] == 4 * 12  # at log_max: the next entry compacts
    bd = _remount(bd)
    snapshot = bytes(bd.data)
    earlier = (2, 3, 4, 6, 10, 14)
    state = {"acked_from": 0, "left": 0}

    def op(q):
        assert q.ack(1) == 1

    def check(q, k):
        seqs = [s for s, _ in _queued(q)]
        assert _queued(q) == [(s, payload(s)) for s in seqs]
        for s in earlier:
            assert s not in seqs, "cut %d: earlier ack of %d lost" % (k, s)
        want = [s for s in range(1, 17) if s not in earlier]
        if 1 in seqs:
            assert not state["acked_from"], "cut %d: ack of 1 lost (in force from cut %d)" % (
                k,
                state["acked_from"],
            )
            assert seqs == want, (k, seqs)
        else:
            if not state["acked_from"]:
                state["acked_from"] = k
            assert seqs == want[1:], (k, seqs)
        assert q.next_seq() == 17 and q.depth == len(seqs)
        assert not _exists(ROOT + "/a.new"), "cut %d: a.new left after open" % k
        # still works: an append and an ack after the cut survive the next power cycle
        s = q.next_seq()
        q.append(s, payload(s))
        q.ack(5)
        after = [t for t in seqs if t != 5] + [s]
        q = _cq()  # reopen on the same mount
        assert [t for t, _ in _queued(q)] == after, (k, after)

    # the uncut run really deletes the segment and compacts (else this tests nothing)
    bd = bd.revive()
    bd.data[:] = snapshot
    fb.mount(bd, MNT)
    q = _cq()
    bd.ops = 0
    op(q)
    total = bd.ops
    assert q.segments == 3 and not _exists(ROOT + "/s%08x" % 1)
    assert os.stat(ROOT + "/a")[6] == 3 * 12  # 6, 10, 14 (2-4 went with their segment)
    # Cut points in order of how much reaches the flash: write k lost, write k half done, ...
    # so "in force from cut k" holds for every later cut point.
    for k in range(1, total + 2):
        for torn in (False, True):
            bd = bd.revive()
            bd.data[:] = snapshot
            fb.mount(bd, MNT)
            q = _cq()
            if k <= total:
                bd.arm(k, torn)
            try:
                op(q)
                assert k > total, "cut %d of %d did not stop the ack" % (k, total)
            except cb.PowerCut:
                pass
            bd = _remount(bd)
            if _exists(ROOT + "/a.new"):
                state["left"] += 1  # cut between writing a.new and the rename
            check(_cq(), k)
    assert state["acked_from"], "the ack never took effect"
    assert state["left"], "no cut point left a.new behind: the compaction cut is not covered"
    print(
        "compaction: %d flash writes, ack durable from cut %d, a.new left by %d cuts"
        % (total, state["acked_from"], state["left"])
    )


class _FailingRename:
    # the os module as the queue sees it, with rename() failing: errnos[i] for the i-th call
    def __init__(self, errnos):
        self.errnos = list(errnos)

    def rename(self, a, b):
        if self.errnos:
            raise OSError(self.errnos.pop(0))
        os.rename(a, b)

    def __getattr__(self, name):
        return getattr(os, name)


def _failed_rename_then_cut(errnos, k):
    # ack 1 compacts the log and the compaction's rename fails (errnos); then ack 7, with power
    # cut at its k-th flash write (k = 0: no cut). Returns (device after power on, writes ack 7
    # made, whether ack 7 returned).
    import mobiot_fw.store.flashq as qmod

    bd = _fresh(48)
    q = _cq()
    _put(q, 16)
    for a, b in ((2, 4), (6, 6), (10, 10), (14, 14)):
        q.ack_range(a, b)  # the log is at log_max: the next ack compacts
    qmod.os = _FailingRename(errnos)
    try:
        q.ack(1)  # its entry is committed to a, then the compaction's rename fails
        assert False, "a failed rename was not reported"
    except OSError as e:
        assert e.args[0] == errnos[-1], e.args
    finally:
        qmod.os = os
    bd.ops = 0
    if k:
        bd.arm(k)
    done = False
    try:
        assert q.ack(7) == 1  # the queue goes on after the error
        done = True
    except cb.PowerCut:
        pass
    return _remount(bd), bd.ops, done


def _check_acks_after_failed_rename(errnos):
    # Acks that returned before the failure (2-4, 6, 10, 14) stay in force at every cut point
    # of the next ack, and that ack is in force once it returned. Ack 1 raised: either is fine.
    _, total, done = _failed_rename_then_cut(errnos, 0)
    assert done and total >= 2, total
    for k in list(range(1, total + 1)) + [0]:
        _, _, done = _failed_rename_then_cut(errnos, k)
        q = _cq()
        left = [s for s, _ in _queued(q)]
        gone = [s for s in (2, 3, 4, 6, 10, 14) + ((7,) if done else ()) if s in left]
        assert not gone, "cut %d: acked %s came back" % (k, gone)
        assert [s for s in left if s not in (1, 7)] == [5, 8, 9, 11, 12, 13, 15, 16], (k, left)
        assert not _exists(ROOT + "/a.new"), k
    return total


def test_failed_rename_in_compaction_keeps_the_log():
    # A flash error in the rename (EIO) must leave "a" in place. Removing it to retry, as for a
    # file system that cannot rename over a file, leaves the acks in a.new alone if the retry
    # fails too; the next ack then recreates a with only itself.
    _check_acks_after_failed_rename((errno.EIO, errno.EIO))


def test_failed_fallback_rename_keeps_acks_in_a_new():
    # A file system that cannot rename over a file (EEXIST): a is removed, the retry fails
    # too, the acks are in a.new alone and the next ack recreates a. open() must merge both
    # (it used to delete a.new whenever a existed).
    _check_acks_after_failed_rename((errno.EEXIST, errno.EIO))


def test_measure_append_ack_cost_and_heap():
    # Not a timing assertion: prints the numbers for the report (unix port, RAM flash).
    _fresh(40)
    gc.collect()
    a0 = gc.mem_alloc()
    q = _q(max_records=1000, max_bytes=96 * 1024, seg_records=16, seg_bytes=4096, log_max=2048)
    gc.collect()
    qsize = gc.mem_alloc() - a0
    pl = bytes(180)  # a typical reading record
    n = 300
    gc.collect()
    t0 = time.ticks_us()
    for _ in range(n):
        s = q.next_seq()
        q.append(s, pl)
    t1 = time.ticks_us()
    for s in range(1, n + 1):
        q.ack(s)
    t2 = time.ticks_us()
    gc.collect()
    g0 = gc.mem_alloc()
    gc.disable()
    s = q.next_seq()
    b0 = gc.mem_alloc()
    q.append(s, pl)
    b1 = gc.mem_alloc()
    q.ack(s)
    b2 = gc.mem_alloc()
    gc.enable()
    print(
        "queue: object+buffers %d B; append %d us/rec; ack %d us/rec; garbage per append %d B, per ack %d B"
        % (qsize, time.ticks_diff(t1, t0) // n, time.ticks_diff(t2, t1) // n, b1 - b0, b2 - b1)
    )
    assert q.depth == 0 and g0 > 0
