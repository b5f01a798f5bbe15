"""`mobiot export`: collected records as CSV, JSON Lines, SenML (RFC 8428) JSON, or the GNSS track
with its coverage as GeoJSON (RFC 7946, geo.py) for QGIS or Google Earth.

Reads the collector database (docs/collector.md). Units come from the record contract
(docs/records.md, `mobiot_fw.records.unit_of`).
"""

from __future__ import annotations

import csv
import json
import math
import re
import sqlite3
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, NamedTuple

import click

from mobiot_fw.records import unit_of as _fw_unit_of

from .errors import MobiotError
from .geo import write_geojson
from .store import open_readonly


def unit_of(name: str) -> str | None:
    """SenML unit of a record value name (docs/records.md), None when it has none or is unknown."""
    return _fw_unit_of(name) or None


class Record(NamedTuple):
    device: str
    boot: int
    seq: int
    t: float
    clock: str
    kind: str
    values: dict
    received_at: float

    @property
    def time(self) -> float:
        """Best absolute time, Unix seconds: `t` on a UTC clock, else when the host got it."""
        return self.t if self.clock == "utc" else self.received_at


def parse_since(text: str | None) -> float | None:
    """ISO 8601 (naive means UTC) or Unix seconds -> Unix seconds."""
    if text is None:
        return None
    try:
        v = float(text)
    except ValueError:
        pass
    else:
        if math.isfinite(v):
            return v
        raise MobiotError(f"--since {text!r}: not a time")
    s = text.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(s)
    except ValueError as exc:
        raise MobiotError(f"--since {text!r}: not ISO 8601 nor Unix seconds") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def iter_records(
    db: sqlite3.Connection,
    device: str | None = None,
    since: float | None = None,
    kinds: tuple[str, ...] | None = None,
) -> Iterator[Record]:
    """Records ordered by device then seq, filtered by device, time (Record.time) and kind."""
    where, args = [], []
    if device is not None:
        where.append("device = ?")
        args.append(device)
    if since is not None:
        where.append("(CASE WHEN clock = 'utc' THEN t ELSE received_at END) >= ?")
        args.append(since)
    if kinds:
        where.append(f"kind IN ({','.join('?' * len(kinds))})")
        args.extend(kinds)
    sql = "SELECT device, boot, seq, t, clock, kind, vals, received_at FROM records"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY device, seq"
    loads = json.loads
    for dev, boot, seq, t, clock, kind, vals, rat in db.execute(sql, args):
        if t == int(t):
            t = int(t)
        yield Record(dev, boot, seq, t, clock, kind, loads(vals), rat)


# ---- formats ----------------------------------------------------------------------------------


def write_jsonl(records: Iterator[Record], out: IO[str]) -> int:
    n = 0
    for r in records:
        obj = {
            "device": r.device, "boot": r.boot, "seq": r.seq, "t": r.t, "clock": r.clock,
            "kind": r.kind, "values": r.values,
        }  # fmt: skip
        out.write(json.dumps(obj, separators=(",", ":")) + "\n")
        n += 1
    return n


CSV_COLUMNS = ("device", "boot", "seq", "t", "kind", "name", "value", "unit", "clock")


def _csv_value(v) -> str:
    if v is None:  # measured but unavailable
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v) if isinstance(v, str) else json.dumps(v)


def write_csv(records: Iterator[Record], out: IO[str]) -> int:
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    n = 0
    for r in records:
        for name, v in r.values.items():
            w.writerow((r.device, r.boot, r.seq, r.t, r.kind, name, _csv_value(v), unit_of(name) or "", r.clock))
        n += 1
    return n


# RFC 8428 section 4.5.1: a resolved name uses only A-Z a-z 0-9 - : . / _ and starts with a
# letter or digit.
_SENML_BAD = re.compile(r"[^A-Za-z0-9\-:./_]")
# IMEI: 15 decimal digits, TAC (8) + serial number SNR (6) + check digit (1)
# (3GPP TS 23.003 section 6.2.1).
_IMEI = re.compile(r"([0-9]{8})([0-9]{6})([0-9])")


def imei_urn(imei: str) -> str | None:
    """The IMEI URN of RFC 7254 section 4 (`urn:gsma:imei:` tac "-" snr "-" check digit), e.g.
    `urn:gsma:imei:35693803-104729-5`; None when `imei` is not 15 digits. The one host helper
    for it: SenML export here, and the firmware's SenML-CBOR uplink writes the same form."""
    m = _IMEI.fullmatch(imei)
    if m is None:
        return None
    return "urn:gsma:imei:{}-{}-{}".format(*m.groups())


def senml_base_name(device: str) -> str:
    """SenML `bn` of a device: its IMEI URN (RFC 7254) for a 15-digit IMEI, else its id; with a
    trailing ":" so that `bn` + `n` reads `<urn>:temp` (RFC 8428 section 4.5.1)."""
    urn = imei_urn(device)
    if urn is not None:
        return urn + ":"
    name = _SENML_BAD.sub("_", device)
    if not name[:1].isalnum():
        name = "d" + name
    return name + ":"


