# The record table (mobiot_fw.records, docs/records.md) as byte arrays for the uplink
# encoders: row numbers (the compact encoding's integer keys, docs/uplink.md), kinds, decimals,
# units and the slow-field flags, looked up from a name's bytes in place (no str per key).
# Built once when the uplink starts: about 1 KB.
from array import array

from micropython import const

from mobiot_fw import records

NOT_NUM = const(255)  # dec of an int, str or bool row
DEFAULT_DEC = const(4)  # docs/records.md: a name the table does not know has 4 decimals
_KCODE = {"reading": 0, "connectivity": 1, "event": 2, "status": 3}

# docs/uplink.md "Slow fields": written only when they change on a connection
_SLOW = ("imei iccid imsi model modem_fw fw oper mcc mnc rat band earfcn pci cell tac lac apn ip reg psm "
         "t3412_s t3324_s edrx edrx_s ptw_s ce_level attach_s")


class Table:
    def __init__(self):
        names = bytearray()
        units = bytearray()
        off = [0]
        uoff = [0]
        kinds = bytearray()
        decs = bytearray()
        slow = bytearray()
        kind = 0
        sl = _SLOW.split()
        for line in records.TABLE.split("\n"):
            c = line.split()
            if len(c) == 1:
                kind = _KCODE[c[0]]
            if len(c) < 3:
                continue
            names.extend(c[0].encode())
            off.append(len(names))
            if c[1] != "-":
                units.extend(c[1].encode())
            uoff.append(len(units))
            kinds.append(kind)
            decs.append(int(c[3]) if c[2] == "num" else NOT_NUM)
            slow.append(1 if c[0] in sl else 0)
        self.names = bytes(names)
        self.off = array("H", off)
        self.units = bytes(units)
        self.uoff = array("H", uoff)
        self.kinds = bytes(kinds)  # row r (1-based) is index r - 1
        self.decs = bytes(decs)
        self.slow = bytes(slow)
        self.rows = len(kinds)

    def row(self, b, s, e):
        """Row number (1-based) of the name b[s:e], 0 when it is not exactly a row's name."""
        names = self.names
        off = self.off
        n = e - s
        for r in range(self.rows):
            a = off[r]
            if off[r + 1] - a != n:
                continue
            j = 0
            while j < n and names[a + j] == b[s + j]:
                j += 1
            if j == n:
                return r + 1
        return 0

    def base_row(self, b, s, e):
        """The row of a possibly prefixed name (docs/records.md "Prefixes": the longest row
        name that follows an underscore in it), 0 when none."""
        r = self.row(b, s, e)
        i = s
        while not r and i < e:
            if b[i] == 0x5F:  # _
                r = self.row(b, i + 1, e)
            i += 1
        return r

    def dec(self, r):
        """Decimals numbers of row r are scaled by; NOT_NUM for an int row; DEFAULT_DEC for a
        name without a row (r == 0). str and bool rows never carry numbers."""
        if not r:
            return DEFAULT_DEC
        return self.decs[r - 1]
