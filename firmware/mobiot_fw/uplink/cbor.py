# CBOR (RFC 8949) heads written into a caller's buffer, for the uplink encoders (docs/uplink.md).
#
# Why not micropython-lib's cbor2: its encoder builds the output in an io.BytesIO from Python
# objects (a dict per record, a list per message), which is exactly the per-record allocation
# the board must not make; the encoders here transcode the queued record bytes straight into
# the MQTT packet buffer, and need only these few head writers. The board never decodes CBOR
# (commands come down as text lines).

from micropython import const

MAP = const(5)
ARRAY = const(4)
TEXT = const(3)
NEG = const(1)
UINT = const(0)
# RFC 8949 §3.3 simple values
FALSE = const(0xF4)
TRUE = const(0xF5)
NULL = const(0xF6)
UNDEFINED = const(0xF7)
FLOAT32 = const(0xFA)


def head(buf, off, major, n):
    """The shortest head (RFC 8949 §4.2.1) of major type `major` with argument n >= 0 at off;
    returns the offset after it."""
    m = major << 5
    if n < 24:
        buf[off] = m | n
        return off + 1
    if n < 0x100:
        buf[off] = m | 24
        buf[off + 1] = n
        return off + 2
    if n < 0x10000:
        buf[off] = m | 25
        k = 2
    elif n < 0x100000000:
        buf[off] = m | 26
        k = 4
    else:
        buf[off] = m | 27
        k = 8
    i = off + k
    while i > off:
        buf[i] = n & 0xFF
        n >>= 8
        i -= 1
    return off + k + 1


def put_int(buf, off, v):
    """A signed integer: major type 0 for v >= 0, 1 (-1 - v) below (RFC 8949 §3.1)."""
    if v >= 0:
        return head(buf, off, 0, v)
    return head(buf, off, 1, -1 - v)


def close(buf, start, end, major, n):
    """Finish a container whose 1-byte head placeholder is at start and whose items end at
    end: write the head for n items, moving the items right when the head needs more than one
    byte (more than 23 items: rare, e.g. a full connectivity record). Returns the new end."""
    extra = 0 if n < 24 else 1 if n < 0x100 else 2
    if extra:
        if end + extra > len(buf):
            raise IndexError
        mv = memoryview(buf)
        mv[start + 1 + extra : end + extra] = mv[start + 1 : end]  # memmove
    head(buf, start, major, n)
    return end + extra