def senml_pack(records: Iterable[Record]) -> Iterator[dict]:
    """SenML records: per record, a base time (bt) and one entry per value; bn when it changes.

    Base fields carry over to the following entries (RFC 8428 section 4.1), so bn is written
    only when the device changes and bt once per collected record. Times are absolute Unix
    seconds (>= 2**28, section 4.5.3); a record stamped with board uptime gets the host's
    reception time instead, since an uptime would read as a time relative to now.
    """
    last_bn = None
    for r in records:
        bn = senml_base_name(r.device)
        first = True
        for name, v in r.values.items():
            if v is None:  # measured but unavailable: SenML has no null value, so no entry
                continue
            e: dict = {}
            if first:
                if bn != last_bn:
                    e["bn"] = bn
                    last_bn = bn
                e["bt"] = r.time
                first = False
            e["n"] = _SENML_BAD.sub("_", name)
            u = unit_of(name)
            if u:
                e["u"] = u
            if isinstance(v, bool):
                e["vb"] = v
            elif isinstance(v, str):
                e["vs"] = v
            else:
                e["v"] = v
            yield e


def write_senml(records: Iterator[Record], out: IO[str]) -> int:
    out.write("[")
    sep = "\n"
    counted = _counting(records)
    for e in senml_pack(counted):
        out.write(sep + json.dumps(e, separators=(",", ":")))
        sep = ",\n"
    out.write("\n]\n")
    return counted.n


class _counting:
    def __init__(self, it: Iterator[Record]) -> None:
        self.it = it
        self.n = 0

    def __iter__(self):
        for r in self.it:
            self.n += 1
            yield r


WRITERS = {"csv": write_csv, "jsonl": write_jsonl, "senml": write_senml, "geojson": write_geojson}


def export_db(
    db_path: str | Path, fmt: str, out: IO[str], device: str | None = None, since: float | None = None
) -> int:
    """Write the records of `db_path` to `out` in `fmt`; returns how many records."""
    db = open_readonly(db_path)
    try:
        return WRITERS[fmt](iter_records(db, device, since), out)
    finally:
        db.close()


def check_selection(db: sqlite3.Connection, db_path: str | Path, device: str | None, since: float | None) -> int:
    """How many records a device / --since selection matches; MobiotError saying which part of
    it matched nothing (and what there is instead) when none."""
    devices = [d for (d,) in db.execute("SELECT DISTINCT device FROM records ORDER BY device")]
    if not devices:
        raise MobiotError(f"no records in {db_path}")
    if device is not None and device not in devices:
        shown = ", ".join(devices[:10]) + (f" and {len(devices) - 10} more" if len(devices) > 10 else "")
        raise MobiotError(f"no records for device {device} in {db_path} (devices there: {shown})")
    n = sum(1 for _ in iter_records(db, device, since)) if since is not None else -1
    if n == 0:
        args: list = [device] if device is not None else []
        newest = db.execute(
            "SELECT max(CASE WHEN clock = 'utc' THEN t ELSE received_at END) FROM records"
            + (" WHERE device = ?" if device is not None else ""),
            args,
        ).fetchone()[0]
        raise MobiotError(
            f"no records at or after {_iso(since)}"
            + (f" for device {device}" if device is not None else "")
            + f" in {db_path} (newest: {_iso(newest)})"
        )
    return n


def _iso(t: float | None) -> str:
    if t is None:
        return "-"
    return datetime.fromtimestamp(t, tz=timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


@click.command()
@click.option("--db", "db_path", default="collect.sqlite", show_default=True, help="Collector database.")
@click.option("--format", "fmt", type=click.Choice(sorted(WRITERS)), default="csv", show_default=True)
@click.option("--device", default=None, help="Only this device id.")
@click.option("--since", default=None, help="Only records at or after T (ISO 8601 or Unix seconds).")
@click.option("--out", "out_path", default=None, type=click.Path(dir_okay=False), help="File (default stdout).")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
def export(
    db_path: str, fmt: str, device: str | None, since: str | None, out_path: str | None, force: bool
) -> int:
    """Export collected records as CSV (one row per value), JSON Lines, SenML JSON, or the GNSS
    track with its coverage as GeoJSON."""
    t_since = parse_since(since)
    db = open_readonly(db_path)  # fail on the database before creating the output file
    try:
        check_selection(db, db_path, device, t_since)
    finally:
        db.close()
    if out_path is None:
        export_db(db_path, fmt, sys.stdout, device, t_since)
        return 0
    if Path(out_path).exists() and not force:
        raise MobiotError(f"{out_path} exists: give --force to overwrite it")
    try:
        f = open(out_path, "w", encoding="utf-8", newline="")
    except OSError as exc:
        raise MobiotError(f"cannot write {out_path}: {exc.strerror}") from exc
    with f:
        n = export_db(db_path, fmt, f, device, t_since)
    click.echo(f"exported {n} records to {out_path}", err=True)
    return 0
