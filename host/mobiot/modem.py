"""`mobiot modem ...`: modem tools. `decode` turns an AT command log into JSON lines.

Contract: docs/modem.md. The decoding itself runs in the MicroPython unix port (sim/decode_main.py)
on the firmware's own parsers (firmware/mobiot_fw/cell/parse.py), so what the host shows is what the
board computes; this module only finds the interpreter, feeds it the log and relays its output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click

from .errors import MobiotError
from .upy import FIRMWARE_DIR, SIM_DIR, micropython

DECODE_MAIN = SIM_DIR / "decode_main.py"
KEYS = ("command", "values", "urcs", "error", "errors")
HEAP = "2m"  # a long log is decoded in one run; the parsers themselves need a few KB
TIMEOUT_S = 120
GENERIC = "generic"  # sim/decode_main.py: strict TS 27.007 meanings, no vendor dialect
NO_TRAFFIC_RC = 3  # sim/decode_main.py exit status: no command line and no modem result code


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


def decode_text(text: str, model: str | None = None, name: str = "log") -> list[dict]:
    """Decode a log with the firmware parsers under MicroPython; one dict per answer."""
    mp = micropython()
    if not DECODE_MAIN.is_file():
        raise MobiotError(f"decoder script missing: {DECODE_MAIN}")
    argv = [mp, "-X", f"heapsize={HEAP}", str(DECODE_MAIN), "-"]
    if model:
        argv += ["--model", model]
    env = dict(os.environ)
    # MICROPYPATH replaces the unix port's default search path: keep frozen modules first.
    env["MICROPYPATH"] = f".frozen:{FIRMWARE_DIR}"
    try:
        proc = subprocess.run(argv, input=text, capture_output=True, text=True, env=env, timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise MobiotError(f"modem decode: micropython did not finish within {TIMEOUT_S} s") from exc
    if proc.returncode == NO_TRAFFIC_RC:
        raise MobiotError(f"modem log {name}: no AT traffic (no command line and no modem result code)")
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


def known_models() -> list[tuple[str, list[str]]]:
    """(model, aliases) of every row of the firmware's model table (mobiot_fw.cell.models), the
    one table the board, the simulator and this decoder share, plus the TS 27.007 generic one."""
    from mobiot_fw.cell import models

    return [*models.table(), (GENERIC, [])]


def check_model(model: str) -> str:
    """The --model value if the table knows it (a name, an alias, or a +CGMM/ATI text that
    contains one, e.g. SIMCOM_SIM7080G); else a MobiotError that lists the choices."""
    known = known_models()
    up = model.strip().upper()
    for name, aliases in known:
        for n in (name, *aliases):
            if up == n.upper() or (n != GENERIC and n.upper() in up):
                return model.strip()
    choices = "; ".join(name + (f" ({', '.join(aliases)})" if aliases else "") for name, aliases in known)
    raise MobiotError(f"modem decode: unknown --model {model!r}; known models (aliases): {choices}")


def read_log(file: str) -> str:
    """The log's text. A missing file, a binary file (a firmware image, a capture in another
    format) and a file that is not UTF-8 text are one-line errors naming it."""
    if file == "-":
        data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode()
        where = "stdin"
    else:
        path = Path(file)
        if not path.exists():
            raise MobiotError(f"modem log not found: {file}")
        if path.is_dir():
            raise MobiotError(f"modem log {file} is a directory")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise MobiotError(f"cannot read modem log {file}: {exc.strerror}") from exc
        where = file
    # A modem log is text. C0 control bytes other than TAB/CR/LF/ESC/Ctrl-Z (the SMS and socket
    # send terminator) in more than a trace (a byte or two of UART noise at the modem's power-up
    # is normal in a real capture) mean a binary file: a firmware image, a pcap, a core dump.
    head = data[:65536]
    noise = [i for i, b in enumerate(head) if b < 0x20 and b not in (0x09, 0x0A, 0x0D, 0x1A, 0x1B)]
    if len(noise) > max(4, len(head) // 100):
        at = noise[0]
        raise MobiotError(f"modem log {where} is binary, not an AT log (byte 0x{head[at]:02x} at offset {at})")
    text = data.decode("utf-8", errors="replace")
    if text.count("\ufffd") > max(8, len(text) // 20):
        raise MobiotError(f"modem log {where} is binary, not an AT log (not UTF-8 text)")
    if noise or "\ufffd" in text:
        # the noise bytes are dropped, so a line they landed in still decodes
        text = "".join(ch for ch in text if ch >= " " or ch in "\t\r\n\x1a\x1b").replace("\ufffd", "")
    return text


@modem.command()
@click.option(
    "--model",
    "model",
    default=None,
    help="Modem model (table row or alias, e.g. SIM7080G, BG95-M3, A7670E, EC200U, A7680C), or "
    "'generic' for any TS 27.007 modem. Default: taken from the log's AT+CGMM/ATI answer, "
    "else generic.",
)
@click.argument("file", default="-")
def decode(model: str | None, file: str) -> None:
    """Decode an AT command log (FILE, or - for stdin) into one JSON object per answer."""
    if model is not None:
        model = check_model(model)
    text = read_log(file)
    for obj in decode_text(text, model, name="stdin" if file == "-" else file):
        click.echo(json.dumps(obj))
