"""What `mobiot collect` shows about each board: the live table (rich, on a terminal) and, without
a terminal, one status line per board every STATUS_EVERY_S seconds on stderr.

`DeviceView.update()` folds each committed record into the board's state (registration, signal,
queue, events of the last EVENT_WINDOW_S); `render()` and `status_lines()` only format that
state, so a test can feed records and check the rows. Record names: docs/records.md.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table

from .store import transport_of

if TYPE_CHECKING:
    from .collect import Collector

RATE_WINDOW_S = 5.0
EVENT_WINDOW_S = 600.0  # "errors and events in the last 10 minutes"
STATUS_EVERY_S = 10.0
LOG_PANE_LINES = 8

REGISTERED = ("home", "roaming")
# Events that are a firmware error or a notable change, as counted in the "events" column.
ERROR_EVENTS = ("modem_error", "sensor_error", "queue_drop", "queue_corrupt", "config_fallback", "crash", "safe_mode")


def reg_label(reg: str | None, no_sim: bool) -> str:
    """The registration column: home, roaming, searching, denied, no SIM, not registered."""
    if no_sim and reg not in REGISTERED:
        return "no SIM"
    if reg is None:
        return "-"
    return {"not_registered": "not registered"}.get(reg, reg)


@dataclass
class DeviceView:
    """One board as the dashboard shows it, built from its committed records and hello frames."""

    port: str = ""
    board: str = ""
    fw: str = ""
    model: str = ""
    last_seen: float = 0.0
    received: int = 0
    reg: str | None = None
    no_sim: bool = False
    rat: str | None = None
    oper: str | None = None
    rsrp: float | None = None
    rsrq: float | None = None
    sinr: float | None = None
    last_good_signal: float = 0.0  # host time of the last signal reading while registered
    qdepth: int | None = None
    qdrops: int | None = None
    qerr: int | None = None
    latest: dict = field(default_factory=dict)
    arrivals: deque = field(default_factory=lambda: deque(maxlen=4096))
    events: deque = field(default_factory=lambda: deque(maxlen=2048))  # (host t, name, detail)
    _counters: deque = field(default_factory=lambda: deque(maxlen=256))  # (host t, boot, qdrops, qerr)

    def rate(self, now: float) -> float:
        a = self.arrivals
        while a and now - a[0][0] > RATE_WINDOW_S:
            a.popleft()
        return sum(n for _, n in a) / RATE_WINDOW_S

    @property
    def registered(self) -> bool:
        return self.reg in REGISTERED

    def update(self, p: dict, now: float) -> tuple[str, str] | None:
        """Fold one record payload in; returns (event name, detail) when it is an event."""
        vals = p.get("values") or {}
        kind = p.get("kind")
        self.last_seen = now
        self.received += 1
        self.latest.update(vals)
        if kind == "connectivity":
            if "model" in vals and isinstance(vals["model"], str):
                self.model = vals["model"]
            if "reg" in vals:
                self.reg = vals["reg"]
                if self.registered:
                    self.no_sim = False
            if "rat" in vals:
                self.rat = vals["rat"]
            if "oper" in vals:
                self.oper = vals["oper"]
            if any(k in vals for k in ("rsrp", "rsrq", "sinr")):
                self.rsrp, self.rsrq, self.sinr = vals.get("rsrp"), vals.get("rsrq"), vals.get("sinr")
                if (self.registered or self.reg is None) and self.rsrp is not None:
                    self.last_good_signal = now
        elif kind == "status":
            for k in ("qdepth", "qdrops", "qerr"):
                if k in vals:
                    setattr(self, k, vals[k])
            if "fw" in vals and isinstance(vals["fw"], str):
                self.fw = vals["fw"]
            self._counters.append((now, p.get("boot"), vals.get("qdrops") or 0, vals.get("qerr") or 0))
        elif kind == "event":
            name = str(vals.get("event", "?"))
            detail = " ".join(f"{k}={v}" for k, v in vals.items() if k != "event")
            self.events.append((now, name, detail))
            if name == "reg_change" and "new" in vals:
                self.reg = vals["new"]
                if self.registered:
                    self.no_sim = False
            elif name == "modem_error" and vals.get("err") == "sim_missing":
                self.no_sim = True
            elif name == "boot" and isinstance(vals.get("fw"), str):
                self.fw = vals["fw"]
            return name, detail
        return None

    def recent_events(self, now: float) -> dict[str, int]:
        """Count per event name in the last EVENT_WINDOW_S, plus `qerr`/`qdrops` increments of
        the status counters (which count since boot) over the same window."""
        out: dict[str, int] = {}
        for t, name, _ in self.events:
            if now - t <= EVENT_WINDOW_S:
                out[name] = out.get(name, 0) + 1
        window = [c for c in self._counters if now - c[0] <= EVENT_WINDOW_S]
        if window:
            # Counters restart at a boot: add up increases within each boot.
            for i, key in ((2, "qdrops"), (3, "qerr")):
                inc = 0
                prev = None
                for c in window:
                    if prev is not None and c[1] == prev[1] and c[i] > prev[i]:
                        inc += c[i] - prev[i]
                    elif prev is not None and c[1] != prev[1]:
                        inc += c[i]
                    prev = c
                if inc:
                    out[key] = out.get(key, 0) + inc
        return out


def _num(v, fmt: str = "{:.0f}") -> str:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return "-" if v is None else str(v)
    return fmt.format(v)


def _ago(now: float, t: float) -> str:
    if not t:
        return "never"
    d = max(0.0, now - t)
    if d < 120:
        return f"{d:.0f} s ago"
    if d < 7200:
        return f"{d / 60:.0f} min ago"
    return f"{d / 3600:.1f} h ago"


def _events_text(counts: dict[str, int]) -> str:
    if not counts:
        return "-"
    errs = sorted((k for k in counts if k in ERROR_EVENTS or k in ("qerr", "qdrops")), key=lambda k: -counts[k])
    rest = sorted((k for k in counts if k not in errs), key=lambda k: -counts[k])
    return ", ".join(f"{k} {counts[k]}" for k in errs + rest)


def device_row(dev: str, v: DeviceView, now: float) -> dict[str, str]:
    """The dashboard's cells for one board (the test reads these, the table shows them)."""
    # Blank while known not to be registered; a board that never said shows what it sends.
    up = v.registered or v.reg is None
    return {
        "device": dev,
        "board": v.board or "-",
        "fw": v.fw or "-",
        "modem": v.model or "-",
        "port": v.port,
        "via": transport_of(v.port) if v.port else "-",  # serial, or mqtt (port is then the broker)
        "reg": reg_label(v.reg, v.no_sim),
        "rat": (v.rat or "-") if up else "",
        "oper": (v.oper or "-") if up else "",
        "rsrp": _num(v.rsrp) if up else "",
        "rsrq": _num(v.rsrq) if up else "",
        "sinr": _num(v.sinr) if up else "",
        "good signal": "now" if up and v.rsrp is not None else _ago(now, v.last_good_signal),
        "queue": _num(v.qdepth),
        "drops": _num(v.qdrops),
        "rec/s": f"{v.rate(now):.1f}",
        "last seen": _ago(now, v.last_seen),
        "events 10 min": _events_text(v.recent_events(now)),
    }


