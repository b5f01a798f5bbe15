"""`mobiot boards`: the supported boards (boards/*.json) as a table, one board in full, and
pinning a board's MicroPython image in boards/images.lock.

Contract: docs/boards.md (the board definition), docs/flashing.md ("Lock file").
"""

from __future__ import annotations

import json

import click

from .errors import MobiotError
from .flash import fetch_image, image_entry, load_board, lock_path


def board_names() -> list[str]:
    from .boarddef import names

    return names()


def summary(board: dict) -> dict:
    mp = board.get("micropython") or {}
    modem = (board.get("modem") or {}).get("model", "")
    return {
        "name": board.get("name", ""),
        "chip": board.get("chip", ""),
        "modem": modem,
        "sensors": ", ".join(board.get("sensors") or []),
        "micropython": mp.get("version", "") if mp else "(virtual)",
    }


class BoardsGroup(click.Group):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # `mobiot boards` alone lists them
        if not args or args[0] in ("--json",):
            args = ["list", *args]
        return super().parse_args(ctx, args)


@click.group(cls=BoardsGroup)
def boards() -> None:
    """The supported boards: `mobiot boards`, `mobiot boards show NAME`."""


@boards.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
def list_boards(as_json: bool) -> int:
    """Table of the boards: name, chip, modem, sensors, MicroPython version."""
    rows = [summary(load_board(n)) for n in board_names()]
    if as_json:
        print(json.dumps(rows, indent=1))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "chip", "modem", "sensors", "MicroPython")
    table.columns[0].no_wrap = True
    for r in rows:
        table.add_row(r["name"], r["chip"], r["modem"], r["sensors"], r["micropython"])
    Console().print(table)
    return 0


@boards.command("show")
@click.argument("name")
def show(name: str) -> int:
    """One board's definition, as JSON."""
    print(json.dumps(load_board(name), indent=1))
    return 0


@boards.command("pin")
@click.argument("name")
def pin(name: str) -> int:
    """Download NAME's MicroPython image and pin its SHA-256 in boards/images.lock.

    Run once per new image, on purpose: `mobiot flash` refuses an image that is not pinned
    or whose SHA-256 differs from its pin."""
    board = load_board(name)
    entry = image_entry(board)
    path = fetch_image(board, pin=True)
    from .flash import read_lock

    sha = read_lock().get(entry["file"])
    if sha is None:
        raise MobiotError(f"{lock_path()}: {entry['file']} not pinned")
    print(f"{sha}  {entry['file']}  ({path})")
    return 0
