# The terminal's configuration: schema, defaults and validation. Contract: docs/config.md.
# Runs on MicroPython (the board reads /config.json at boot) and on CPython (host tools
# validate a config before they provision it), so it imports nothing board-specific.
#
# The one config rule (here, at provisioning and for config changes sent down by the uplink):
# a config that fails as a whole (fatal(): not an object, a section that is not an object) is
# refused and the last good one stays in force; within a valid config a malformed key falls
# back to its default and the error (one line naming the key) goes in a config_fallback event.

# (path, type, default, lo, hi): the schema in one table. Types: "int", "num", "bool", "str";
# a "str" with a tuple for lo takes only those values.
# Dict-valued sections (sensors, modem.psm, modem.edrx) are checked by their own rows.
SCHEMA = (
    ("device_id", "str", "", None, None),
    ("board", "str", "", None, None),
    ("interval_s", "int", 60, 1, 86400),
    ("status_every", "int", 10, 1, 10000),
    ("maint_window_ms", "int", 1500, 0, 60000),
    ("wdt_ms", "int", 30000, 0, 120000),
    ("sleep.deep", "bool", False, None, None),
    ("link.window", "int", 8, 1, 64),
    ("link.resend_s", "int", 5, 1, 3600),
    ("queue.max_records", "int", 2000, 16, 100000),
    ("queue.max_bytes", "int", 262144, 4096, 4194304),
    ("modem.enabled", "bool", True, None, None),
    ("modem.apn", "str", "", None, None),
    ("modem.attach_timeout_s", "int", 180, 10, 3600),
    ("modem.psm.t3412_s", "int", 0, 0, 35712000),
    ("modem.psm.t3324_s", "int", 0, 0, 11160),
    ("modem.edrx.cycle_s", "num", 0, 0, 10485.76),
    ("modem.gnss_every", "int", 10, 0, 10000),
    # the cellular uplink: docs/uplink.md
    ("uplink.enabled", "bool", False, None, None),
    ("uplink.transport", "str", "modem", ("modem", "ppp", "wlan"), None),
    ("uplink.host", "str", "", None, None),
    ("uplink.port", "int", 0, 0, 65535),
    ("uplink.tls", "bool", False, None, None),
    ("uplink.ca", "str", "ca.crt", None, None),
    ("uplink.user", "str", "", None, None),
    ("uplink.password", "str", "", None, None),
    ("uplink.keepalive_s", "int", 120, 0, 65535),
    ("uplink.clean", "bool", False, None, None),
    ("uplink.encoding", "str", "compact", ("compact", "senml", "json"), None),
    ("uplink.batch", "int", 1, 1, 23),
    ("uplink.batch_wait_s", "int", 60, 0, 86400),
    ("uplink.max_bytes", "int", 1024, 128, 4096),
    ("uplink.window", "int", 4, 1, 16),
    ("uplink.resend_s", "int", 300, 10, 86400),
    ("uplink.backoff_s", "int", 5, 1, 3600),
    ("uplink.backoff_max_s", "int", 900, 10, 86400),
)

SENSOR_KEYS = ("bme280", "sht4x", "ds18b20", "battery", "gnss")
# Per-sensor options: (name, type, lo, hi).
SENSOR_OPTS = (
    ("addr", "int", 8, 119),
    ("prefix", "str", None, None),
    ("divider", "num", 0.1, 100.0),
    ("scale", "num", 0.5, 2.0),
    ("offset", "num", -1.0, 1.0),
)


def _get(d, path):
    for k in path.split("."):
        if not isinstance(d, dict) or k not in d:
            return None, False
        d = d[k]
    return d, True


def _set(d, path, v):
    ks = path.split(".")
    for k in ks[:-1]:
        if not isinstance(d.get(k), dict):
            d[k] = {}
        d = d[k]
    d[ks[-1]] = v


def _check(typ, v, lo, hi):
    if typ == "bool":
        return isinstance(v, bool)
    if typ == "str":
        return isinstance(v, str) and len(v) <= 64 and (lo is None or v in lo)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    if typ == "int" and not isinstance(v, int):
        return False
    return (lo is None or v >= lo) and (hi is None or v <= hi)


def defaults():
    cfg = {"sensors": {}}
    for path, _typ, dflt, _lo, _hi in SCHEMA:
        _set(cfg, path, dflt)
    return cfg


# Objects by shape: a config whose section is not an object fails as a whole.
_SECTIONS = ("sleep", "link", "queue", "modem", "modem.psm", "modem.edrx", "sensors")


