"""Where a moving terminal was and what coverage it had there: the GNSS track joined with the
connectivity state, for the coverage map (plot.py) and the GeoJSON export (RFC 7946).

Input is the collector's records in device, seq order (export.iter_records). A reading with
`lat`/`lon` (docs/records.md) becomes a track point; it carries the registration, RAT, operator
and signal the board last reported, the signal only while registered and only if it is at most
SIGNAL_MAX_AGE_S old. Streaming: one pass, state per device, no table in memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import IO, NamedTuple

REGISTERED = ("home", "roaming")
SIGNAL_MAX_AGE_S = 120.0


class TrackPoint(NamedTuple):
    device: str
    time: float  # Unix seconds (export.Record.time)
    lat: float
    lon: float
    reg: str | None  # registration as last reported (records.md `reg`), None before any
    rat: str | None
    oper: str | None
    rsrp: float | None  # None while not registered or when no recent reading
    rsrq: float | None
    sinr: float | None

    @property
    def outage(self) -> bool:
        """Known to be without service here (searching, denied, not registered, no SIM)."""
        return self.reg is not None and self.reg not in REGISTERED


def track_points(records: Iterable) -> Iterator[TrackPoint]:
    """TrackPoints of every record with a position, in the order given."""
    state: dict[str, dict] = {}
    for r in records:
        s = state.get(r.device)
        if s is None:
            s = state[r.device] = {"reg": None, "rat": None, "oper": None, "sig": None, "sig_t": 0.0}
        v = r.values
        if r.kind == "connectivity":
            if "reg" in v:
                s["reg"] = v["reg"]
            for k in ("rat", "oper"):
                if k in v:
                    s[k] = v[k]
            if any(k in v for k in ("rsrp", "rsrq", "sinr")):
                s["sig"] = (v.get("rsrp"), v.get("rsrq"), v.get("sinr"))
                s["sig_t"] = r.time
        elif r.kind == "event" and v.get("event") == "reg_change" and "new" in v:
            s["reg"] = v["new"]
        lat, lon = v.get("lat"), v.get("lon")
        if not _is_num(lat) or not _is_num(lon):
            continue
        sig = (None, None, None)
        if s["reg"] in REGISTERED and s["sig"] is not None and r.time - s["sig_t"] <= SIGNAL_MAX_AGE_S:
            sig = s["sig"]
        yield TrackPoint(r.device, r.time, float(lat), float(lon), s["reg"], s["rat"], s["oper"], *sig)


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def write_geojson(records: Iterator, out: IO[str]) -> int:
    """RFC 7946 FeatureCollection: per device a LineString of its track, then one Point per
    position with its coverage (time ISO 8601 UTC, reg, rat, oper, rsrp/rsrq/sinr, outage).
    Coordinates are [lon, lat] (RFC 7946 section 3.1.1). Returns how many points."""
    from datetime import datetime, timezone

    by_dev: dict[str, list[TrackPoint]] = {}
    n = 0
    out.write('{"type":"FeatureCollection","features":[')
    sep = "\n"
    for p in track_points(records):
        by_dev.setdefault(p.device, []).append(p)
        props = {
            "device": p.device,
            "time": datetime.fromtimestamp(p.time, tz=timezone.utc).isoformat().replace("+00:00", "Z"),
            "reg": p.reg, "rat": p.rat, "oper": p.oper, "rsrp": p.rsrp, "rsrq": p.rsrq, "sinr": p.sinr,
            "outage": p.outage,
        }  # fmt: skip
        feat = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [p.lon, p.lat]}, "properties": props}
        out.write(sep + json.dumps(feat, separators=(",", ":")))
        sep = ",\n"
        n += 1
    for dev, pts in by_dev.items():
        if len(pts) < 2:
            continue
        line = {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[p.lon, p.lat] for p in pts]},
                "properties": {"device": dev, "points": len(pts)}}  # fmt: skip
        out.write(sep + json.dumps(line, separators=(",", ":")))
        sep = ",\n"
    out.write("\n]}\n")
    return n
