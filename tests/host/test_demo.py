"""`make demo` stays true: four virtual boards with their scenarios into the collector, one of
them driving a route, then plots (with its coverage map) and exports.

The demo runs until it is stopped (Ctrl-C, as a user stops it); the test stops it once what it
checks is in the database (every board's modem, every board's position, the driving board
moved), so that a slow machine makes the run longer, never its result different."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

from vbhelp import ROOT, WAIT_S

MODELS = {"BG95", "SIM7080G", "SIM7000G", "A7670"}  # the demo's four scenarios (host/mobiot/demo.py)


def _so_far(db) -> tuple[set[str], dict[str, set[tuple[float, float]]]]:
    """(modem models seen in connectivity records, device -> positions) committed so far."""
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=WAIT_S)
    except sqlite3.OperationalError:
        return set(), {}
    try:
        rows = con.execute("SELECT device, kind, vals FROM records").fetchall()
    except sqlite3.OperationalError:
        return set(), {}
    finally:
        con.close()
    models, pos = set(), {}
    for dev, kind, vals in rows:
        v = json.loads(vals)
        if kind == "connectivity" and "model" in v:
            models.add(v["model"])
        if "lat" in v and "lon" in v:
            pos.setdefault(dev, set()).add((v["lat"], v["lon"]))
    return models, pos


def _spread(pts) -> float:
    return max(p[0] for p in pts) - min(p[0] for p in pts) + max(p[1] for p in pts) - min(p[1] for p in pts)


def _boards() -> int:
    # the four serial boards, and the cellular one where Mosquitto is there (demo_uplink.py;
    # tests/host/test_mqtt_demo.py checks that one)
    from mobiot import demo_uplink

    return 4 + (demo_uplink.not_ready() is None)


def _enough(db) -> bool:
    models, pos = _so_far(db)
    return models == MODELS and len(pos) == _boards() and any(_spread(p) > 1e-5 for p in pos.values())


def test_demo_collects_four_boards_plots_a_route_and_exports(tmp_path):
    out = tmp_path / "demo"
    db = out / "collect.sqlite"
    proc = subprocess.Popen([sys.executable, "-m", "mobiot", "demo", "--duration", "3600", "--no-dashboard",
                             "--out", str(out)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + WAIT_S * 2
        while not _enough(db):
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.monotonic() < deadline, f"so far: {_so_far(db)}"
            time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the collector stops, the demo plots and exports
        stdout, stderr = proc.communicate(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, stderr[-3000:]
    assert str(db) in stdout
    con = sqlite3.connect(db)
    devices = {d for (d,) in con.execute("SELECT DISTINCT device FROM records")}
    assert len(devices) == _boards()
    models = set()
    for line in (out / "records.jsonl").read_text().splitlines():
        r = json.loads(line)
        if r["kind"] == "connectivity" and "model" in r["values"]:
            models.add(r["values"]["model"])
    assert models == MODELS, models
    pngs = list((out / "plots").glob("*.png"))
    assert len(pngs) >= 4 and all(p.stat().st_size > 1000 for p in pngs)
    # The moving board has a coverage map, and its track follows the scenario's route.
    route = json.loads((ROOT / "docs" / "scenarios" / "drive-test.json").read_text())["gnss"]["route"]
    assert len(list((out / "plots").glob("*-coverage.png"))) == 1
    track = json.loads((out / "track.geojson").read_text())
    by_dev: dict[str, list] = {}
    for f in track["features"]:
        if f["geometry"]["type"] == "Point":
            lon, lat = f["geometry"]["coordinates"]
            by_dev.setdefault(f["properties"]["device"], []).append((lat, lon))
    assert len(by_dev) == _boards()
    moving = {d: pts for d, pts in by_dev.items() if _spread(pts) > 1e-5}  # the others stand still
    assert len(moving) == 1, {d: pts[:3] for d, pts in by_dev.items()}
    (dev, pts), = moving.items()
    assert (out / "plots" / f"{dev}-coverage.png").exists()
    lats, lons = [p[0] for p in route], [p[1] for p in route]
    for lat, lon in pts:
        assert min(lats) - 1e-4 <= lat <= max(lats) + 1e-4 and min(lons) - 1e-4 <= lon <= max(lons) + 1e-4
