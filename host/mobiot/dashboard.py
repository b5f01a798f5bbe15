"""The live table of `mobiot collect` (rich), rebuilt from a snapshot at most DASHBOARD_HZ."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table

from .store import transport_of

if TYPE_CHECKING:
    from .collect import Collector

# Value columns: (header, record value name, format). Names per docs/records.md.
COLUMNS = (
    ("temp °C", "temp", "{:.1f}"),
    ("hum %", "hum", "{:.0f}"),
    ("press hPa", "press", None),
    ("bat V", "bat", "{:.2f}"),
    ("rat", "rat", None),
    ("oper", "oper", None),
    ("rsrp dBm", "rsrp", "{:.0f}"),
    ("queue", "qdepth", "{:.0f}"),
)


def _fmt(name: str, v, fmt: str | None) -> str:
    if v is None:
        return "-"
    if name == "press" and isinstance(v, (int, float)) and not isinstance(v, bool):
        # Records carry pressure in Pa (SenML unit Pa); hPa reads better on a screen.
        return f"{v / 100:.1f}"
    if fmt and isinstance(v, (int, float)) and not isinstance(v, bool):
        return fmt.format(v)
    return str(v)


def _ago(now: float, t: float) -> str:
    if not t:
        return "-"
    d = now - t
    return f"{d:.0f} s ago" if d < 120 else f"{d / 60:.0f} min ago"


def render(col: Collector) -> Group:
    now = time.time()
    dev_table = Table(title=f"mobiot collect -> {col.db_path}", expand=False)
    for h in ("device", "via", "port", "last seen", *(c[0] for c in COLUMNS), "rec/s", "errors"):
        dev_table.add_column(h, justify="right" if h not in ("device", "via", "port", "rat", "oper") else "left")
    with col.view_lock:
        snapshot = [(dev, v.port, v.last_seen, dict(v.latest), v.rate(now)) for dev, v in col.devices.items()]
    for dev, port_url, last, latest, rate in sorted(snapshot):
        port = col.ports.get(port_url)
        errors = port.bad_frames if port is not None else 0
        dev_table.add_row(
            dev,
            transport_of(port_url),  # serial or mqtt (the port column is then the broker)
            port_url,
            _ago(now, last),
            *(_fmt(name, latest.get(name), fmt) for _, name, fmt in COLUMNS),
            f"{rate:.1f}",
            str(errors),
        )
    port_table = Table(title="ports", expand=False)
    for h in ("port", "state", "board", "opens", "bytes", "bad frames", "log lines", "last error"):
        port_table.add_column(h)
    for url, p in sorted(col.ports.items()):
        port_table.add_row(
            url,
            p.state,
            p.device or "-",
            str(p.opens),
            str(p.bytes),
            str(p.bad_frames),
            str(p.log_lines),
            p.last_error[:40],
        )
    t = col.totals
    footer = (
        f"{t['inserted']} new records, {t['duplicates']} resends, {t['quarantined']} quarantined"
        f" - running {now - col.started:.0f} s - Ctrl-C stops"
    )
    return Group(dev_table, port_table, footer)
