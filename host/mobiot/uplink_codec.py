"""Host side of the cellular uplink's payloads (docs/uplink.md): `decode_up(topic, payload)`.

An up message (topic `mobiot/<device>/up`) is compact CBOR, SenML-CBOR or JSON; its first byte
says which. Every decoder returns the records as dicts shaped like a serial `R` frame's payload
(docs/protocol.md, host/mobiot/codec.py): device, boot, seq, t, clock, kind, values. CBOR is
decoded by cbor2; this module only applies docs/uplink.md's rules on top of it.

Compact CBOR omits a connection's slow fields (IMEI, ICCID, operator, cell, ...) when they have
not changed: pass the same `state` dict for every message of the broker session and the
decoder fills them in, so that the records equal those that came over serial. Without a state
the records simply lack the omitted values.
"""

from __future__ import annotations

import json
import math
from typing import Any

import cbor2

from mobiot.errors import MobiotError
from mobiot_fw import records

KINDS = ("reading", "connectivity", "event", "status")
# docs/uplink.md "Slow fields" (the firmware's list: mobiot_fw/uplink/table.py _SLOW)
SLOW_FIELDS = frozenset(
    "imei iccid imsi model modem_fw fw oper mcc mnc rat band earfcn pci cell tac lac apn ip reg psm "
    "t3412_s t3324_s edrx edrx_s ptw_s ce_level attach_s".split()
)
# Compact integer keys: the 1-based row numbers of the records table.
ROW_NAMES: tuple[str, ...] = tuple(r[0] for r in records.FIELDS)
_ROW = {name: i + 1 for i, name in enumerate(ROW_NAMES)}
# SenML-CBOR integer labels, RFC 8428 §6 Table 4
_BVER, _BN, _BT, _BU, _BV = -1, -2, -3, -4, -5
_N, _U, _V, _VS, _VB, _T = 0, 1, 2, 3, 4, 6
_MSGNO_MOD = 23
_TMAX = 24  # longest template of a delta record (firmware compact.py _TMAX)


class UplinkDecodeError(MobiotError):
    """An up message that is not one of docs/uplink.md's encodings (one line: what and where)."""


def device_of(topic: str) -> str:
    """The device of an up topic `mobiot/<device>/up`."""
    parts = topic.split("/")
    if len(parts) != 3 or parts[0] != "mobiot" or parts[2] != "up" or not parts[1]:
        raise UplinkDecodeError(f"{topic}: not an up topic (mobiot/<device>/up)")
    return parts[1]


def encoding_of(payload: bytes) -> str:
    """'compact', 'senml' or 'json' from the message's first byte (docs/uplink.md)."""
    if not payload:
        return "empty"
    c = payload[0]
    if 0xA0 <= c <= 0xBB:
        return "compact"
    if 0x80 <= c <= 0x9B:
        return "senml"
    if c in (0x7B, 0x5B):
        return "json"
    return "unknown"


def decode_up(topic: str, payload: bytes, state: dict | None = None) -> list[dict[str, Any]]:
    """The records of one up message, as R frame payload dicts, oldest first.

    `state`: a dict the caller keeps per broker session (any devices): the compact decoder keeps
    each connection's slow fields there and fills omitted ones in. Raises UplinkDecodeError.
    """
    device = device_of(topic)
    enc = encoding_of(payload)
    try:
        if enc == "compact":
            return _compact(device, cbor2.loads(payload), state)
        if enc == "senml":
            return _senml(device, cbor2.loads(payload))
        if enc == "json":
            return _json(device, json.loads(payload.decode("utf-8")))
    except UplinkDecodeError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, cbor2.CBORDecodeError) as e:
        raise UplinkDecodeError(f"{topic}: bad {enc} message ({type(e).__name__}: {e})") from None
    raise UplinkDecodeError(f"{topic}: unknown encoding (first byte {payload[:1].hex() or 'none'})")


# ---- values ----------------------------------------------------------------------------------


def _dec_of(name: str) -> int | None:
    """Decimals a compact number of this name is scaled by; None: an int row, not scaled."""
    row = records.field(name)
    if row is None:
        return records.DEFAULT_DEC
    return row[4] if row[3] == "num" else (None if row[3] == "int" else records.DEFAULT_DEC)


def unscale(name: str, n: int) -> int | float:
    """A compact number back to the record's value (docs/uplink.md "Values")."""
    dec = _dec_of(name)
    if not dec:
        return n
    p = 10**dec
    if n % p == 0:
        return n // p
    return round(n / p, dec)


