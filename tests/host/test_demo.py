"""`make demo` stays true: three virtual boards with their scenarios into the collector, then
plots and an export."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

from vbhelp import ROOT


def test_demo_collects_three_boards_plots_and_exports(tmp_path):
    out = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-m", "mobiot", "demo", "--duration", "40", "--no-dashboard",
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    con = sqlite3.connect(out / "collect.sqlite")
    devices = {d for (d,) in con.execute("SELECT DISTINCT device FROM records")}
    assert len(devices) == 3
    models = set()
    for line in (out / "records.jsonl").read_text().splitlines():
        r = json.loads(line)
        if r["kind"] == "connectivity" and "model" in r["values"]:
            models.add(r["values"]["model"])
    assert models == {"BG95", "SIM7080G", "SIM7000G"}, models
    pngs = list((out / "plots").glob("*.png"))
    assert len(pngs) >= 3 and all(p.stat().st_size > 1000 for p in pngs)
    assert str(out / "collect.sqlite") in proc.stdout
