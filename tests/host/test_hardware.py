"""Checks that only make sense on a real board: `pytest --port /dev/ttyUSB0 --board NAME`.
Skipped without --port (tests/conftest.py). The integration tests that also run on virtual
boards (test_link.py, the `target` tests of test_vboard.py) run against the same port."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mobiot_fw import records
from test_link import Host
from vbhelp import mpremote, restart_firmware

ROOT = Path(__file__).resolve().parents[2]

# Plausible physical ranges per base name: a wrong formula, unit or byte order lands outside.
RANGES = {"temp": (-40, 85), "hum": (0, 100), "press": (30000, 110000), "bat": (2.5, 4.5),
          "lat": (-90, 90), "lon": (-180, 180), "rsrp": (-140, -44), "rsrq": (-20, -3),
          "sinr": (-20, 40), "rssi": (-113, -51)}


@pytest.mark.hardware
def test_board_runs_the_definition_it_was_given(hw_port, hw_board):
    assert hw_board, "give --board NAME with --port"
    want = json.loads((ROOT / "boards" / f"{hw_board}.json").read_text())
    got = json.loads(mpremote(hw_port, "fs", "cat", ":board.json").stdout)
    assert got["name"] == want["name"] and got.get("modem", {}).get("model") == want.get("modem", {}).get("model")


@pytest.mark.hardware
def test_real_sensors_and_modem_report_plausible_values(hw_port):
    restart_firmware(hw_port)
    host = Host(hw_port)
    try:
        host.send("hello")
        host.send("sample")
        host.poll(300, until=lambda h: any(p["kind"] == "connectivity" and "rsrp" in p["values"]
                                           for p in h.records.values()))
    finally:
        host.send("bye")
        host.close()
    checked = 0
    for p in host.records.values():
        if p["kind"] not in ("reading", "connectivity"):
            continue
        for name, v in p["values"].items():
            base = records.base_name(name)
            if base in RANGES and isinstance(v, (int, float)):
                lo, hi = RANGES[base]
                assert lo <= v <= hi, (name, v)
                checked += 1
    assert checked, "no values to check"
