"""`make demo` stays true: four virtual boards with their scenarios into the collector, one of
them driving a route, then plots (with its coverage map) and exports."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

from vbhelp import ROOT


def test_demo_collects_four_boards_plots_a_route_and_exports(tmp_path):
    out = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-m", "mobiot", "demo", "--duration", "40", "--no-dashboard",
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    con = sqlite3.connect(out / "collect.sqlite")
    devices = {d for (d,) in con.execute("SELECT DISTINCT device FROM records")}
    assert len(devices) == 4
    models = set()
    for line in (out / "records.jsonl").read_text().splitlines():
        r = json.loads(line)
        if r["kind"] == "connectivity" and "model" in r["values"]:
            models.add(r["values"]["model"])
    assert models == {"BG95", "SIM7080G", "SIM7000G", "A7670"}, models
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
    assert len(by_dev) == 4

    def spread(pts):
        return max(p[0] for p in pts) - min(p[0] for p in pts) + max(p[1] for p in pts) - min(p[1] for p in pts)

    moving = {d: pts for d, pts in by_dev.items() if spread(pts) > 1e-5}  # the others stand still
    assert len(moving) == 1, {d: pts[:3] for d, pts in by_dev.items()}
    (dev, pts), = moving.items()
    assert (out / "plots" / f"{dev}-coverage.png").exists()
    lats, lons = [p[0] for p in route], [p[1] for p in route]
    for lat, lon in pts:
        assert min(lats) - 1e-4 <= lat <= max(lats) + 1e-4 and min(lons) - 1e-4 <= lon <= max(lons) + 1e-4
