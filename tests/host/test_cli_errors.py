"""Bad input to the host tools: one line on stderr naming what and where, non-zero exit."""

from __future__ import annotations

import pytest

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
    import importlib.util

    from mobiot.cli import COMMANDS

    missing = [n for n, (target, _) in COMMANDS.items() if importlib.util.find_spec(target.split(":")[0]) is None]
    if not missing:
        pytest.skip("every command is built")
    assert main([missing[0]]) == 1
    assert "not available yet" in _one_line_error(capsys)


def test_flash_without_a_port_says_so(capsys):
    assert main(["flash", "--board", "sim"]) == 1
    assert "--port" in _one_line_error(capsys)


def test_unknown_board_leaves_no_half_made_flash(tmp_path, capsys):
    assert main(["vboard", "--board", "no-such-board", "--state-dir", str(tmp_path / "b")]) == 1
    _one_line_error(capsys)
    assert not list((tmp_path / "b").glob("*/flash.img"))


def _commands():
    from mobiot.cli import COMMANDS

    return sorted(COMMANDS)


@pytest.mark.parametrize("name", _commands())
def test_every_command_has_working_help(name, capsys):
    import importlib.util

    from mobiot.cli import COMMANDS

    module = COMMANDS[name][0].split(":")[0]
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not built yet")
    assert main([name, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Usage: mobiot {name}") and "--help" in out


def test_board_option_lists_the_boards(capsys):
    assert main(["vboard", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split()).replace("- ", "-")  # click wraps at hyphens
    for b in ("sim", "sim-s3", "lilygo-t-sim7080g-s3", "esp32-devkitc-bg95"):
        assert b in out


def test_unknown_board_names_the_closest_and_the_known_ones(tmp_path, capsys):
    assert main(["vboard", "--board", "sim-s4", "--state-dir", str(tmp_path / "b")]) == 1
    err = _one_line_error(capsys)
    assert "did you mean 'sim-s3'?" in err and "lilygo-t-a7670" in err
