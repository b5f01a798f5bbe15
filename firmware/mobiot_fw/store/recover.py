# The flash queue's recovery at boot (store/flashq.py has the on-flash format and why it
# survives power loss): reads the segment files, the state file and the ack log back into the
# queue's RAM index. Queue() imports this module for that once and drops it again
# (mobiot_fw.once; docs/memory.md): a board never needs it after boot.
import binascii
import errno
import os

from mobiot_fw.store.flashq import ENT, HDR, MAGIC, SEG_MAX, ST_MAGIC, remove, seg_path, u32


def segments(root, cap, max_payload, h, first, count, size):
    """Fill the segment table (arrays first, count, size; h a header buffer) from the files in
    root: -> (segments, newest is sealed, bytes). The oldest files beyond cap go (the config
    shrank); only the newest segment is read (the others' counts follow from their successors'
    names), and a newest segment holding only a torn first record is emptied."""
    try:
        os.mkdir(root)
    except OSError as e:
        if e.args[0] != errno.EEXIST:
            raise
    firsts = []
    for ent in os.ilistdir(root):
        name = ent[0]
        if len(name) == 9 and name[0] == "s":
            try:
                firsts.append(int(name[1:], 16))
            except ValueError:
                pass
    firsts.sort()
    while len(firsts) > cap:  # config shrank: the oldest go
        remove(seg_path(root, firsts.pop(0)))
    sealed = False
    nbytes = 0
    for i in range(len(firsts)):
        f0 = firsts[i]
        path = seg_path(root, f0)
        first[i] = f0
        if i + 1 < len(firsts):
            c = firsts[i + 1] - f0
            if c > SEG_MAX:  # not contiguous (lost segment?): count what is there
                c, _, _ = scan(path, f0, h, max_payload)
            count[i] = c
            size[i] = os.stat(path)[6]
        else:
            c, ok_bytes, sz = scan(path, f0, h, max_payload)
            count[i] = c
            size[i] = sz
            sealed = sz > ok_bytes or c >= SEG_MAX
            if c == 0 and sz:
                # only a torn first record: nothing valid, keep the name (it holds next seq)
                f = open(path, "wb")
                f.close()
                size[i] = 0
                sealed = False
        nbytes += size[i]
    return len(firsts), sealed, nbytes


def scan(path, first, h, max_payload):
    """-> (records, bytes they take, file size). Walks the headers and stops at the first that
    is unreadable or runs past the end of the file: a torn tail. A whole record whose payload
    fails its CRC still counts (its seq is used up); Queue.read() discards it."""
    try:
        size = os.stat(path)[6]
        f = open(path, "rb")
    except OSError:
        return 0, 0, 0
    c = 0
    off = 0
    try:
        while c < SEG_MAX and off + HDR <= size:
            f.seek(off)
            if f.readinto(h, HDR) != HDR or h[0] != MAGIC or u32(h, 4) != first + c:
                break
            n = h[2] | h[3] << 8
            if n > max_payload or off + HDR + n > size:
                break
            off += HDR + n
            c += 1
    finally:
        f.close()
    return c, off, size


def read_log(path, e, mark):
    """mark(first, last) for each ack entry of one log file (e: an entry buffer); -> (bytes of
    valid entries, torn tail); (-1, False) if there is no such file."""
    try:
        f = open(path, "rb")
    except OSError:
        return -1, False
    good = 0
    torn = False
    try:
        while True:
            got = f.readinto(e)
            if got != ENT:
                torn = got > 0
                break
            if binascii.crc32(memoryview(e)[0:8]) != u32(e, 8):
                torn = True
                break
            mark(u32(e, 0), u32(e, 4))
            good += ENT
    finally:
        f.close()
    return good, torn


def read_state(root):
    """(boot counter, last seq handed out) from st and a leftover st.new: the larger wins."""
    boot = 0
    last = 0
    for name in ("st", "st.new"):
        try:
            f = open(root + "/" + name, "rb")
        except OSError:
            continue
        try:
            b = f.read(16)
        finally:
            f.close()
        if len(b) == 16 and b[0:4] == ST_MAGIC and binascii.crc32(b[0:12]) == u32(b, 12):
            if u32(b, 4) > boot:
                boot = u32(b, 4)
            if u32(b, 8) > last:
                last = u32(b, 8)
    return boot, last
