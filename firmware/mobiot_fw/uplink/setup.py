# What the uplink runs once, when it is built (docs/memory.md "The uplink"): the record table's
# byte arrays (table.Table) and the Uplink's encoder, topics and buffers (session.Uplink).
# table.py and session.py load it with mobiot_fw.once() for the build and drop it, so this code
# is not in RAM while the uplink runs; the per-record and per-connection code stays in them.
from array import array

from mobiot_fw import records

from .table import NOT_NUM

_KCODE = {"reading": 0, "connectivity": 1, "event": 2, "status": 3}
# docs/uplink.md "Slow fields": written only when they change on a connection
_SLOW = ("imei iccid imsi model modem_fw fw oper mcc mnc rat band earfcn pci cell tac lac apn ip reg psm "
         "t3412_s t3324_s edrx edrx_s ptw_s ce_level attach_s")


def table():
    """The record table mobiot_fw.records.TABLE (docs/records.md) as table.Table's arrays:
    (names, off, units, uoff, kinds, decs, slow)."""
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
    return bytes(names), array("H", off), bytes(units), array("H", uoff), bytes(kinds), bytes(decs), bytes(slow)


def uplink(device, encoding, ring, nreplies, reply_len):
    """session.Uplink's topics, encoder (`encoding`, the config's uplink.encoding), record
    scanner, ring of sent messages (`ring` entries: last seq, ticks sent) and `nreplies`
    reply slots of `reply_len` bytes with their lengths and the frame buffer."""
    from .rec import Rec
    from .table import Table

    tab = Table(table)
    if encoding == "senml":
        from .senml import SenML

        enc = SenML(tab, device)
    elif encoding == "json":
        from .jsonmsg import Json

        enc = Json()
    else:
        from .compact import Compact

        enc = Compact(tab)
    return (("mobiot/%s/up" % device).encode(), ("mobiot/%s/down" % device).encode(),
            ("mobiot/%s/reply" % device).encode(), enc, Rec(),
            array("i", bytes(4 * ring)), array("i", bytes(4 * ring)),  # last seq of each message sent, when
            [bytearray(reply_len) for _ in range(nreplies)],
            bytearray(reply_len + 12),  # an H or K frame is made here
            array("H", bytes(2 * nreplies)))
