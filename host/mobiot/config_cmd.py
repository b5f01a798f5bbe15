"""`mobiot config`: a commented per-device config to start from, and a check of one.

Both come from the one schema, mobiot_fw.config (the firmware's own module, also what the board
runs), and the meanings from the table of docs/config.md, which tests/host/test_config_doc.py
keeps equal to it.
"""

from __future__ import annotations

import json
import re

import click

from mobiot_fw import config as fwconfig

from .prov_build import check_config, load_board, read_data_file
from .upy import checkout_root

_ROW = re.compile(r"^\| `([\w.]+)` \| \w+ \| `[^`]*` \| [^|]* \| (.*) \|$", re.M)


def meanings() -> dict[str, str]:
    """What each key means, from the schema table of docs/config.md (in a checkout; an installed
    package has no docs/, and the template then lists the keys and defaults only)."""
    root = checkout_root()
    doc = root / "docs" / "config.md" if root else None
    if doc is None or not doc.is_file():
        return {}
    return {m.group(1): m.group(2).strip() for m in _ROW.finditer(doc.read_text())}


def _toml(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    return repr(v)


def template(board_name: str, device_id: str | None = None) -> str:
    """TOML text: every key of the schema with its default, commented out, and what it means."""
    board = load_board(board_name)
    mean = meanings()
    out = [f"# mobiot per-device config for a {board_name} board (docs/config.md).",
           f"# Provision with: mobiot provision --port PORT --board {board_name} --config THIS.toml",
           "# Keys left commented keep their default. Secrets (APN login, MQTT, TLS) go in a",
           "# separate file given with --secrets, never here (docs/provisioning.md).", ""]
    sections: dict[str, list] = {}
    for path, typ, dflt, lo, hi in fwconfig.SCHEMA:
        sec, _, key = path.rpartition(".")
        sections.setdefault(sec, []).append((key, path, typ, dflt, lo, hi))
    for sec, rows in sections.items():
        if sec:
            out += ["", f"[{sec}]"]
        for key, path, typ, dflt, lo, hi in rows:
            rng = "" if lo is None else f"; one of {', '.join(lo)}" if hi is None else f"; {lo} .. {hi}"
            out.append(f"# {mean.get(path, '')} ({typ}{rng})")
            if path == "device_id" and device_id:
                out.append(f"{key} = {_toml(device_id)}")
            elif path == "board":
                out.append(f"{key} = {_toml(board_name)}")
            else:
                out.append(f"# {key} = {_toml(dflt)}")
    opts = ", ".join(f"{n} ({t}{f'; {lo} .. {hi}' if lo is not None else ''})"
                     for n, t, lo, hi in fwconfig.SENSOR_OPTS)
    out += ["", "# Sensors: the board definition fits " + (", ".join(board.get("sensors", [])) or "none") + ";",
            f"# add one or switch one off (false). Options: {opts}.", "[sensors]"]
    for name in fwconfig.SENSOR_KEYS:
        fitted = name in board.get("sensors", [])
        out.append(f"# {name} = {'true' if fitted else 'false'}")
    return "\n".join(out) + "\n"


@click.group()
def config() -> None:
    """Per-device config (docs/config.md): a commented template, or check a file."""


@config.command("template")
@click.option("--board", required=True, help="Board definition name (boards/NAME.json).")
@click.option("--device-id", help="Put this device id in the template.")
def template_cmd(board: str, device_id: str | None) -> None:
    """Print a commented TOML config to start from (stdout)."""
    click.echo(template(board, device_id), nl=False)


@config.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the board's config.json (the validated JSON).")
def check_cmd(file: str, as_json: bool) -> None:
    """Validate a TOML or JSON config against the schema, as provisioning does."""
    raw = check_config(read_data_file(file, "config"), file)
    if as_json:
        click.echo(json.dumps(raw, separators=(",", ":")))
    else:
        click.echo(f"{file}: valid", err=True)
