"""Bad input to the host tools: one line on stderr naming what and where, non-zero exit."""

from __future__ import annotations

from mobiot.cli import main


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("mobiot: error: ")
    return err


def test_malformed_scenario_names_file_and_line(tmp_path, capsys):
    bad = tmp_path / "scen.json"
    bad.write_text('{"modem": {"model": "SIM7080G",\n  "rat": }\n}\n')
    assert main(["vboard", "--scenario", str(bad), "--state-dir", str(tmp_path / "s")]) == 1
    err = _one_line_error(capsys)
    assert f"{bad}:2:" in err


def test_missing_scenario_and_unknown_board(tmp_path, capsys):
    assert main(["vboard", "--scenario", str(tmp_path / "nope.json"), "--state-dir", str(tmp_path)]) == 1
    assert "nope.json" in _one_line_error(capsys)
    assert main(["vboard", "--board", "no-such-board", "--state-dir", str(tmp_path / "b")]) == 1
    assert "no-such-board" in _one_line_error(capsys)


def test_bad_baud_and_missing_interpreter(tmp_path, capsys, monkeypatch):
    assert main(["vboard", "--baud", "12345", "--state-dir", str(tmp_path)]) == 1
    assert "--baud 12345" in _one_line_error(capsys)
    monkeypatch.setenv("MICROPYTHON", str(tmp_path / "no-micropython"))
    assert main(["vboard", "--state-dir", str(tmp_path / "m")]) == 1
    assert "MICROPYTHON=" in _one_line_error(capsys)


def test_commands_not_built_yet_say_so(capsys):
    assert main(["flash"]) == 1
    assert "not available yet" in _one_line_error(capsys)


def test_unknown_board_leaves_no_half_made_flash(tmp_path, capsys):
    assert main(["vboard", "--board", "no-such-board", "--state-dir", str(tmp_path / "b")]) == 1
    _one_line_error(capsys)
    assert not list((tmp_path / "b").glob("*/flash.img"))
