# The one table of record names, kinds, units and events. Contract: docs/records.md (a host test,
# tests/host/test_records_table.py, checks that the Markdown table equals FIELDS and EVENTS here).
# Runs on MicroPython (board) and CPython (host imports it as mobiot_fw.records): no machine, no
# typing, no allocation beyond the module's own tables.
#
# Units are SenML unit symbols from the IANA "SenML Units" registry (RFC 8428 §12.1, extended by
# RFC 8798 §2: "B"; "dBm" is a registered secondary unit, RFC 8798 §3, dBW with offset -30).
# LwM2M paths are OMA LwM2M registry objects: 3 Device, 4 Connectivity Monitoring, 6 Location,
# 7 Connectivity Statistics, IPSO 3303 Temperature / 3304 Humidity / 3315 Barometer with resource
# 5700 Sensor Value. Where the LwM2M resource has another scale (3/0/7 is mV, 3/0/10 is KB,
# 7/0/2-3 are kB) the note column of docs/records.md says so; the value in our record keeps the
# SenML unit given here.

KINDS = ("reading", "connectivity", "event", "status")

# Types: "num" (JSON number, rounded to `dec` decimals at the record), "int" (JSON integer),
# "str" (JSON string), "bool" (JSON true/false).
# Row: (name, kind, unit or "", type, decimals or None, lwm2m path or "")
FIELDS = (
    # readings
    ("temp", "reading", "Cel", "num", 2, "3303/0/5700"),
    ("hum", "reading", "%RH", "num", 1, "3304/0/5700"),
    ("press", "reading", "Pa", "num", 0, "3315/0/5700"),
    ("bat", "reading", "V", "num", 3, "3/0/7"),
    ("lat", "reading", "lat", "num", 6, "6/0/0"),
    ("lon", "reading", "lon", "num", 6, "6/0/1"),
    ("alt", "reading", "m", "num", 1, "6/0/2"),
    ("spd", "reading", "m/s", "num", 2, "6/0/6"),
    ("hdop", "reading", "/", "num", 1, ""),
    ("sats", "reading", "count", "int", None, ""),
    ("fix", "reading", "", "int", None, ""),
    # status
    ("heap", "status", "B", "int", None, "3/0/10"),
    ("heap_min", "status", "B", "int", None, ""),
    ("uptime", "status", "s", "int", None, ""),
    ("qdepth", "status", "count", "int", None, ""),
    ("qdrops", "status", "count", "int", None, ""),
    ("fw", "status", "", "str", None, "3/0/3"),
    # connectivity (filled by the modem code)
    ("rat", "connectivity", "", "str", None, "4/0/0"),
    ("rssi", "connectivity", "dBm", "int", None, "4/0/2"),
    ("rsrp", "connectivity", "dBm", "num", 1, ""),
    ("rsrq", "connectivity", "dB", "num", 1, "4/0/3"),
    ("sinr", "connectivity", "dB", "num", 1, "4/0/11"),
    ("band", "connectivity", "", "int", None, ""),
    ("earfcn", "connectivity", "", "int", None, ""),
    ("pci", "connectivity", "", "int", None, ""),
    ("cell", "connectivity", "", "int", None, "4/0/8"),
    ("tac", "connectivity", "", "int", None, "4/0/12"),
    ("lac", "connectivity", "", "int", None, "4/0/12"),
    ("mcc", "connectivity", "", "int", None, "4/0/10"),
    ("mnc", "connectivity", "", "str", None, "4/0/9"),
    ("oper", "connectivity", "", "str", None, ""),
    ("reg", "connectivity", "", "str", None, ""),
    ("ip", "connectivity", "", "str", None, "4/0/4"),
    ("apn", "connectivity", "", "str", None, "4/0/7"),
    ("psm", "connectivity", "", "bool", None, ""),
    ("t3412_s", "connectivity", "s", "int", None, ""),
    ("t3324_s", "connectivity", "s", "int", None, ""),
    ("edrx", "connectivity", "", "bool", None, ""),
    ("edrx_s", "connectivity", "s", "num", 2, ""),
    ("ptw_s", "connectivity", "s", "num", 2, ""),
    ("ce_level", "connectivity", "", "int", None, ""),
    ("imei", "connectivity", "", "str", None, "3/0/2"),
    ("iccid", "connectivity", "", "str", None, ""),
    ("imsi", "connectivity", "", "str", None, ""),
    ("modem_fw", "connectivity", "", "str", None, ""),
    ("model", "connectivity", "", "str", None, ""),
    ("attach_s", "connectivity", "s", "num", 1, ""),
    ("tx_bytes", "connectivity", "B", "int", None, "7/0/2"),
    ("rx_bytes", "connectivity", "B", "int", None, "7/0/3"),
)

