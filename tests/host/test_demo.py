"""`make demo` stays true: three virtual boards with their scenarios into the collector, then
plots and an export.

The demo runs until it is stopped (Ctrl-C, as a user stops it); the test stops it once every
board's connectivity is in the database, so that a slow machine makes the run longer, never
its result different."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

from vbhelp import ROOT, WAIT_S

MODELS = {"BG95", "SIM7080G", "SIM7000G"}  # the demo's three scenarios (host/mobiot/demo.py)


def _models_so_far(db) -> set[str]:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=WAIT_S)
    except sqlite3.OperationalError:
        return set()
    try:
        rows = con.execute("SELECT device, vals FROM records WHERE kind = 'connectivity'").fetchall()
    except sqlite3.OperationalError:
        return set()
    finally:
        con.close()
    return {json.loads(v).get("model") for _, v in rows} - {None}


def test_demo_collects_three_boards_plots_and_exports(tmp_path):
    out = tmp_path / "demo"
    proc = subprocess.Popen([sys.executable, "-m", "mobiot", "demo", "--duration", "3600", "--no-dashboard",
                             "--out", str(out)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + WAIT_S * 2
        while _models_so_far(out / "collect.sqlite") != MODELS:
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.monotonic() < deadline, f"models so far: {_models_so_far(out / 'collect.sqlite')}"
            time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the collector stops, the demo plots and exports
        stdout, stderr = proc.communicate(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, stderr[-3000:]
    con = sqlite3.connect(out / "collect.sqlite")
    devices = {d for (d,) in con.execute("SELECT DISTINCT device FROM records")}
    assert len(devices) == 3
    models = set()
    for line in (out / "records.jsonl").read_text().splitlines():
        r = json.loads(line)
        if r["kind"] == "connectivity" and "model" in r["values"]:
            models.add(r["values"]["model"])
    assert models == MODELS, models
    pngs = list((out / "plots").glob("*.png"))
    assert len(pngs) >= 3 and all(p.stat().st_size > 1000 for p in pngs)
    assert str(out / "collect.sqlite") in stdout