COLUMNS = ("device", "via", "board", "fw", "modem", "reg", "rat", "oper", "rsrp", "rsrq", "sinr", "good signal",
           "queue", "drops", "rec/s", "last seen", "events 10 min")  # fmt: skip
_RIGHT = {"rsrp", "rsrq", "sinr", "queue", "drops", "rec/s"}


def snapshot(col: Collector) -> list[dict[str, str]]:
    now = time.time()
    with col.view_lock:
        return [device_row(dev, v, now) for dev, v in sorted(col.devices.items())]


def render(col: Collector) -> Group:
    now = time.time()
    dev_table = Table(title=f"mobiot collect -> {col.db_path}", expand=False)
    for h in COLUMNS:
        dev_table.add_column(h, justify="right" if h in _RIGHT else "left", overflow="fold")
    for row in snapshot(col):
        dev_table.add_row(*(row[h] for h in COLUMNS))
    port_table = Table(title="ports", expand=False)
    for h in ("port", "state", "device", "opens", "bytes", "bad frames", "log lines", "last error"):
        port_table.add_column(h)
    for url, p in sorted(col.ports.items()):
        port_table.add_row(
            url, p.describe(), p.device or "-", str(p.opens), str(p.bytes), str(p.bad_frames), str(p.log_lines),
            p.last_error[:60],
        )  # fmt: skip
    log = Table(title="latest events", expand=False, show_header=False)
    log.add_column("time")
    log.add_column("what")
    with col.view_lock:
        pane = list(col.log_pane)[-LOG_PANE_LINES:]
    for t, msg in pane:
        log.add_row(datetime.fromtimestamp(t).strftime("%H:%M:%S"), msg)
    t = col.totals
    footer = (
        f"{t['inserted']} new records, {t['duplicates']} resends, {t['quarantined']} quarantined"
        f" - running {now - col.started:.0f} s - Ctrl-C stops"
    )
    return Group(dev_table, port_table, log, footer)


def status_lines(col: Collector) -> list[str]:
    """One line per board (and per port that has no board yet) for a log without a terminal."""
    lines = []
    seen_ports = set()
    for r in snapshot(col):
        seen_ports.add(r["port"])
        if r["rsrp"] and r["rsrp"] != "-":
            sig = f"rsrp {r['rsrp']} rsrq {r['rsrq']} sinr {r['sinr']}"
        elif r["rsrp"]:
            sig = "no signal reading yet"
        else:
            sig = f"no signal (last good {r['good signal']})"
        port = col.ports.get(r["port"])
        state = f" [{port.describe()}]" if port is not None and port.describe() != "open" else ""
        lines.append(
            f"{r['device']} {r['board']} fw {r['fw']} {r['modem']} on {r['port']}{state}: {r['reg']}"
            + (f" {r['rat']} {r['oper']}" if r["rat"] else "")
            + f", {sig}, queue {r['queue']} drops {r['drops']}, {r['rec/s']} rec/s,"
            + f" last seen {r['last seen']}, events (10 min): {r['events 10 min']}"
        )
    for url, p in sorted(col.ports.items()):
        if url not in seen_ports:
            lines.append(f"{url}: {p.describe()}" + (f" ({p.last_error})" if p.last_error else ""))
    return lines
