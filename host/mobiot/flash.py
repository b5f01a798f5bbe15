"""`mobiot flash`: put the board's MicroPython image on a bare board with esptool, then
provision it, so that it ends up reporting.

Contract: docs/flashing.md (images, the lock file, what is checked before anything is erased,
the order of operations). esptool (pinned in requirements.txt) does the flashing, as a library
(`esptool.cmds`); its logger is process-wide, so each board is flashed in a process of its
own, which also lets `--all` flash boards in parallel, each with its own progress bar.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import click

from . import boarddef, espimage
from .errors import MobiotError
from .netserial import rfc2217_class
from .upy import BOARDS_DIR

LOCK_FILE = BOARDS_DIR / "images.lock"
LOCK_HEADER = (
    "# SHA-256 of every MicroPython image mobiot flashes (docs/flashing.md, \"Lock file\").\n"
    "# Written only by `mobiot boards pin NAME`, which says so; `mobiot flash` refuses an image\n"
    "# whose hash is not here or differs. One line per image file: <sha256>  <file>\n"
)
ESPTOOL_CHIP = {"esp32": "ESP32", "esp32s3": "ESP32-S3"}  # esptool CHIP_NAME
ROM_BAUD = 115200  # esptool ESP_ROM_BAUD: the ROM loader's rate until change_baud
CONNECT_ATTEMPTS = 5  # esptool's default is 7; 5 keeps "no ESP32 on this port" under 10 s
DOWNLOAD_TIMEOUT_S = 60


# ---- board definitions ---------------------------------------------------------------------
def load_board(name: str) -> dict:
    """boards/<name>.json, checked (mobiot.boarddef)."""
    return boarddef.load(name)


def flash_facts(board: dict) -> tuple[str, int, int]:
    """(chip, image offset, flash size in bytes) of a board definition."""
    name = board.get("name", "?")
    chip = board.get("chip")
    if chip not in ESPTOOL_CHIP:
        raise MobiotError(f"board {name!r}: chip {chip!r} cannot be flashed (esp32, esp32s3)")
    size = espimage.FLASH_SIZES.get(str(board.get("flash_size")))
    if size is None or not isinstance(board.get("flash_offset"), int):
        raise MobiotError(f"board {name!r}: no flash_size / flash_offset in its definition")
    return chip, board["flash_offset"], size


def image_entry(board: dict) -> dict:
    """The board's image: `micropython` (real boards) or `image` (virtual boards' test image),
    each with `file` and `url`."""
    entry = board.get("micropython") or board.get("image")
    name = board.get("name", "?")
    if not isinstance(entry, dict) or not entry.get("file"):
        raise MobiotError(f"board {name!r}: no MicroPython image in its definition (give --firmware FILE)")
    url = entry.get("url") or f"https://micropython.org/resources/firmware/{entry['file']}"
    mirror = os.environ.get("MOBIOT_FIRMWARE_MIRROR")
    if mirror:  # a local mirror (and the tests' HTTP server): <mirror>/<file>
        url = mirror.rstrip("/") + "/" + entry["file"]
    return {"file": entry["file"], "url": url, "version": entry.get("version", "")}


# ---- the image cache and the lock file -----------------------------------------------------
def cache_dir() -> Path:
    env = os.environ.get("MOBIOT_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mobiot"


def lock_path() -> Path:
    return Path(os.environ.get("MOBIOT_IMAGES_LOCK") or LOCK_FILE)


def read_lock(path: Path | None = None) -> dict[str, str]:
    path = path or lock_path()
    pins: dict[str, str] = {}
    if not path.exists():
        return pins
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or len(parts[0]) != 64:
            raise MobiotError(f"{path}:{n}: expected '<sha256>  <file>'")
        pins[parts[1]] = parts[0].lower()
    return pins


def write_pin(file: str, sha: str, path: Path | None = None) -> None:
    path = path or lock_path()
    pins = read_lock(path)
    pins[file] = sha
    body = "".join(f"{pins[k]}  {k}\n" for k in sorted(pins))
    path.write_text(LOCK_HEADER + body)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download(url: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as resp:
            for chunk in iter(lambda: resp.read(1 << 16), b""):
                out.write(chunk)
        os.replace(tmp, dest)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        reason = getattr(exc, "reason", None) or exc
        raise MobiotError(f"download {url}: {reason}") from exc


def fetch_image(board: dict, pin: bool = False) -> Path:
    """The board's image in the user cache, downloaded if missing and checked against the lock.
    With pin=True (only `mobiot boards pin`), a file not yet in the lock is pinned."""
    entry = image_entry(board)
    path = cache_dir() / entry["file"]
    if not path.exists():
        print(f"mobiot flash: downloading {entry['url']}", file=sys.stderr)
        download(entry["url"], path)
    sha = sha256_file(path)
    pins = read_lock()
    want = pins.get(entry["file"])
    if want is None:
        if not pin:
            raise MobiotError(f"{path}: SHA-256 not pinned in {lock_path()}; check the download, then pin it: "
                              f"mobiot boards pin {board.get('name')}")
        write_pin(entry["file"], sha)
        print(f"mobiot: pinned {entry['file']} sha256 {sha} in {lock_path()} (first download)", file=sys.stderr)
    elif want != sha:
        raise MobiotError(f"{path}: SHA-256 {sha} does not match {lock_path()} ({want}); "
                          "delete the file to download it again")
    return path


def check_image(path: Path, board: dict) -> bytes:
    """The image's bytes, if it is an intact image for the board's chip that fits its flash."""
    chip, offset, size = flash_facts(board)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise MobiotError(f"{path}: {exc.strerror}") from exc
    try:
        espimage.check_firmware(data, chip, offset, size)
    except espimage.ImageError as exc:
        raise MobiotError(f"{path}: {exc}") from exc
    return data


# ---- flashing one board (in a process of its own) --------------------------------------------
class _Logger:
    """esptool's messages into this board's queue (progress, one stage line each)."""

    def __init__(self, q, port: str, verbose: bool):
        self.q, self.port, self.verbose = q, port, verbose

    def print(self, *args, **kwargs):
        msg = " ".join(str(a) for a in args).strip()
        if msg:
            self.q.put(("log", self.port, msg))

    def note(self, message: str):
        self.print("Note:", message)

    def warning(self, message: str):
        self.print("Warning:", message)

    def error(self, message: str):
        self.print("Error:", message)

    def stage(self, finish: bool = False):
        pass

    def progress_bar(self, cur_iter, total_iters, prefix="", suffix="", bar_length=30):
        self.q.put(("progress", self.port, cur_iter, total_iters))

    def set_verbosity(self, verbosity):
        pass


def _flash_worker(job: dict, q) -> None:
    port = job["port"]
    try:
        info = _flash_esptool(job, q)
        q.put(("done", port, info))
    except MobiotError as exc:
        q.put(("error", port, str(exc)))
    except Exception as exc:  # esptool's FatalError, SerialException, OSError
        text = str(exc.args[0] if exc.args and isinstance(exc.args[0], str) else exc).strip()
        first = text.splitlines()[0].split(". ")[0].rstrip(".") if text else type(exc).__name__
        if job["stage"] in ("erasing", "writing"):
            q.put(("error", port, f"{port}: the board stopped answering while {job['stage']} ({first}); "
                                  "check the cable and power, then run mobiot flash again"))
        else:
            q.put(("error", port, f"{port}: {job['stage']}: {first}"))


def _flash_esptool(job: dict, q) -> dict:
    import serial
    from esptool import cmds
    from esptool.loader import DEFAULT_TIMEOUT
    from esptool.logger import TemplateLogger, log

    class Logger(_Logger, TemplateLogger):
        pass

    port = job["port"]
    log.set_logger(Logger(q, port, job.get("verbose", False)))  # type: ignore[attr-defined]

    def stage(text: str) -> None:
        job["stage"] = text
        q.put(("stage", port, text))

    stage("connecting")
    try:
        # Opened here with esptool's default command timeout: esptool sets the port's timeout
        # per command and restores it after, and on an RFC 2217 port (pyserial's client) each
        # change is a round of option negotiation costing 0.2-0.3 s.
        if port.startswith("rfc2217://"):
            ser = rfc2217_class()(port, timeout=DEFAULT_TIMEOUT)
        else:
            ser = serial.serial_for_url(port, timeout=DEFAULT_TIMEOUT, exclusive=True)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise MobiotError(f"{port}: cannot open ({exc})") from exc
    try:
        # ESPLoader takes an open port as well as a name (loader.py ESPLoader.__init__)
        esp = cmds.detect_chip(ser, ROM_BAUD, job["before"], connect_attempts=CONNECT_ATTEMPTS)  # type: ignore[arg-type]
    except Exception as exc:
        ser.close()
        raise MobiotError(f"{port}: no ESP32 answers ({str(exc).strip().splitlines()[0]})") from exc
    try:
        want = ESPTOOL_CHIP[job["chip"]]
        if esp.CHIP_NAME != want:
            raise MobiotError(f"{port}: the board has an {esp.CHIP_NAME}, board {job['board']!r} "
                              f"is {want}; nothing erased")
        mac = ":".join(f"{b:02x}" for b in getattr(esp, "read_mac")("BASE_MAC"))  # noqa: B009 (typed NoReturn on the base class)
        if not job["no_stub"]:
            stage("starting the flasher stub")
            esp = cmds.run_stub(esp)
        if job["baud"] != ROM_BAUD:
            stage(f"changing baud to {job['baud']}")
            esp.change_baud(job["baud"])
        cmds.attach_flash(esp)
        if esp.IS_STUB:  # the ROM has no ERASE_FLASH: write_flash erases what it writes
            stage("erasing")
            cmds.erase_flash(esp)
        stage("writing")
        data = Path(job["image"]).read_bytes()
        # write_flash compresses, then checks the written region's MD5 against the image
        t0 = time.monotonic()
        cmds.write_flash(esp, [(job["offset"], data)], flash_size="keep", compress=True)
        write_s = time.monotonic() - t0
        stage("resetting")
        cmds.reset_chip(esp, "hard-reset")
        return {"port": port, "chip": esp.CHIP_NAME, "mac": mac, "bytes": len(data),
                "offset": job["offset"], "stub": esp.IS_STUB, "write_s": round(write_s, 3)}
    finally:
        with contextlib.suppress(Exception):
            esp._port.close()


def flash_ports(ports: list[str], board_name: str, image: Path, baud: int, before: str, no_stub: bool,
                progress: bool = True) -> list[dict]:
    """Flash `image` onto every port in parallel (a process each), holding each port's lease
    from a running collector. Returns one result per port; raises if any failed."""
    from .control import lease_port

    board = load_board(board_name)
    chip, offset, _ = flash_facts(board)
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    results: dict[str, dict] = {}
    errors: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        for p in ports:
            stack.enter_context(lease_port(p, who="mobiot flash"))
        procs = []
        for p in ports:
            job = {"port": p, "board": board_name, "chip": chip, "offset": offset, "image": str(image),
                   "baud": baud, "before": before, "no_stub": no_stub, "stage": "starting"}
            proc = ctx.Process(target=_flash_worker, args=(job, q), daemon=True)
            proc.start()
            procs.append(proc)
        _follow(q, ports, procs, results, errors, progress)
    if errors:
        raise MobiotError("; ".join(errors[p] for p in ports if p in errors))
    return [results[p] for p in ports]


def _follow(q, ports, procs, results, errors, progress: bool) -> None:
    import queue

    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    bars = Progress(TextColumn("{task.fields[port]}"), BarColumn(), DownloadColumn(),
                    TextColumn("{task.description}"), TimeRemainingColumn(), console=console,
                    disable=not progress)
    tasks = {p: bars.add_task("starting", total=None, port=p) for p in ports}
    with bars:
        while len(results) + len(errors) < len(ports):
            try:
                msg = q.get(timeout=0.5)
            except queue.Empty:
                for p, proc in zip(ports, procs, strict=True):
                    if not proc.is_alive() and p not in results and p not in errors and q.empty():
                        errors[p] = f"{p}: the flashing process died (exit code {proc.exitcode})"
                continue
            kind, port = msg[0], msg[1]
            if kind == "progress":
                bars.update(tasks[port], completed=msg[2], total=msg[3])
            elif kind == "stage":
                bars.update(tasks[port], description=msg[2])
            elif kind == "done":
                results[port] = msg[2]
                bars.update(tasks[port], description="done")
            elif kind == "error":
                errors[port] = msg[2]
                bars.update(tasks[port], description="failed")
    for proc in procs:
        proc.join(timeout=5)


def attached_ports() -> list[str]:
    from .collect import find_boards

    return [dev for dev, _ in find_boards()]


@click.command()
@click.option("--port", "-p", "ports", multiple=True, help="Serial port or URL (repeat for several boards).")
@click.option("--board", "-b", "board_name", required=True, help="Board definition in boards/ (mobiot boards).")
@click.option("--firmware", type=click.Path(dir_okay=False), help="Local image file instead of the board's.")
@click.option("--baud", default=921600, show_default=True, type=int, help="Baud rate for writing.")
@click.option("--no-provision", is_flag=True, help="Flash only; do not provision afterwards.")
@click.option("--all", "all_ports", is_flag=True, help="Every attached board (USB ids of mobiot collect).")
@click.option("--before", default="default-reset", show_default=True,
              type=click.Choice(["default-reset", "usb-reset", "no-reset"]),
              help="How esptool enters the bootloader (no-reset: the board already waits in it).")
@click.option("--no-stub", is_flag=True, help="Talk to the ROM loader only (slower; no full erase).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON on stdout.")
def flash(ports: tuple[str, ...], board_name: str, firmware: str | None, baud: int, no_provision: bool,
          all_ports: bool, before: str, no_stub: bool, as_json: bool) -> int:
    """Flash MicroPython onto a board with esptool, then provision it.

    The image is the board's (downloaded into ~/.cache/mobiot and checked against
    boards/images.lock) or --firmware FILE. It is checked before anything is erased: an ESP
    image, for the board's chip, fitting its flash. Then: detect the chip, erase, write with
    compression, verify, reset, and provision (unless --no-provision).
    """
    targets = list(ports)
    if all_ports:
        targets += [p for p in attached_ports() if p not in targets]
        if not targets:
            raise MobiotError("--all: no attached board found (USB ids of mobiot collect)")
    if not targets:
        raise MobiotError("give --port PORT (or --all)")
    board = load_board(board_name)
    flash_facts(board)
    image = Path(firmware) if firmware else fetch_image(board)
    check_image(image, board)  # before anything is erased
    results = flash_ports(targets, board_name, image, baud, before, no_stub, progress=sys.stderr.isatty())
    for r in results:
        r["provisioned"] = False
        if not no_provision:
            try:
                from .provision import provision_port  # type: ignore[attr-defined]  # the provisioning issue
            except ImportError as exc:
                raise MobiotError(f"{r['port']}: flashed, but provisioning is not available ({exc}); "
                                  "run with --no-provision") from exc
            r["provision"] = provision_port(r["port"], board_name)
            r["provisioned"] = True
    if as_json:
        print(json.dumps(results, indent=1, default=str))
    else:
        for r in results:
            print(f"{r['port']} {r['chip']} {r['mac']} flashed {r['bytes']} bytes at {r['offset']:#x}"
                  + (", provisioned" if r["provisioned"] else ""))
    return 0
