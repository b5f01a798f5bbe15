"""`mobiot plot`: PNG charts per device from the collector database (matplotlib, Agg backend).

Two charts per device when it has the data: `<device>-sensors.png` (temp, hum, press, bat over
time) and `<device>-signal.png` (rsrp, rsrq, sinr over time). Times are the record's UTC time,
or the host's reception time for records stamped with board uptime (see export.Record.time).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import click

from mobiot_fw.records import base_name

from .errors import MobiotError
from .export import iter_records, parse_since, unit_of
from .store import open_readonly

CHARTS = {
    "sensors": ("temp", "hum", "press", "bat"),
    "signal": ("rsrp", "rsrq", "sinr"),
}
_TITLES = {
    "temp": "temperature", "hum": "relative humidity", "press": "pressure", "bat": "battery",
    "rsrp": "RSRP", "rsrq": "RSRQ", "sinr": "SINR",
}  # fmt: skip


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "device"


def collect_series(db_path: str | Path, device: str | None = None, since: float | None = None):
    """{device: {base name: {value name: ([datetime], [float])}}} of the values CHARTS plots.

    Prefixed names of several sensor instances (`sht_temp`, `bme_temp`, docs/records.md
    "Prefixes") share their base name's axes, one line each.
    """
    wanted = {n for names in CHARTS.values() for n in names}
    out: dict[str, dict[str, dict[str, tuple[list, list]]]] = {}
    bases: dict[str, str | None] = {}
    db = open_readonly(db_path)
    try:
        for r in iter_records(db, device, since):
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
                    when = datetime.fromtimestamp(r.time, tz=timezone.utc)
                xs, ys = out.setdefault(r.device, {}).setdefault(base, {}).setdefault(name, ([], []))
                xs.append(when)
                ys.append(float(v))
    finally:
        db.close()
    for per_base in out.values():
        for lines in per_base.values():
            for xs, ys in lines.values():
                # Records come in seq order; a board whose clock was set late is not in time order.
                if any(a > b for a, b in zip(xs, xs[1:], strict=False)):
                    pairs = sorted(zip(xs, ys, strict=True))
                    xs[:] = [p[0] for p in pairs]
                    ys[:] = [p[1] for p in pairs]
    return out


def plot_db(db_path: str | Path, out_dir: str | Path, device: str | None = None, since: float | None = None):
    """Write the PNG charts; returns the paths written."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.dates as mdates
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise MobiotError("mobiot plot needs matplotlib (pip install matplotlib==3.11.2)") from exc
    data = collect_series(db_path, device, since)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MobiotError(f"cannot create {out}: {exc.strerror}") from exc
    written = []
    for dev, series in sorted(data.items()):
        for chart, names in CHARTS.items():
            present = [n for n in names if n in series]
            if not present:
                continue
            fig, axes = plt.subplots(
                len(present), 1, sharex=True, squeeze=False, figsize=(10, 2.4 * len(present) + 0.8)
            )
            for ax, name in zip(axes[:, 0], present, strict=True):
                lines = series[name]
                for label, (xs, ys) in sorted(lines.items()):
                    ax.plot(xs, ys, marker="." if len(xs) < 200 else None, linewidth=1, label=label)
                if len(lines) > 1:
                    ax.legend(fontsize=8, loc="best")
                u = unit_of(name)
                ax.set_ylabel(f"{name} ({u})" if u else name)
                ax.set_title(_TITLES.get(name, name), fontsize=9, loc="left")
                ax.grid(True, alpha=0.3)
            last = axes[-1, 0]
            last.xaxis.set_major_formatter(mdates.ConciseDateFormatter(last.xaxis.get_major_locator()))
            last.set_xlabel("time (UTC)")
            fig.suptitle(f"{dev}: {chart}")
            fig.tight_layout()
            path = out / f"{_safe(dev)}-{chart}.png"
            fig.savefig(path, dpi=100)
            plt.close(fig)
            written.append(path)
    return written


@click.command()
@click.option("--db", "db_path", default="collect.sqlite", show_default=True, help="Collector database.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Directory for the PNGs.")
@click.option("--device", default=None, help="Only this device id.")
@click.option("--since", default=None, help="Only records at or after T (ISO 8601 or Unix seconds).")
def plot(db_path: str, out_dir: str, device: str | None, since: str | None) -> int:
    """Plot sensor values and signal quality per device to PNG files."""
    written = plot_db(db_path, out_dir, device, parse_since(since))
    if not written:
        raise MobiotError(f"nothing to plot in {db_path}" + (f" for device {device}" if device else ""))
    for p in written:
        click.echo(str(p))
    return 0