def _round_senml(name: str, v: Any) -> Any:
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"{name}: not a finite number")
        dec = _dec_of(name)
        v = round(v, dec if dec is not None else 0)
        if v == int(v) and (dec == 0 or dec is None):
            return int(v)
    return v


# ---- compact ---------------------------------------------------------------------------------


def _compact(device: str, msg: Any, state: dict | None) -> list[dict[str, Any]]:
    if not isinstance(msg, dict) or not isinstance(msg.get(5), list):
        raise ValueError("compact message needs a records array (key 5)")
    boot, seq, t = msg[1], msg[2], msg[3]
    uptime = msg.get(4) == 1
    prev = {"boot": boot, "seq": seq - 1, "t": t, "uptime": uptime}
    # slow-field state of this device's connection: valid while messages arrive in order
    st = None
    if state is not None:
        dev = state.setdefault(device, {"n": None, "slow": {}})
        n = msg.get(6)
        if n is None:  # the first message of a connection: everything is written
            dev["n"], dev["slow"] = 0, {}
            st = dev
        elif dev["n"] is not None and n == dev["n"] % _MSGNO_MOD + 1:
            dev["n"] = n
            st = dev
        else:
            dev["n"] = None  # a gap (or a restarted decoder): fill nothing until the next connect
    slow = st["slow"] if st is not None else {}
    templates: dict[int, tuple[list[str], list[int]]] = {}
    times: dict[int, tuple[int, int]] = {}  # per kind: (t of its last record, interval before it)
    out: list[dict[str, Any]] = []
    for r in msg[5]:
        if isinstance(r, list) and r and isinstance(r[0], int) and r[0] < 0:
            # a row run [-row, v_row, v_row+1, ...]: same boot, clock and t as the previous
            # record, the next seq; `undefined` for a row not written
            row = -r[0]
            if row > len(ROW_NAMES) or row - 1 + len(r) - 1 > len(ROW_NAMES):
                raise ValueError(f"row run past the record table (row {row}, {len(r) - 1} values)")
            rec = {"boot": prev["boot"], "seq": prev["seq"] + 1, "t": prev["t"], "uptime": prev["uptime"]}
            values, keys, ints, gone = {}, [], [], []
            for i, v in enumerate(r[1:]):
                if v is cbor2.undefined:
                    continue
                if not isinstance(v, int) or isinstance(v, bool):
                    raise ValueError(f"row run value {v!r} is not an integer")
                name = ROW_NAMES[row - 1 + i]
                values[name] = unscale(name, v)
                keys.append(name)
                ints.append(v)
            kind = KINDS.index(records.kind_of(ROW_NAMES[row - 1]))
            templates[kind] = (keys, ints) if len(keys) <= _TMAX else ([], [])
        elif isinstance(r, list):
            kind = r[0]
            keys, vals = templates[kind]
            if not keys or len(r) > 2 + len(keys):
                raise ValueError("delta record does not match its template")
            deltas = r[2:] + [0] * (len(keys) + 2 - len(r))  # trailing zeros are left out
            cur = [v + d for v, d in zip(vals, deltas, strict=True)]
            last_t, step = times[kind]
            rec_t = last_t + step + r[1]
            values: dict[str, Any] = {k: unscale(k, v) for k, v in zip(keys, cur, strict=True)}
            templates[kind] = (keys, cur)
            rec = {"boot": prev["boot"], "seq": prev["seq"] + 1, "t": rec_t, "uptime": prev["uptime"]}
            gone: list[str] = []
        elif isinstance(r, dict):
            rec = {
                "boot": r.get(-4, prev["boot"]),
                "seq": prev["seq"] + 1 + r.get(-3, 0),
                "t": prev["t"] + r.get(-2, 0),
                "uptime": r[-5] == 1 if -5 in r else prev["uptime"],
            }
            values = {}
            gone = []
            keys, ints = [], []
            simple = True
            for k, v in r.items():
                if isinstance(k, int) and k < 0:
                    continue
                name = ROW_NAMES[k - 1] if isinstance(k, int) else k
                if not isinstance(name, str):
                    raise ValueError(f"bad key {k!r}")
                if v is cbor2.undefined:
                    gone.append(name)
                    continue
                if isinstance(v, int) and not isinstance(v, bool):
                    values[name] = unscale(name, v)
                    keys.append(name)
                    ints.append(v)
                else:
                    values[name] = v
                    simple = False
                if not isinstance(k, int):
                    simple = False
            kind = r.get(-1)
            if kind is None:
                first = next((k for k in r if isinstance(k, int) and k > 0), None)
                if first is None:
                    raise ValueError("record without kind")
                kind = KINDS.index(records.kind_of(ROW_NAMES[first - 1]))
            if kind != 2:
                # a delta record's template is in table-row order, whatever the map's order
                if simple and len(keys) <= _TMAX:
                    order = sorted(range(len(keys)), key=lambda i: ROW_NAMES.index(keys[i]))
                    templates[kind] = ([keys[i] for i in order], [ints[i] for i in order])
                else:
                    templates[kind] = ([], [])
        else:
            raise ValueError("record is neither a map nor an array")
        kname = KINDS[kind]
        if kind != 2:
            times[kind] = (rec["t"], rec["t"] - times[kind][0] if kind in times else 0)
        if kname in ("connectivity", "status"):
            mine = {n for n in ROW_NAMES if n in SLOW_FIELDS and records.kind_of(n) == kname}
            for name in gone:
                slow.pop(name, None)
            for name in mine:
                if name in values:
                    slow[name] = values[name]
                elif name in slow and name not in gone:
                    values[name] = slow[name]
        prev = rec
        out.append(
            {
                "device": device,
                "boot": rec["boot"],
                "seq": rec["seq"],
                "t": rec["t"],
                "clock": "uptime" if rec["uptime"] else "utc",
                "kind": kname,
                "values": values,
            }
        )
    return out