# Events: an event record has kind "event" and values {"event": <name>, <field>: ..., ...}.
# Row: (event name, ((field, type), ...)). Fields are all optional except where docs/records.md
# says otherwise.
EVENTS = (
    ("boot", (("reset", "str"), ("fw", "str"))),
    ("sensor_error", (("sensor", "str"), ("err", "str"), ("errno", "int"))),
    ("sensor_recovered", (("sensor", "str"), ("after_s", "num"))),
    ("modem_error", (("err", "str"), ("at", "str"), ("errno", "int"))),
    ("modem_recovered", (("after_s", "num"), ("tries", "int"))),
    ("config_fallback", (("reason", "str"), ("key", "str"))),
    ("queue_drop", (("dropped", "int"), ("total", "int"))),
    ("queue_corrupt", (("discarded", "int"),)),
    ("reg_change", (("old", "str"), ("new", "str"))),
    ("time_set", (("delta_s", "num"), ("source", "str"))),
    ("low_battery", (("bat", "num"),)),
)

# Reset causes carried by the boot event ("reset"): names of machine.reset_cause() constants.
RESET_CAUSES = ("power_on", "hard", "wdt", "deepsleep", "soft", "brownout", "unknown")

# Keys of the record object, in the order the board writes them (docs/protocol.md, R frame).
ENVELOPE = ("device", "boot", "seq", "t", "clock", "kind", "values")
CLOCKS = ("utc", "uptime")

# Decimals used for a float value whose name is not in FIELDS.
DEFAULT_DEC = 4


def _row(name):
    for r in FIELDS:
        if r[0] == name:
            return r
    return None


def base_name(name):
    """The FIELDS name a (possibly prefixed) value name stands for, or None.

    A sensor instance may prefix its values ("sht_temp", "ds_temp", "bme_1_press"): the base is
    the longest known name that follows an underscore, so "x_heap_min" is "heap_min", not "min".
    """
    if _row(name) is not None:
        return name
    i = name.find("_")
    while i >= 0:
        tail = name[i + 1 :]
        if _row(tail) is not None:
            return tail
        i = name.find("_", i + 1)
    return None


def field(name):
    """The FIELDS row of a (possibly prefixed) name, or None."""
    b = base_name(name)
    return None if b is None else _row(b)


def unit_of(name):
    """SenML unit of a (possibly prefixed) value name; "" if it has none; None if unknown."""
    r = field(name)
    return None if r is None else r[2]


def kind_of(name):
    r = field(name)
    return None if r is None else r[1]


def decimals(name):
    """Decimals a float value of this name is rounded to at the record."""
    r = field(name)
    if r is None or r[4] is None:
        return DEFAULT_DEC
    return r[4]


def lwm2m_of(name):
    r = field(name)
    return None if r is None else r[5]


def event(name):
    """The EVENTS row of an event name, or None."""
    for e in EVENTS:
        if e[0] == name:
            return e
    return None


def _type_ok(t, v):
    if t == "str":
        return isinstance(v, str)
    if t == "bool":
        return isinstance(v, bool)
    if isinstance(v, bool):
        return False
    if t == "int":
        return isinstance(v, int)
    return isinstance(v, (int, float))


def check_values(kind, values):
    """Problems (list of one-line strings) of a record's values dict against the table; [] if ok."""
    out = []
    if kind not in KINDS:
        return ["unknown kind %s" % kind]
    if kind == "event":
        ev = values.get("event")
        e = event(ev) if isinstance(ev, str) else None
        if e is None:
            return ["unknown event %s" % ev]
        types = dict(e[1])
        for k in values:
            if k == "event":
                continue
            t = types.get(k)
            if t is None:
                out.append("%s: unknown field %s" % (ev, k))
            elif not _type_ok(t, values[k]):
                out.append("%s.%s: not %s" % (ev, k, t))
        return out
    for k in values:
        r = field(k)
        if r is None:
            out.append("unknown name %s" % k)
        elif r[1] != kind:
            out.append("%s is %s, not %s" % (k, r[1], kind))
        elif values[k] is not None and not _type_ok(r[3], values[k]):
            out.append("%s: not %s" % (k, r[3]))
    return out
