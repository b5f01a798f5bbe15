"""Virtual boards with the LTE Cat 1 modems and an LTE-M modem across an outage: the
connectivity records a host receives (docs/records.md), end to end through the firmware's
modem driver and the simulator's dialects (sim/modem_sim.py)."""

from __future__ import annotations

import json

from test_link import Host
from vbhelp import ROOT, VBoards

SCEN = ROOT / "docs" / "scenarios"


def _records(tmp_path, scenario: dict, name: str, until, seconds: float = 90):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(scenario))
    with VBoards(tmp_path / name, 1, "--scenario", str(path)) as vb:
        host = Host(vb.boards[0][0])
        try:
            host.send("hello")
            host.send("interval", "2")
            host.poll(seconds, until=until)
        finally:
            host.send("bye")
            host.close()
    return [host.records[k] for k in sorted(host.records)]


def _conn(recs):
    return [p["values"] for p in recs if p["kind"] == "connectivity"]


def _registrations(recs) -> int:
    return sum(
        1
        for p in recs
        if p["kind"] == "event"
        and p["values"].get("event") == "reg_change"
        and p["values"].get("new") in ("home", "roaming")
    )


def _registered_twice(h) -> bool:
    # until: registered, lost, registered again, and two full reports while home
    recs = list(h.records.values())
    full = [v for v in _conn(recs) if v.get("reg") == "home" and "rsrp" in v]
    return _registrations(recs) >= 2 and len(full) >= 2


def test_cat1_ec200u_connectivity_records(tmp_path):
    scen = json.loads((SCEN / "cat1-ec200u-china.json").read_text())
    mc = scen["modem"]
    # an earlier, shorter outage than the doc scenario's, so the test sees it within seconds
    mc["events"] = [{"at_s": 16, "do": "no_service", "for_s": 8}]

    recs = _records(tmp_path, scen, "ec200u", _registered_twice)
    conn = _conn(recs)
    full = [v for v in conn if v.get("reg") == "home" and "rsrp" in v]
    assert full, conn
    v = full[-1]
    assert v["model"] == "EC200U" and v["rat"] == "LTE", v
    for k in ("mcc", "mnc", "band", "earfcn", "pci"):
        assert v[k] == mc[k], (k, v)
    assert (v["cell"], v["tac"]) == (mc["cell"], mc["tac"]) and v["oper"] == mc["operator"]["long"]
    j = mc["signal"]["jitter"]
    assert abs(v["rsrp"] - mc["signal"]["rsrp"]) <= j + 1, v
    # Quectel LTE Standard +QENG <SINR> has no documented scale: raw, never a dB record
    assert "sinr" not in v and abs(v["sinr_raw"] - mc["signal"]["sinr"]) <= j + 1, v
    assert v.get("imei") and v.get("iccid") and v.get("ip"), v
    # the outage was seen and reported: searching, then home again, one RAT throughout
    assert any(c.get("reg") == "searching" for c in conn), conn
    assert _registrations(recs) >= 2
    assert {c["rat"] for c in conn if c.get("reg") == "home" and "rat" in c} == {"LTE"}, conn


def test_ltem_board_reports_one_rat_across_registrations(tmp_path):
    # SIM7000G on LTE-M (docs/scenarios/outages.json's network) with an early outage: the first
    # connectivity record after each registration (from the +CEREG URC) and the full reports
    # that follow must all say LTE-M
    scen = json.loads((SCEN / "outages.json").read_text())
    scen["modem"]["events"] = [{"at_s": 16, "do": "no_service", "for_s": 8}]
    scen.pop("sensors", None)

    recs = _records(tmp_path, scen, "ltem", _registered_twice)
    conn = _conn(recs)
    assert _registrations(recs) >= 2, [p["values"] for p in recs if p["kind"] == "event"]
    rats = [c["rat"] for c in conn if c.get("reg") == "home" and "rat" in c]
    assert len(rats) >= 3 and set(rats) == {"LTE-M"}, conn