# ---- SenML -----------------------------------------------------------------------------------


def resolve_senml(pack: list) -> list[dict[str, Any]]:
    """RFC 8428 §4.6 resolved records: base name/time/unit/value applied, with the extension
    labels (our seq, boot, kind, up) kept as they are."""
    if not isinstance(pack, list):
        raise ValueError("a SenML pack is an array")
    bn, bt, bu, bv = "", 0, None, None
    out = []
    for e in pack:
        if not isinstance(e, dict):
            raise ValueError("a SenML record is a map")
        for k in e:
            if isinstance(k, str) and k.endswith("_"):
                raise ValueError(f"must-understand label {k!r} (RFC 8428 §4.4)")
        bn = e.get(_BN, bn)
        bt = e.get(_BT, bt)
        bu = e.get(_BU, bu)
        bv = e.get(_BV, bv)
        r: dict[str, Any] = {k: v for k, v in e.items() if isinstance(k, str)}
        if _N in e or _V in e or _VS in e or _VB in e:
            r["n"] = bn + e.get(_N, "")
            r["t"] = bt + e.get(_T, 0)
            u = e.get(_U, bu)
            if u is not None:
                r["u"] = u
            if _V in e:
                r["v"] = e[_V] + (bv or 0)
            elif _VS in e:
                r["vs"] = e[_VS]
            elif _VB in e:
                r["vb"] = e[_VB]
        else:
            r["t"] = bt + e.get(_T, 0)
        out.append(r)
    return out


def _senml(device: str, pack: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cur: dict[str, Any] | None = None
    for r in resolve_senml(pack):
        if "seq" in r:
            cur = {
                "device": device,
                "boot": r["boot"],
                "seq": r["seq"],
                "t": r["up"] if "up" in r else r["t"],
                "clock": "uptime" if "up" in r else "utc",
                "kind": r.get("kind"),
                "values": {},
            }
            out.append(cur)
        if cur is None:
            raise ValueError("SenML record before the first record envelope (seq)")
        if "n" not in r:
            continue
        name = r["n"].rpartition(":")[2]
        if "v" in r:
            cur["values"][name] = _round_senml(name, r["v"])
        elif "vs" in r:
            cur["values"][name] = r["vs"]
        else:
            cur["values"][name] = r["vb"]
        if cur["kind"] is None:
            cur["kind"] = records.kind_of(name)
    for rec in out:
        if rec["kind"] not in KINDS:
            raise ValueError(f"record {rec['seq']}: no kind")
    return out


# ---- JSON ------------------------------------------------------------------------------------


def _json(device: str, msg: Any) -> list[dict[str, Any]]:
    recs = msg if isinstance(msg, list) else [msg]
    for r in recs:
        if not isinstance(r, dict):
            raise ValueError("a JSON up message holds record objects")
        if r.get("device") != device:
            raise ValueError(f"record of device {r.get('device')!r} on the topic of {device}")
    return recs
