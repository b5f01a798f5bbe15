# JSON uplink encoding, for debugging (docs/uplink.md "JSON"): the queued record objects,
# untouched, in an array. Copies bytes; allocates nothing.
class Json:
    """JSON for debugging (docs/uplink.md): the queued record objects, untouched, in an array."""

    def __init__(self, table=None, device=None):
        self.buf = bytearray(0)

    def reset(self):
        pass

    def begin(self, buf, off, limit=0):
        self.buf = buf
        self.start = off
        self.off = off + 1
        self.limit = limit or len(buf)
        self.nrec = 0
        buf[off] = 0x5B  # [
        return off

    def add(self, rec):
        n = len(rec.b)
        if self.off + n + 1 > self.limit:
            return False
        self.buf[self.off : self.off + n] = rec.b
        self.off += n
        self.buf[self.off] = 0x2C  # ,
        self.off += 1
        self.nrec += 1
        return True

    def end(self):
        if not self.nrec:
            return self.start
        self.buf[self.off - 1] = 0x5D  # ]
        return self.off
