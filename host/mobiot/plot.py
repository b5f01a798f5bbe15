"""`mobiot plot`: PNG charts per device from the collector database (matplotlib, Agg backend).

Per device that has the data:
- `<device>-sensors.png`: temp, hum, press (hPa), bat over time;
- `<device>-signal.png`: rsrp, rsrq, sinr, with the lines broken where registration was lost and
  the outages shaded, above a registration / RAT track with event markers (modem errors and
  recoveries, sensor errors, reboots);
- `<device>-coverage.png`: for a board that moved, its GNSS track coloured by RSRP, outage points
  marked, in degrees with the aspect of the ground (no basemap: works offline).
Titles name the board, modem and operator. Times are the record's UTC time, or the host's
reception time for records stamped with board uptime (export.Record.time).

The data behind each chart comes from plain functions (`signal_data`, `collect_series`,
geo.track_points) that tests check without looking at pixels.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from pathlib import Path

import click

from mobiot_fw.records import base_name

from .errors import MobiotError
from .export import iter_records, parse_since, unit_of
from .geo import REGISTERED, TrackPoint, track_points
from .store import open_readonly

CHARTS = {
    "sensors": ("temp", "hum", "press", "bat"),
    "signal": ("rsrp", "rsrq", "sinr"),
}
_TITLES = {
    "temp": "temperature", "hum": "relative humidity", "press": "pressure", "bat": "battery",
    "rsrp": "RSRP", "rsrq": "RSRQ", "sinr": "SINR",
}  # fmt: skip
# Shown in another unit than the record's (docs/records.md keeps Pa): name -> (factor, unit).
DISPLAY_UNITS = {"press": (0.01, "hPa")}
# Registration states top to bottom on the track (records.md `reg`).
REG_LEVELS = ("home", "roaming", "searching", "denied", "not_registered", "unknown")
# Event markers: event name -> (marker, colour, label).
EVENT_MARKS = {
    "modem_error": ("x", "tab:orange", "modem error"),
    "modem_recovered": ("^", "tab:green", "modem recovered"),
    "sensor_error": ("d", "tab:purple", "sensor error"),
    "boot": ("|", "black", "reboot"),
    "crash": ("X", "tab:red", "crash"),
    "safe_mode": ("s", "tab:red", "safe mode"),
}
MIN_MOVE_DEG = 1e-4  # ~10 m: a board that moved less has no coverage map


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "device"


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=timezone.utc)


def _records(db_path, device, since):
    db = open_readonly(db_path)
    try:
        yield from iter_records(db, device, since)
    finally:
        db.close()


def collect_series(db_path: str | Path, device: str | None = None, since: float | None = None):
    """{device: {base name: {value name: ([datetime], [float])}}} of the values CHARTS plots,
    in display units (pressure in hPa).

    Prefixed names of several sensor instances (`sht_temp`, `bme_temp`, docs/records.md
    "Prefixes") share their base name's axes, one line each.
    """
    wanted = {n for names in CHARTS.values() for n in names}
    out: dict[str, dict[str, dict[str, tuple[list, list]]]] = {}
    bases: dict[str, str | None] = {}
    for r in _records(db_path, device, since):
        when = None
        for name, v in r.values.items():
            if v is None or isinstance(v, (bool, str)):
                continue
            base = bases.get(name, "")
            if base == "":
                base = bases[name] = base_name(name)
            if base is None or base not in wanted:
                continue
            if when is None:
                when = _dt(r.time)
            xs, ys = out.setdefault(r.device, {}).setdefault(base, {}).setdefault(name, ([], []))
            xs.append(when)
            ys.append(float(v) * DISPLAY_UNITS.get(base, (1.0, ""))[0])
    for per_base in out.values():
        for lines in per_base.values():
            for xs, ys in lines.values():
                # Records come in seq order; a board whose clock was set late is not in time order.
                if any(a > b for a, b in zip(xs, xs[1:], strict=False)):
                    pairs = sorted(zip(xs, ys, strict=True))
                    xs[:] = [p[0] for p in pairs]
                    ys[:] = [p[1] for p in pairs]
    return out


def signal_data(db_path: str | Path, device: str | None = None, since: float | None = None) -> dict:
    """Per device: what the signal chart draws.

    {"rsrp"/"rsrq"/"sinr": ([datetime], [float, nan at each break]),
     "outages": [(start datetime, end datetime)], "reg": [(datetime, reg, rat)],
     "events": [(datetime, event name)], "model", "oper", "board": str | None}

    Registration comes from connectivity `reg` and `reg_change` events. A signal value reported
    while not registered is not drawn, and a NaN at the outage start breaks the line there, so
    no line is drawn across an outage. An outage runs from the first record that shows it to the
    first one registered again (or to the device's last record)."""
    per: dict[str, dict] = {}
    rows = sorted(_records(db_path, device, since), key=lambda r: (r.device, r.time, r.seq))
    for r in rows:
        d = per.get(r.device)
        if d is None:
            d = per[r.device] = {"rsrp": ([], []), "rsrq": ([], []), "sinr": ([], []), "outages": [], "reg": [],
                                 "events": [], "model": None, "oper": None, "board": None,
                                 "_reg": None, "_rat": None, "_out_start": None, "_last": None}  # fmt: skip
        when = _dt(r.time)
        d["_last"] = when
        v = r.values
        new_reg = None
        if r.kind == "connectivity":
            new_reg = v.get("reg")
            if isinstance(v.get("rat"), str):
                d["_rat"] = v["rat"]
            if isinstance(v.get("model"), str):
                d["model"] = v["model"]
            if isinstance(v.get("oper"), str):
                d["oper"] = v["oper"]
        elif r.kind == "event":
            name = v.get("event")
            if name == "reg_change":
                new_reg = v.get("new")
            if name in EVENT_MARKS:
                d["events"].append((when, name))
        if isinstance(new_reg, str) and new_reg != d["_reg"]:
            was_up = d["_reg"] in REGISTERED or d["_reg"] is None
            d["_reg"] = new_reg
            d["reg"].append((when, new_reg, d["_rat"]))
            up = new_reg in REGISTERED
            if was_up and not up:
                d["_out_start"] = when
                for k in ("rsrp", "rsrq", "sinr"):
                    xs, ys = d[k]
                    if xs:
                        xs.append(when)
                        ys.append(math.nan)
            elif up and d["_out_start"] is not None:
                d["outages"].append((d["_out_start"], when))
                d["_out_start"] = None
        # A board that never reported its registration: its signal is drawn as it comes.
        if r.kind == "connectivity" and (d["_reg"] in REGISTERED or d["_reg"] is None):
            for k in ("rsrp", "rsrq", "sinr"):
                val = v.get(k)
                if isinstance(val, (int, float)) and not isinstance(val, bool):
                    d[k][0].append(when)
                    d[k][1].append(float(val))
    for d in per.values():
        if d["_out_start"] is not None:
            d["outages"].append((d["_out_start"], d["_last"]))
        for k in [k for k in d if k.startswith("_")]:
            del d[k]
    return per


def _boards(db_path) -> dict[str, str]:
    db = open_readonly(db_path)
    try:
        return {dev: board for dev, board in db.execute("SELECT device, board FROM devices") if board}
    finally:
        db.close()


def _title(dev: str, board: str | None, model: str | None, oper: str | None, what: str) -> str:
    parts = [p for p in (board, model, oper) if p]
    return f"{dev}" + (f" ({', '.join(parts)})" if parts else "") + f": {what}"


def _mpl():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.dates as mdates
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise MobiotError("mobiot plot needs matplotlib (pip install matplotlib==3.11.2)") from exc
    return plt, mdates


def signal_figure(dev: str, d: dict, board: str | None = None):
    """The signal chart of one device (a matplotlib Figure): one axis per quantity with outages
    shaded, then the registration / RAT track with event markers."""
    plt, mdates = _mpl()
    present = [n for n in CHARTS["signal"] if d[n][0]]
    fig, axes = plt.subplots(len(present) + 1, 1, sharex=True, squeeze=False,
                             figsize=(10, 2.2 * len(present) + 2.4),
                             gridspec_kw={"height_ratios": [3] * len(present) + [2]})  # fmt: skip
    for ax, name in zip(axes[:-1, 0], present, strict=True):
        xs, ys = d[name]
        ax.plot(xs, ys, marker="." if len(xs) < 200 else None, linewidth=1, label=name)
        u = unit_of(name)
        ax.set_ylabel(f"{name} ({u})" if u else name)
        ax.set_title(_TITLES.get(name, name), fontsize=9, loc="left")
        ax.grid(True, alpha=0.3)
    track = axes[-1, 0]
    for ax in axes[:, 0]:
        for i, (a, b) in enumerate(d["outages"]):
            ax.axvspan(a, b, color="tab:red", alpha=0.15, linewidth=0, label="no service" if i == 0 else None)
    levels = {name: len(REG_LEVELS) - i for i, name in enumerate(REG_LEVELS)}
    if d["reg"]:
        end = max([d["reg"][-1][0]] + [b for _, b in d["outages"]] + [xs[-1] for xs, _ in
                  (d[n] for n in present) if xs])  # fmt: skip
        txs = [t for t, _, _ in d["reg"]] + [end]
        tys = [levels.get(reg, 0) for _, reg, _ in d["reg"]]
        track.step(txs, tys + tys[-1:], where="post", color="tab:blue", linewidth=1.5)
        last_rat = None
        for t, reg, rat in d["reg"]:
            if rat and rat != last_rat and reg in REGISTERED:
                track.annotate(rat, (t, levels[reg]), textcoords="offset points", xytext=(2, 4), fontsize=7)
                last_rat = rat
    seen = set()
    for t, name in d["events"]:
        marker, colour, label = EVENT_MARKS[name]
        track.plot([t], [0.5], linestyle="none", marker=marker, color=colour, markersize=8,
                   label=label if name not in seen else None)  # fmt: skip
        seen.add(name)
    track.set_yticks([levels[n] for n in REG_LEVELS] + [0.5], [n.replace("_", " ") for n in REG_LEVELS] + ["events"],
                     fontsize=7)  # fmt: skip
    track.set_ylim(0, len(REG_LEVELS) + 2.2)  # headroom for the legend above the states
    track.set_title("registration / RAT, events", fontsize=9, loc="left")
    track.grid(True, alpha=0.3)
    handles, labels = track.get_legend_handles_labels()
    if d["outages"] or seen:
        track.legend(handles, labels, fontsize=7, loc="upper right", ncol=4)
    track.xaxis.set_major_formatter(mdates.ConciseDateFormatter(track.xaxis.get_major_locator()))
    track.set_xlabel("time (UTC)")
    fig.suptitle(_title(dev, board, d["model"], d["oper"], "signal"))
    fig.tight_layout()
    return fig


def coverage_figure(dev: str, pts: list[TrackPoint], board: str | None = None, model: str | None = None):
    """The coverage map of one device: GNSS track coloured by RSRP, outage points marked, equal
    ground distances on both axes (x stretched by 1/cos(latitude))."""
    plt, _ = _mpl()
    fig, ax = plt.subplots(figsize=(8, 8))
    lons = [p.lon for p in pts]
    lats = [p.lat for p in pts]
    ax.plot(lons, lats, color="0.75", linewidth=1, zorder=1)
    good = [p for p in pts if p.rsrp is not None]
    if good:
        sc = ax.scatter([p.lon for p in good], [p.lat for p in good], c=[p.rsrp for p in good], cmap="viridis",
                        s=18, zorder=2, label="RSRP")  # fmt: skip
        fig.colorbar(sc, ax=ax, shrink=0.8, label="RSRP (dBm)")
    out = [p for p in pts if p.outage]
    if out:
        ax.scatter([p.lon for p in out], [p.lat for p in out], marker="x", color="tab:red", s=30, zorder=3,
                   label="no service")  # fmt: skip
    mid = (min(lats) + max(lats)) / 2
    # One degree of longitude is cos(latitude) times as long on the ground as one of latitude.
    ax.set_aspect(1 / math.cos(math.radians(mid)), adjustable="datalim")
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.grid(True, alpha=0.3)
    if out or good:
        ax.legend(fontsize=8, loc="best")
    oper = next((p.oper for p in reversed(pts) if p.oper), None)
    ax.set_title(_title(dev, board, model, oper, "coverage (GNSS track by RSRP)"), fontsize=10)
    fig.tight_layout()
    return fig


def plot_db(db_path: str | Path, out_dir: str | Path, device: str | None = None, since: float | None = None):
    """Write the PNG charts; returns the paths written."""
    plt, mdates = _mpl()
    data = collect_series(db_path, device, since)
    sig = signal_data(db_path, device, since)
    boards = _boards(db_path)
    tracks: dict[str, list[TrackPoint]] = {}
    for p in track_points(_records(db_path, device, since)):
        tracks.setdefault(p.device, []).append(p)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MobiotError(f"cannot create {out}: {exc.strerror}") from exc
    written = []
    for dev, series in sorted(data.items()):
        meta = sig.get(dev, {})
        present = [n for n in CHARTS["sensors"] if n in series]
        if present:
            fig, axes = plt.subplots(len(present), 1, sharex=True, squeeze=False,
                                     figsize=(10, 2.4 * len(present) + 0.8))  # fmt: skip
            for ax, name in zip(axes[:, 0], present, strict=True):
                lines = series[name]
                for label, (xs, ys) in sorted(lines.items()):
                    ax.plot(xs, ys, marker="." if len(xs) < 200 else None, linewidth=1, label=label)
                if len(lines) > 1:
                    ax.legend(fontsize=8, loc="best")
                u = DISPLAY_UNITS.get(name, (1.0, unit_of(name)))[1]
                ax.set_ylabel(f"{name} ({u})" if u else name)
                ax.yaxis.get_major_formatter().set_useOffset(False)  # type: ignore[attr-defined]
                ax.set_title(_TITLES.get(name, name), fontsize=9, loc="left")
                ax.grid(True, alpha=0.3)
            last = axes[-1, 0]
            last.xaxis.set_major_formatter(mdates.ConciseDateFormatter(last.xaxis.get_major_locator()))
            last.set_xlabel("time (UTC)")
            fig.suptitle(_title(dev, boards.get(dev), meta.get("model"), meta.get("oper"), "sensors"))
            fig.tight_layout()
            written.append(_save(fig, out / f"{_safe(dev)}-sensors.png", plt))
        if dev in sig and any(sig[dev][n][0] for n in CHARTS["signal"]):
            written.append(_save(signal_figure(dev, sig[dev], boards.get(dev)), out / f"{_safe(dev)}-signal.png", plt))
    for dev, pts in sorted(tracks.items()):
        lats = [p.lat for p in pts]
        lons = [p.lon for p in pts]
        if len(pts) >= 2 and max(max(lats) - min(lats), max(lons) - min(lons)) >= MIN_MOVE_DEG:
            fig = coverage_figure(dev, pts, boards.get(dev), sig.get(dev, {}).get("model"))
            written.append(_save(fig, out / f"{_safe(dev)}-coverage.png", plt))
    return written


def _save(fig, path: Path, plt) -> Path:
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


@click.command()
@click.option("--db", "db_path", default="collect.sqlite", show_default=True, help="Collector database.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Directory for the PNGs.")
@click.option("--device", default=None, help="Only this device id.")
@click.option("--since", default=None, help="Only records at or after T (ISO 8601 or Unix seconds).")
def plot(db_path: str, out_dir: str, device: str | None, since: str | None) -> int:
    """Plot sensors, signal (with outages and a registration track) and, for a board that moved,
    a coverage map, per device, to PNG files."""
    written = plot_db(db_path, out_dir, device, parse_since(since))
    if not written:
        raise MobiotError(f"nothing to plot in {db_path}" + (f" for device {device}" if device else ""))
    for p in written:
        click.echo(str(p))
    return 0
