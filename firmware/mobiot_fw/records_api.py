# The record table as Python data and its lookups, for the host (CPython: export, plot, codec
# tests) and for tests. Contract: docs/records.md. The fields come from the one text table in
# records.py; the board never imports this module (its firmware only calls records.decimals()),
# so nothing here is paid for in the board's heap. Reach it as mobiot_fw.records.<name>: records'
# module __getattr__ forwards here.
from mobiot_fw.records import TABLE, decimals

KINDS = ("reading", "connectivity", "event", "status")

# Decimals used for a float value whose name is not in FIELDS, or is not a num: what decimals()
# answers for a name no row has.
DEFAULT_DEC = decimals("")


def _fields():
    # (name, kind, unit or "", type, decimals or None, lwm2m path or "") per row of the text
    out = []
    kind = ""
    for line in TABLE.splitlines():
        c = line.split()
        if len(c) == 1:  # a kind heading
            kind = c[0]
            continue
        dec = int(c[3]) if c[2] == "num" else None
        lw = c[3 if dec is None else 4 :]
        out.append((c[0], kind, "" if c[1] == "-" else c[1], c[2], dec, lw[0] if lw else ""))
    return tuple(out)


# Row: (name, kind, unit or "", type, decimals or None, lwm2m path or ""). Types: "num" (JSON
# number, rounded to `dec` decimals at the record), "int" (JSON integer), "str" (JSON string),
# "bool" (JSON true/false).
FIELDS = _fields()
_BY_NAME = {r[0]: r for r in FIELDS}

# Events: an event record has kind "event" and values {"event": <name>, <field>: ..., ...}.
# Row: (event name, ((field, type), ...)). Fields are all optional except where docs/records.md
# says otherwise. The board writes events but never looks them up, so they live here only.
EVENTS = (
    ("boot", (("reset", "str"), ("fw", "str"), ("fwid", "str"))),
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
    ("crash", (("exc", "str"), ("frames", "str"), ("reset", "str"), ("up_s", "int"), ("crashes", "int"))),
    ("safe_mode", (("crashes", "int"),)),
    ("config_changed", (("fallbacks", "int"),)),
    ("config_refused", (("reason", "str"),)),
    ("uplink_up", (("transport", "str"), ("tls", "bool"))),
    ("uplink_down", (("err", "str"), ("code", "int"), ("after_s", "num"))),
    ("uplink_error", (("err", "str"), ("code", "int"))),
)

# Reset causes carried by the boot event ("reset"): names of machine.reset_cause() constants.
RESET_CAUSES = ("power_on", "hard", "wdt", "deepsleep", "soft", "brownout", "unknown")

# Keys of the record object, in the order the board writes them (docs/protocol.md, R frame).
ENVELOPE = ("device", "boot", "seq", "t", "clock", "kind", "values")
CLOCKS = ("utc", "uptime")


def base_name(name):
    """The FIELDS name a (possibly prefixed) value name stands for, or None.

    A sensor instance may prefix its values ("sht_temp", "ds_temp", "bme_1_press"): the base is
    the longest known name that follows an underscore, so "x_heap_min" is "heap_min", not "min".
    (records.decimals() applies the same rule in place, without slices, for the board.)
    """
    for i in range(-1, len(name)):  # -1: the whole name; the first tail found is the longest
        if (i < 0 or name[i] == "_") and name[i + 1 :] in _BY_NAME:
            return name[i + 1 :]
    return None


def field(name):
    """The FIELDS row of a (possibly prefixed) name, or None."""
    return _BY_NAME.get(base_name(name))


def unit_of(name):
    """SenML unit of a (possibly prefixed) value name; "" if it has none; None if unknown."""
    r = field(name)
    return None if r is None else r[2]


def kind_of(name):
    r = field(name)
    return None if r is None else r[1]


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
