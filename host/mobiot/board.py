"""`mobiot board ...`: the board definitions (boards/*.json, docs/boards.md).

`list` shows the boards there are, `show NAME` prints one (`--device`: the device form that
provisioning writes to the board's flash), `check` validates them, one line per problem.
"""

from __future__ import annotations

import json

import click

from . import boarddef
from .errors import MobiotError


def summary(board: dict) -> dict:
    """One row of `mobiot board list`."""
    usb = board.get("usb")
    return {
        "name": board["name"],
        "chip": board["chip"],
        "modem": board["modem"]["model"],
        "usb": f"{usb['vid']:04x}:{usb['pid']:04x}" if usb else "",
        "description": board["description"],
    }


@click.group()
def board() -> None:
    """Board definitions: list, show, check."""


@board.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per board.")
def list_(as_json: bool) -> None:
    """The board definitions there are (boards/*.json)."""
    rows = [summary(boarddef.load(n)) for n in boarddef.names()]
    for r in rows:
        if as_json:
            click.echo(json.dumps(r))
        else:
            click.echo(f"{r['name']:<24} {r['chip']:<8} {r['modem']:<9} {r['usb']:<10} {r['description']}")


@board.command()
@click.argument("name")
@click.option("--device", is_flag=True, help="The device form: what goes onto the board as /board.json.")
def show(name: str, device: bool) -> None:
    """Print board NAME as JSON (checked first)."""
    b = boarddef.load(name)
    click.echo(boarddef.device_json(b) if device else json.dumps(b, indent=1), nl=not device)


@board.command()
@click.argument("names", nargs=-1)
def check(names: tuple[str, ...]) -> None:
    """Check boards NAMES (default: all); fails naming the file and the key."""
    bad = 0
    for n in names or boarddef.names():
        try:
            boarddef.load(n)
        except MobiotError as exc:
            click.echo(str(exc), err=True)
            bad += 1
        else:
            click.echo(f"{n}: ok", err=True)
    if bad:
        raise MobiotError(f"{bad} board definition(s) with problems")
