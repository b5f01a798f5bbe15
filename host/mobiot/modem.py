"""`mobiot modem ...`: modem tools. `decode` turns an AT command log into JSON lines.

Contract: docs/modem.md. The decoding itself runs in the MicroPython unix port (sim/decode_main.py)
on the firmware's own parsers (firmware/mobiot_fw/cell/parse.py), so what the host shows is what the
board computes; this module only finds the interpreter, feeds it the log and relays its output.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import click

from .errors import MobiotError

REPO = Path(__file__).resolve().parents[2]
FIRMWARE_DIR = REPO / "firmware"
DECODE_MAIN = REPO / "sim" / "decode_main.py"
KEYS = ("command", "values", "urcs", "error", "errors")
HEAP = "2m"  # a long log is decoded in one run; the parsers themselves need a few KB
TIMEOUT_S = 120


def find_micropython() -> str:
    """The unix-port interpreter: $MICROPYTHON, else next to this Python, else on PATH."""
    env = os.environ.get("MICROPYTHON")
    if env:
        if not Path(env).is_file():
            raise MobiotError(f"MICROPYTHON={env} does not exist")
        return env
    beside = Path(sys.executable).parent / "micropython"
    if beside.is_file():
        return str(beside)
    found = shutil.which("micropython")
    if found:
        return found
    raise MobiotError("micropython (unix port) not found: set MICROPYTHON or put it on PATH")


def _round_floats(obj):
    # MicroPython prints doubles with up to 17 digits (-76.40000000000001); the records carry at
    # most centi-units (eDRX 10485.76 s), so 6 decimals loses nothing and reads cleanly.
    if isinstance(obj, float):
        return round(obj, 6)
    if isinstance(obj, dict):
        return {k: _round_floats(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_round_floats(v) for v in obj]
    return obj


def decode_text(text: str, model: str | None = None) -> list[dict]:
    """Decode a log with the firmware parsers under MicroPython; one dict per command."""
    mp = find_micropython()
    if not DECODE_MAIN.is_file():
        raise MobiotError(f"decoder script missing: {DECODE_MAIN}")
    argv = [mp, "-X", f"heapsize={HEAP}", str(DECODE_MAIN), "-"]
    if model:
        argv += ["--model", model]
    env = dict(os.environ)
    # MICROPYPATH replaces the unix port's default search path: keep frozen modules first.
    env["MICROPYPATH"] = f".frozen:{FIRMWARE_DIR}"
    try:
        proc = subprocess.run(
            argv, input=text, capture_output=True, text=True, env=env, timeout=TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise MobiotError(f"modem decode: micropython did not finish within {TIMEOUT_S} s") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()
        raise MobiotError(f"modem decode: micropython failed: {tail[-1] if tail else proc.returncode}")
    out = []
    for line in proc.stdout.splitlines():
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise MobiotError(f"modem decode: bad output line from micropython: {line[:80]!r}") from exc
        out.append({k: _round_floats(obj.get(k)) for k in KEYS})
    return out


@click.group()
def modem() -> None:
    """Modem tools."""


@modem.command()
@click.option("--model", "model", default=None, help="Modem model (e.g. SIM7080G, BG95-M3, A7670E).")
@click.argument("file", default="-")
def decode(model: str | None, file: str) -> None:
    """Decode an AT command log (FILE, or - for stdin) into one JSON object per command."""
    if file == "-":
        text = sys.stdin.read()
    else:
        path = Path(file)
        if not path.is_file():
            raise MobiotError(f"modem log not found: {file}")
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise MobiotError(f"cannot read modem log {file}: {exc.strerror}") from exc
    for obj in decode_text(text, model):
        click.echo(json.dumps(obj))
