# The record table (mobiot_fw.records, docs/records.md) as byte arrays for the uplink
# encoders: row numbers (the compact encoding's integer keys, docs/uplink.md), kinds, decimals,
# units and the slow-field flags, looked up from a name's bytes in place (no str per key).
# Built once when the uplink starts (uplink/setup.py): about 1 KB.
from micropython import const

from mobiot_fw import once

NOT_NUM = const(255)  # dec of an int, str or bool row
DEFAULT_DEC = const(4)  # docs/records.md: a name the table does not know has 4 decimals


class Table:
    """Per row r (1-based): its name is names[off[r - 1]:off[r]], its unit units[uoff[r - 1]:
    uoff[r]]; kinds, decs and slow (docs/uplink.md "Slow fields") at r - 1; rows of them."""

    def __init__(self, build=None):
        # the arrays are built by uplink/setup.py, loaded for it and dropped (once per uplink);
        # build: that module's table(), when it is the caller
        (self.names, self.off, self.units, self.uoff, self.kinds, self.decs,
         self.slow) = (build or once("mobiot_fw.uplink.setup").table)()
        self.rows = len(self.kinds)

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
