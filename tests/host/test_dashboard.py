"""The dashboard shows state: registration, signal blank while not registered with the time
since the last good signal, modem, board, firmware, queue, and firmware errors of the last 10
minutes. Checked on the rows and on a captured render, from synthetic records and from a
virtual board during a scripted outage."""

from __future__ import annotations

import io
import json
import threading
import time

from rich.console import Console

from mobiot.collect import Collector
from mobiot.dashboard import DeviceView, device_row, render, status_lines
from vbhelp import VBoards

DEV = "356938031047295"


def rec(kind: str, values: dict, seq: int = 1, boot: int = 1) -> dict:
    return {"device": DEV, "boot": boot, "seq": seq, "t": 1764146800 + seq, "clock": "utc", "kind": kind,
            "values": values}  # fmt: skip


def test_outage_blanks_the_signal_and_counts_firmware_errors():
    v = DeviceView(port="/dev/ttyUSB0", board="lilygo-t-sim7000g")
    t = 1000.0
    v.update(rec("connectivity", {"reg": "home", "rat": "LTE-M", "oper": "Orange F", "rsrp": -97, "rsrq": -11,
                                  "sinr": 6, "model": "SIM7000G"}), t)  # fmt: skip
    v.update(rec("status", {"qdepth": 3, "qdrops": 0, "qerr": 0, "fw": "0.3.0"}), t)
    row = device_row(DEV, v, t + 1)
    assert (row["reg"], row["rat"], row["oper"], row["rsrp"], row["modem"], row["fw"]) == (
        "home", "LTE-M", "Orange F", "-97", "SIM7000G", "0.3.0")  # fmt: skip
    assert row["good signal"] == "now" and row["events 10 min"] == "-"
    # The network goes: the firmware reports it, and its modem errors, then the queue fills.
    v.update(rec("event", {"event": "reg_change", "old": "home", "new": "searching"}), t + 10)
    v.update(rec("connectivity", {"reg": "searching", "rsrp": -97, "rat": "LTE-M", "oper": "Orange F"}), t + 15)
    v.update(rec("event", {"event": "modem_error", "err": "timeout", "at": "AT+CSQ"}), t + 20)
    v.update(rec("event", {"event": "modem_error", "err": "timeout", "at": "AT+CPSI?"}), t + 25)
    v.update(rec("event", {"event": "sensor_error", "sensor": "sht4x", "err": "ENODEV", "errno": 19}), t + 26)
    v.update(rec("status", {"qdepth": 40, "qdrops": 2, "qerr": 1, "fw": "0.3.0"}), t + 30)
    row = device_row(DEV, v, t + 45)
    assert row["reg"] == "searching"
    assert row["rat"] == row["oper"] == row["rsrp"] == row["rsrq"] == row["sinr"] == ""
    assert row["good signal"] == "45 s ago"
    assert row["queue"] == "40" and row["drops"] == "2"
    ev = dict(part.rsplit(" ", 1) for part in row["events 10 min"].split(", "))
    assert ev == {"modem_error": "2", "sensor_error": "1", "qdrops": "2", "qerr": "1", "reg_change": "1"}
    # Ten minutes on, those events are out of the window.
    assert device_row(DEV, v, t + 30 + 601)["events 10 min"] == "-"


def test_no_sim_denied_and_roaming_labels():
    v = DeviceView()
    v.update(rec("event", {"event": "modem_error", "err": "sim_missing", "at": "+CME ERROR: 10"}), 1.0)
    v.update(rec("connectivity", {"reg": "not_registered"}), 2.0)
    assert device_row(DEV, v, 3.0)["reg"] == "no SIM"
    v.update(rec("connectivity", {"reg": "roaming", "rsrp": -118, "rat": "NB-IoT", "oper": "VF NL"}), 4.0)
    row = device_row(DEV, v, 5.0)
    assert row["reg"] == "roaming" and row["rsrp"] == "-118" and row["rat"] == "NB-IoT"
    v.update(rec("event", {"event": "reg_change", "old": "roaming", "new": "denied"}), 6.0)
    assert device_row(DEV, v, 7.0)["reg"] == "denied" and device_row(DEV, v, 7.0)["rsrp"] == ""


def _render_text(col: Collector) -> str:
    console = Console(record=True, width=260, file=io.StringIO())
    console.print(render(col))
    return console.export_text()


def test_dashboard_during_a_scripted_outage_on_a_virtual_board(tmp_path, monkeypatch):
    monkeypatch.setenv("MOBIOT_RUNTIME_DIR", str(tmp_path / "run"))
    scen = tmp_path / "outage.json"
    scen.write_text(json.dumps({"modem": {"model": "SIM7000G", "operator": "Orange F", "reg_delay_s": 3,
                                          "signal": {"rsrp": -101, "jitter": 2},
                                          "events": [{"at_s": 14, "do": "no_service", "for_s": 40}]}}))  # fmt: skip
    with VBoards(tmp_path / "vb", 1, "--scenario", str(scen)) as vb:
        port, dev = vb.boards[0]
        col = Collector([port], str(tmp_path / "c.sqlite"), 115200, scan=False, control=False)
        col.live = True  # progress goes to the log pane, as with the live table
        th = threading.Thread(target=col.run, args=(None, False), daemon=True)
        th.start()
        try:
            def row():
                with col.view_lock:
                    v = col.devices.get(dev)
                    return device_row(dev, v, time.time()) if v else None

            def wait(cond, what, timeout=120.0):
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    r = row()
                    if r and cond(r):
                        return r
                    time.sleep(0.2)
                raise AssertionError(f"{what}: last row {row()}")

            up = wait(lambda r: r["reg"] == "home" and r["rsrp"] not in ("", "-"), "registered with signal")
            assert up["modem"] == "SIM7000G" and up["board"] == "sim" and up["oper"] == "Orange F"
            down = wait(lambda r: r["reg"] == "searching" and "reg_change" in r["events 10 min"], "outage shown")
            assert down["rsrp"] == down["rat"] == down["oper"] == ""
            text = _render_text(col)
            line = next(ln for ln in text.splitlines() if dev in ln)
            assert "searching" in line and "s ago" in line and "reg_change" in line and "-101" not in line
            assert "latest events" in text and f"{dev} reg_change" in text
            lines = status_lines(col)
            assert any(dev in ln and "searching" in ln and "no signal" in ln for ln in lines), lines
        finally:
            col.stop.set()
            th.join(60)
