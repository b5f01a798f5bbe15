"""Scenario files of virtual boards, checked against their schema before a board boots.

Contract: docs/scenario.md (every key, its type and default). `SCHEMA` below is that document's
tables as data; tests/host/test_scenario.py checks that the two list the same keys. A scenario
with an unknown key, a wrong type or an unknown modem model is refused with one line naming
the key path and, for a misspelling, the closest valid name (difflib), so that `"rsrpp"` or
`"BG99"` cannot boot a board that silently simulates something else.
"""

from __future__ import annotations

import difflib
from typing import Any

from .errors import MobiotError

# Type tags: "num" (int or float), "int", "str", "bool", "any"; a dict is an object with those
# keys; ("list", spec) a list of spec; ("enum", values); ("or", spec, spec); "model" a modem
# model name or alias of the firmware's model table; ("map", spec) an object of any keys.
NUM, INT, STR, BOOL, ANY = "num", "int", "str", "bool", "any"

EVENT_KINDS = ("no_service", "denied", "sim_missing", "hang", "error", "reboot", "no_carrier")
RATS = ("LTE-M", "NB-IoT", "LTE", "GSM")
SENSOR_NAMES = ("bme280", "sht4x", "ds18b20")

_WINDOWS = ("or", BOOL, ("list", ("list", NUM)))  # true/false or [[from_s, to_s], ...]

SCHEMA: dict[str, Any] = {
    "modem": {
        "model": "model",
        "rat": ("enum", RATS),
        "operator": ("or", STR, {"long": STR, "short": STR, "numeric": ("or", STR, INT)}),
        "mcc": INT,
        "mnc": STR,
        "band": INT,
        "earfcn": INT,
        "pci": INT,
        "cell": INT,
        "tac": INT,
        "signal": {"rsrp": NUM, "rsrq": NUM, "sinr": NUM, "jitter": NUM},
        "roaming": BOOL,
        "reg_delay_s": NUM,
        "reselect_s": NUM,
        "ip": STR,
        "imei": STR,
        "imsi": STR,
        "iccid": STR,
        "powered": BOOL,
        "hosts": ("map", STR),  # sim/sim_sockets.py: name -> address for the socket commands
        "files": ("map", STR),  # the modem's file system for TLS: name -> host path or PEM text
        "ca_stack": BOOL,  # SIM7000G firmware with the CA* socket commands
        "echo": BOOL,
        "psm": {"grant": BOOL, "t3412_s": NUM, "t3324_s": NUM},
        "edrx": {"grant": BOOL},
        "events": (
            "list",
            {
                "at_s": NUM,
                "do": ("enum", EVENT_KINDS),
                "for_s": NUM,
                "command": STR,
                "code": ("or", INT, STR),
            },
        ),
        "responses": ("map", ("list", ANY)),
        "gnss": {
            "lat": NUM,
            "lon": NUM,
            "alt": NUM,
            "ttff_s": NUM,
            "sats": INT,
            "view": INT,
            "speed_kmh": NUM,
            "course": NUM,
            "hdop": NUM,
            "utc0": NUM,
            "exclusive": BOOL,
        },
    },
    "gnss": {
        "absent": BOOL,
        "ttff_s": NUM,
        "fix": BOOL,
        "route": ("list", ("list", NUM)),
        "speed_ms": NUM,
        "alt_m": NUM,
        "nmea": ("list", STR),
        "per_second": INT,
        "loop": BOOL,
    },
    "start_utc": NUM,
    "time_scale": NUM,
    "env": {
        "temp_c": NUM,
        "temp_amp": NUM,
        "hum": NUM,
        "press_sl": NUM,
        "alt_m": NUM,
        "probe_c": NUM,
        "noise": BOOL,
    },
    "battery": {"start_v": NUM, "end_v": NUM, "hours": NUM, "divider": NUM, "absent": BOOL, "start_utc": NUM},
    "sensors": {name: {"absent": _WINDOWS, "crc_error": _WINDOWS, "error": STR} for name in SENSOR_NAMES},
}

# Keys an event needs, per docs/scenario.md "events".
_EVENT_REQUIRED = ("at_s", "do")


def modem_models() -> list[str]:
    """Model names of the firmware's one model table (aliases are accepted too)."""
    from mobiot_fw.cell import models as cell_models

    return list(cell_models.names())


def _model_ok(name: str) -> bool:
    from mobiot_fw.cell import models as cell_models

    return cell_models.row(name)[0] is not None


