"""`mobiot demo` (`make demo`): four virtual boards with different cellular scenarios,
collected into SQLite with the live dashboard, then plotted (with a coverage map of the moving
board) and exported (JSON Lines, and the drive's track as GeoJSON).

Scenarios (docs/scenarios/): a strong LTE-M signal (Quectel BG95), a weak roaming NB-IoT link
(SIMCom SIM7080G), a SIM7000G whose network drops out and whose modem hangs, and a vehicle on
a drive test (SIMCom A7670, LTE Cat-1) along a route through Munich with two outages.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import click

from . import procs
from .demo_uplink import start_cellular_board
from .errors import MobiotError
from .upy import data_dir

SCENARIOS = ["strong-ltem.json", "weak-nbiot-roaming.json", "outages.json", "drive-test.json"]


@click.command()
@click.option("--duration", type=float, default=None,
              help="Seconds to collect (default: until Ctrl-C on a terminal, 60 s otherwise).")
@click.option("--out", "out_dir", default="demo-out", show_default=True, type=click.Path(file_okay=False),
              help="Where the boards' flash, the database, the export and the plots go (made afresh).")
@click.option("--no-dashboard", is_flag=True, help="No live table (for logs).")
def demo(duration: float | None, out_dir: str, no_dashboard: bool) -> int:
    """Virtual boards streaming into the collector, with the live dashboard."""
    out = Path(out_dir).resolve()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    if duration is None and not sys.stdin.isatty():
        duration = 60.0
    py = sys.executable
    scen = [str(data_dir("scenarios") / s) for s in SCENARIOS]
    cmd = [py, "-m", "mobiot", "vboard", "--count", str(len(SCENARIOS)), "--state-dir", str(out / "boards")]
    for s in scen:
        cmd += ["--scenario", s]
    log = open(out / "vboard.log", "wb")
    # The boards run in their own process group: Ctrl-C stops the collector first, and the
    # boards only once everything is committed.
    vb = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, start_new_session=True,
                          preexec_fn=procs.die_with_parent())  # a killed demo takes them along
    ports = []
    cell = None
    try:
        assert vb.stdout is not None
        for _ in SCENARIOS:
            parts = vb.stdout.readline().decode().split()
            if len(parts) != 2:
                raise MobiotError(f"virtual boards did not start; see {out / 'vboard.log'}")
            ports.append(parts[0])
            click.echo(f"board {parts[1]} on {parts[0]}", err=True)
        db = out / "collect.sqlite"
        ccmd = [py, "-m", "mobiot", "collect", "--db", str(db)]
        cell = start_cellular_board(out)  # one more board, over MQTT only (demo_uplink.py)
        if cell is not None:
            ccmd += ["--mqtt", cell.url]
        for p in ports:
            ccmd += ["--port", p]
        if duration:
            ccmd += ["--duration", str(duration)]
        if no_dashboard:
            ccmd.append("--no-dashboard")
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)  # the collector handles Ctrl-C
        try:
            rc = subprocess.call(ccmd)
        finally:
            signal.signal(signal.SIGINT, old)
        if rc not in (0, 130):
            raise MobiotError(f"collector exited with {rc}")
    finally:
        if cell is not None:
            cell.stop()
        procs.stop(vb)
        log.close()
    plots = out / "plots"
    subprocess.call([py, "-m", "mobiot", "plot", "--db", str(db), "--out", str(plots)])
    subprocess.call([py, "-m", "mobiot", "export", "--db", str(db), "--format", "jsonl", "--out",
                     str(out / "records.jsonl")])
    subprocess.call([py, "-m", "mobiot", "export", "--db", str(db), "--format", "geojson", "--out",
                     str(out / "track.geojson")])
    click.echo(f"\ndatabase: {db}\nplots:    {plots}/ (coverage map: *-coverage.png)\n"
               f"export:   {out / 'records.jsonl'}, {out / 'track.geojson'} (QGIS, geojson.io)\n"
               f"boards:   {out / 'boards'} (flash images; run `mobiot vboard --state-dir ...` to boot them again)")
    return 0