def fatal(raw):
    """Why `raw` fails as a whole (one line), or None when it is a config to validate."""
    if not isinstance(raw, dict):
        return "must be a JSON object"
    for s in _SECTIONS:
        v, present = _get(raw, s)
        if present and not isinstance(v, dict):
            return "%s must be an object" % s
    return None


def validate(raw, where="config.json"):
    """Return (config, errors): every key of the schema present, bad values replaced by the
    default, each error a one-line message naming the key."""
    cfg = defaults()
    errors = []
    if not isinstance(raw, dict):
        return cfg, ["%s: must be a JSON object" % where]
    for path, typ, dflt, lo, hi in SCHEMA:
        v, present = _get(raw, path)
        if not present:
            continue
        if _check(typ, v, lo, hi):
            _set(cfg, path, v)
        else:
            rng = ""
            if hi is not None:
                rng = " (%s..%s)" % (lo, hi)
            elif lo is not None:  # a "str" of choices
                rng = " (one of %s)" % ", ".join(lo)  # pyright: ignore[reportCallIssue, reportArgumentType]
            errors.append("%s: %s=%r is not a valid %s%s; using %r" % (where, path, v, typ, rng, dflt))
    known = set(p.split(".")[0] for p in (r[0] for r in SCHEMA))
    known.add("sensors")
    for k in raw:
        if k not in known:
            errors.append("%s: unknown key %r ignored" % (where, k))
    sensors = raw.get("sensors", {})
    if not isinstance(sensors, dict):
        errors.append("%s: sensors must be an object" % where)
        sensors = {}
    for name, opts in sensors.items():
        if name not in SENSOR_KEYS:
            errors.append("%s: sensors.%s is not a known sensor %s" % (where, name, SENSOR_KEYS))
            continue
        if opts is False:
            cfg["sensors"][name] = False
            continue
        if opts is True:
            opts = {}
        if not isinstance(opts, dict):
            errors.append("%s: sensors.%s must be an object, true or false" % (where, name))
            continue
        good = {}
        for oname, otyp, lo, hi in SENSOR_OPTS:
            if oname in opts:
                if _check(otyp, opts[oname], lo, hi):
                    good[oname] = opts[oname]
                else:
                    errors.append("%s: sensors.%s.%s=%r is not valid; using the default"
                                  % (where, name, oname, opts[oname]))
        cfg["sensors"][name] = good
    if not cfg["uplink"]["enabled"]:
        # A board without the uplink keeps only its switch: the section's 17 other keys would
        # stay in RAM for nothing (docs/uplink.md "Memory"), in safe mode too.
        cfg["uplink"] = {"enabled": False}
    return cfg, errors


def load(path="config.json"):
    """Read and validate a config file. Returns (config, errors); never raises."""
    try:
        import json

        with open(path) as f:
            raw = json.load(f)
    except OSError:
        return defaults(), ["%s: missing; using defaults" % path]
    except ValueError as e:
        return defaults(), ["%s: not valid JSON (%s); using defaults" % (path, e)]
    why = fatal(raw)
    if why:
        return defaults(), ["%s: %s; using defaults" % (path, why)]
    return validate(raw, path)


def replace(new_cfg, fname="config.json"):
    """Put a whole new config in force (the MQTT uplink calls this for a config sent down;
    `new_cfg` is a dict or JSON text). One rule: a config failing as a whole raises
    ValueError("<why>") and leaves the file, the last good config, as it was; otherwise it is
    written atomically (config.json.new, then rename) and (config, errors) is returned, each
    error a key that fell back to its default, for config_fallback events."""
    import json

    if isinstance(new_cfg, bytes):
        new_cfg = new_cfg.decode()
    if isinstance(new_cfg, str):
        try:
            new_cfg = json.loads(new_cfg)
        except ValueError as e:
            raise ValueError("not valid JSON (%s)" % e)
    why = fatal(new_cfg)
    if why:
        raise ValueError(why)
    cfg, errors = validate(new_cfg, fname)
    tmp = fname + ".new"
    with open(tmp, "w") as f:
        json.dump(new_cfg, f)
    import os

    os.rename(tmp, fname)
    return cfg, errors


def save_key(key, value, fname="config.json"):
    """Change one key of the config file on flash (atomically: write, then rename)."""
    import json

    try:
        with open(fname) as f:
            raw = json.load(f)
    except (OSError, ValueError):
        raw = {}
    _set(raw, key, value)
    tmp = fname + ".new"
    with open(tmp, "w") as f:
        json.dump(raw, f)
    import os

    os.rename(tmp, fname)
