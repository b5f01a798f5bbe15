"""`mobiot monitor PORT`: a serial console that shows a board's frames decoded and its log lines.

Frames per docs/protocol.md (decoded by codec.classify_line, the collector's own classifier).
If a running collector holds the port, monitor borrows it for as long as it runs
(control.lease_port: the collector's other boards keep streaming) and the collector takes it
back afterwards. Monitor only listens: it sends nothing, so it acks nothing, and the board
keeps every record for the collector.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time

import click

from .codec import BadFrame, Frame, classify_line
from .control import holders, lease_port, open_serial

LINE_MAX = 4096


def format_frame(fr: Frame) -> str:
    """One readable line for a frame: the record's envelope and values, a hello, a reply."""
    p = fr.payload
    if fr.type == "R":
        items = (p.get("values") or {}).items()
        vals = " ".join(f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in items)
        return f"R {p.get('device')} boot {p.get('boot')} seq {p.get('seq')} {p.get('kind')}: {vals}"
    if fr.type == "H":
        return (
            f"H {p.get('device')} board {p.get('board')} fw {p.get('fw')} boot {p.get('boot')}"
            f" hold {str(p.get('hold')).lower()}"
        )
    rest = " ".join(f"{k}={v}" for k, v in p.items() if k not in ("cmd", "ok"))
    return f"K {p.get('cmd')} {'ok' if p.get('ok') else 'FAILED'} {rest}".rstrip()


def show_line(line: bytes, as_json: bool, out=None) -> None:
    """Print one line of the port's stream as monitor shows it."""
    out = out or sys.stdout
    got = classify_line(line)
    if isinstance(got, Frame):
        text = json.dumps({"type": got.type, "payload": got.payload}) if as_json else format_frame(got)
    elif isinstance(got, BadFrame):
        text = (
            json.dumps({"type": "bad", "reason": got.reason, "raw": got.raw.decode("ascii", "replace")})
            if as_json
            else f"! bad frame ({got.reason}): {got.raw.decode('ascii', 'replace')}"
        )
    else:
        s = line.decode("utf-8", "replace")
        text = json.dumps({"type": "log", "line": s}) if as_json else f"| {s}"
    out.write(text + "\n")
    out.flush()


@click.command()
@click.argument("port")
@click.option("--baud", default=115200, show_default=True, type=click.IntRange(300, 4_000_000))
@click.option("--duration", type=click.FloatRange(min=0), default=None, help="Stop after S seconds.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line (frames, bad frames, log lines).")
def monitor(port: str, baud: int, duration: float | None, as_json: bool) -> int:
    """Show what a board sends: frames decoded, log lines as they are. Borrows the port from a
    running collector and gives it back at the end. Ctrl-C stops."""
    stop = threading.Event()

    def on_signal(signum, frame):  # noqa: ARG001
        stop.set()

    old = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.signal(sig, on_signal)
    try:
        lent = holders(port)
        with lease_port(port, who=f"mobiot monitor (pid {os.getpid()})"):
            ser = open_serial(port, baud, timeout=0.1)
            src = f" (borrowed from mobiot collect pid {lent[0]['pid']})" if lent else ""
            click.echo(f"monitor: {port}{src}; Ctrl-C stops", err=True)
            deadline = None if duration is None else time.monotonic() + duration
            buf = b""
            try:
                while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
                    data = ser.read(ser.in_waiting or 1)
                    if not data:
                        continue
                    buf += data
                    *lines, buf = buf.split(b"\n")
                    for line in lines:
                        show_line(line.rstrip(b"\r"), as_json)
                    if len(buf) > LINE_MAX:
                        show_line(buf, as_json)
                        buf = b""
            finally:
                ser.close()
            if buf:
                show_line(buf.rstrip(b"\r"), as_json)
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)
    return 0
