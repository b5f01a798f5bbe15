"""Scenario files are checked against docs/scenario.md before a virtual board boots: a typo in a
key or a model is one line naming it and the closest valid name, never a board that boots
something else."""

from __future__ import annotations

import json
import re

import pytest

from mobiot.cli import main
from mobiot.scenario import EVENT_KINDS, modem_models, problem, schema_keys
from vbhelp import ROOT

DOC = (ROOT / "docs" / "scenario.md").read_text()


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("mobiot: error: ")
    return err


def _vboard_with(tmp_path, scen) -> int:
    f = tmp_path / "s.json"
    f.write_text(json.dumps(scen))
    return main(["vboard", "--scenario", str(f), "--state-dir", str(tmp_path / "st")])


@pytest.mark.parametrize(
    ("scen", "words"),
    [
        ({"modem": {"signal": {"rsrpp": -90}}}, ["modem.signal.rsrpp", "'rsrp'"]),
        ({"modem": {"model": "BG99"}}, ["modem.model", "BG99", "'BG96'", "SIM7080G", "BG95"]),
        ({"modme": {}}, ["'modme'", "'modem'"]),
        ({"modem": {"events": [{"at_s": 5, "do": "no_servce"}]}}, ["modem.events[0].do", "'no_service'"]),
        ({"modem": {"events": [{"at": 5, "do": "hang"}]}}, ["modem.events[0].at", "'at_s'"]),
        ({"modem": {"rat": "LTEM"}}, ["modem.rat", "'LTE-M'"]),
        ({"modem": {"reg_delay_s": "soon"}}, ["modem.reg_delay_s", "number"]),
        ({"gnss": {"route": [[48.1, 11.5]]}}, ["gnss.route", "2 points"]),
        ({"gnss": {"route": [[148.1, 11.5], [48.0, 11.0]]}}, ["gnss.route[0]"]),
        ({"sensors": {"sht4x": {"absnet": True}}}, ["sensors.sht4x.absnet", "'absent'"]),
    ],
)
def test_typos_are_refused_with_the_closest_name(tmp_path, capsys, scen, words):
    assert _vboard_with(tmp_path, scen) == 1
    err = _one_line_error(capsys)
    for w in words:
        assert w in err, err
    assert not (tmp_path / "st").exists() or not list((tmp_path / "st").glob("*/flash.img"))


def test_every_shipped_scenario_is_valid():
    files = [*(ROOT / "docs" / "scenarios").glob("*.json"), *(ROOT / "tests" / "data" / "scenarios").glob("*.json")]
    assert len(files) >= 8
    for f in files:
        assert problem(json.loads(f.read_text())) is None, f


def test_aliases_and_documented_example_pass():
    assert problem({"modem": {"model": "BG96"}}) is None
    assert problem({"modem": {"model": "SIM7080"}}) is None
    assert problem({}) is None
    example = re.search(r"```json\n(\{.*?\n\})\n```", DOC, re.S)
    assert example is not None
    data = json.loads(example.group(1).replace('"$GPGGA,...", "$GPRMC,..."', '"$GPGGA"'))
    assert problem(data) is None


def test_schema_and_doc_list_the_same_keys():
    """Every key of the schema is named in docs/scenario.md, and every key in the first column
    of one of its tables is in the schema."""
    body = re.sub(r"```.*?```", "", DOC, flags=re.S)
    leaves = {k.rsplit(".", 1)[-1].replace("[]", "") for k in schema_keys()}
    named, first_column = set(), set()
    for tok in re.findall(r"`([^`]+)`", body):
        named |= set(re.findall(r"[A-Za-z_][A-Za-z_0-9]*", tok))
    for line in body.splitlines():
        if line.startswith("| `"):
            for tok in re.findall(r"`([^`]+)`", line.split("|")[1]):
                first_column |= set(re.findall(r"[A-Za-z_][A-Za-z_0-9]*", tok))
    assert leaves <= named, leaves - named
    # The events table's first column holds the kinds of `do`, not keys.
    assert first_column - set(EVENT_KINDS) <= leaves, first_column - leaves
    assert set(modem_models()) >= {"SIM7080G", "SIM7000G", "A7670", "BG95"}


@pytest.mark.parametrize("heap", ["lots", "-5", "10", "2G", ""])
def test_bad_heap_is_refused(tmp_path, capsys, heap):
    assert main(["vboard", "--heap", heap, "--state-dir", str(tmp_path)]) == 1
    assert "--heap" in _one_line_error(capsys)