def _type_name(spec: Any) -> str:
    if isinstance(spec, dict):
        return "an object"
    if isinstance(spec, tuple):
        if spec[0] == "list":
            return "a list"
        if spec[0] == "map":
            return "an object"
        if spec[0] == "enum":
            return "one of " + ", ".join(spec[1])
        if spec[0] == "or":
            return " or ".join(_type_name(s) for s in spec[1:])
    names = {NUM: "a number", INT: "an integer", STR: "a string", BOOL: "true or false", "model": "a model name"}
    return names.get(str(spec), str(spec))


def _is(spec: Any, v: Any) -> bool:
    """Shallow type test of `v` against `spec` (objects and lists are entered by _check)."""
    if isinstance(spec, dict):
        return isinstance(v, dict)
    if isinstance(spec, tuple):
        tag = spec[0]
        if tag == "list":
            return isinstance(v, list)
        if tag == "map":
            return isinstance(v, dict)
        if tag == "enum":
            return v in spec[1]
        if tag == "or":
            return any(_is(s, v) for s in spec[1:])
    if spec == ANY:
        return True
    if spec == NUM:
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if spec == INT:
        return isinstance(v, int) and not isinstance(v, bool)
    if spec == STR or spec == "model":
        return isinstance(v, str)
    if spec == BOOL:
        return isinstance(v, bool)
    raise AssertionError(f"bad schema tag {spec!r}")


def _suggest(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check(spec: Any, v: Any, path: str) -> None:
    where = path or "the scenario"
    if spec == "model":
        if not isinstance(v, str):
            raise ValueError(f"{where}: must be a string (one of {', '.join(modem_models())})")
        if not _model_ok(v):
            raise ValueError(
                f"{where}: unknown modem model {v!r}{_suggest(v, modem_models())}; known: {', '.join(modem_models())}"
            )
        return
    if isinstance(spec, tuple) and spec[0] == "enum":
        if v not in spec[1]:
            shown = v if isinstance(v, str) else repr(v)
            raise ValueError(
                f"{where}: {shown!r} is not {_type_name(spec)}" + (_suggest(v, spec[1]) if isinstance(v, str) else "")
            )
        return
    if not _is(spec, v):
        raise ValueError(f"{where}: must be {_type_name(spec)}, not {type(v).__name__} {v!r}"[:200])
    if isinstance(spec, tuple) and spec[0] == "or":
        for s in spec[1:]:
            if _is(s, v):
                _check(s, v, path)
                return
    if isinstance(spec, dict):
        for k, sub in v.items():
            p = f"{path}.{k}" if path else k
            if k not in spec:
                raise ValueError(f"unknown key {p!r}{_suggest(k, spec)}")
            _check(spec[k], sub, p)
        if path.startswith("modem.events["):
            for k in _EVENT_REQUIRED:
                if k not in v:
                    raise ValueError(f"{path}: needs {k!r}")
    elif isinstance(spec, tuple) and spec[0] == "list":
        for i, item in enumerate(v):
            _check(spec[1], item, f"{path}[{i}]")
    elif isinstance(spec, tuple) and spec[0] == "map":
        for k, item in v.items():
            _check(spec[1], item, f"{path}.{k}")


def problem(data: Any) -> str | None:
    """Why `data` is not a valid scenario (docs/scenario.md), or None."""
    if not isinstance(data, dict):
        return "must be a JSON object"
    try:
        _check(SCHEMA, data, "")
    except ValueError as exc:
        return str(exc)
    route = (data.get("gnss") or {}).get("route")
    if route is not None:
        for i, pt in enumerate(route):
            if len(pt) != 2 or not (-90 <= pt[0] <= 90 and -180 <= pt[1] <= 180):
                return f"gnss.route[{i}]: must be [lat, lon] in degrees, not {pt!r}"
        if len(route) < 2:
            return "gnss.route: needs at least 2 points"
    return None


def validate(data: Any, where: str) -> dict:
    """`data` if it is a valid scenario, else MobiotError `scenario <where>: <why>`."""
    why = problem(data)
    if why is not None:
        raise MobiotError(f"scenario {where}: {why}")
    return data


def schema_keys(spec: Any = None, prefix: str = "") -> set[str]:
    """Every documented key path (`modem.signal.rsrp`, `modem.events[].do`), for the doc test."""
    spec = SCHEMA if spec is None else spec
    out: set[str] = set()
    if isinstance(spec, dict):
        for k, sub in spec.items():
            p = f"{prefix}.{k}" if prefix else k
            out.add(p)
            out |= schema_keys(sub, p)
    elif isinstance(spec, tuple) and spec[0] == "list":
        out |= schema_keys(spec[1], prefix + "[]")
    elif isinstance(spec, tuple) and spec[0] == "or":
        for s in spec[1:]:
            out |= schema_keys(s, prefix)
    return out
