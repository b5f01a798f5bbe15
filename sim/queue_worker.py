# Power-loss test worker for firmware/mobiot_fw/store/flashq.py (driven by
# tests/host/test_queue_powerloss.py, which SIGKILLs it at random instants and restarts it).
#
# usage: micropython sim/queue_worker.py IMAGE SEED [run|dump]
# run:  mount the littlefs image, open the queue, check every queued record, then loop forever:
#       append records whose payload is a function of their seq, ack random records and ranges.
#       Every step is printed before it starts (lower case) and after it returned (upper case):
#         O <next_seq> <depth>      opened
#         V <n>                     n queued records read back and equal to payload(seq)
#         BAD <seq>                 a queued record differs from payload(seq) (test fails)
#         a <seq> / A <seq>         append started / returned
#         k <a> <b> / K <a> <b> <n> ack_range started / returned (n records removed)
#       The ranges asked for may run past the newest record (b = first + 7, a + 3) on purpose:
#       ack_range() must ignore sequence numbers not written yet, so the records appended
#       later under those numbers stay queued. A checker books only a..(newest at that point).
# dump: print "D <seq> <payload hex>" for every queued record, then "E <next_seq> <depth>".
import random
import sys

_here = sys.argv[0].rpartition("/")[0] or "."
for _p in (_here, _here + "/../firmware"):
    if _p not in sys.path:
        sys.path.insert(1, _p)

import fileblockdev  # noqa: E402
from mobiot_fw.store.flashq import Queue  # noqa: E402

MOUNT = "/flash"
BLOCKS = 128  # 512 KiB image


def payload(seq):
    # deterministic, length 24..341, content depends on every bit of seq
    n = 24 + (seq * 7919) % 318
    head = b"%d:" % seq
    body = bytearray(n - len(head))
    x = seq * 2654435761 & 0xFFFFFFFF
    for i in range(len(body)):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        body[i] = 0x21 + (x >> 16) % 94
    return head + bytes(body)


def open_queue():
    fileblockdev.mount_image(sys.argv[1], MOUNT, BLOCKS)
    return Queue(MOUNT + "/q", max_records=100000, max_bytes=384 * 1024, seg_records=8,
                 seg_bytes=1536, log_max=384)


def out(*a):
    print(*a)


def run(seed):
    random.seed(seed)
    q = open_queue()
    out("O", q.next_seq(), q.depth)
    n = 0
    for s, p in q.unacked():
        if bytes(p) != payload(s):
            out("BAD", s)
        n += 1
    out("V", n)
    while True:
        r = random.getrandbits(4)
        if r < 9 or q.depth < 3:
            s = q.next_seq()
            out("a", s)
            q.append(s, payload(s))
            out("A", s)
        else:
            # a random queued record, or a range starting at one; sometimes all old ones
            first = q.first_unacked(0)
            last = q.next_seq() - 1
            if not first:
                continue
            a = first + random.getrandbits(6) % (last - first + 1)
            if r == 15:
                a, b = first, first + random.getrandbits(3)
            elif r >= 13:
                b = a + random.getrandbits(2)
            else:
                b = a
            if q.depth > 40:
                a, b = first, first + 10
            out("k", a, b)
            m = q.ack_range(a, b)
            out("K", a, b, m)


def dump():
    q = open_queue()
    import binascii

    for s, p in q.unacked():
        out("D", s, binascii.hexlify(p).decode())
    out("E", q.next_seq(), q.depth)


if len(sys.argv) > 3 and sys.argv[3] == "dump":
    dump()
else:
    run(int(sys.argv[2]))
