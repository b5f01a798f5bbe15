"""What `mobiot provision` puts on a board, built on the host: compiled firmware, the device form
of the board file, the validated config, the secrets, and the manifest over all of them.
Contracts: docs/provisioning.md (tree, manifest, firmware id), docs/config.md (config schema).

Nothing here touches a serial port; prov_link.py sends what this builds.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from mobiot_fw import config as fwconfig
from mobiot_fw.cell import models as fwmodels

from . import boarddef
from .errors import MobiotError
from .upy import FIRMWARE_DIR

MANIFEST = "manifest.json"
CONFIG = "config.json"
SECRETS = "secrets.json"
BOARD = "board.json"
# Per-device files: in the manifest (so they are copied only when they change), but not in the
# firmware id, which must be the same on every board that runs the same firmware.
DEVICE_FILES = (CONFIG, SECRETS)
# The firmware's flash queue (firmware/mobiot_fw/app.py Terminal qroot): provisioning never
# writes there, whatever a tree says.
QUEUE_DIRS = ("q", "store")

# Secrets (docs/provisioning.md "Secrets"): section -> keys. Put on the board as secrets.json,
# never in config.json, never printed.
SECRET_KEYS = {
    "modem": ("apn_user", "apn_password", "sim_pin"),
    "mqtt": ("username", "password", "client_id"),
    "tls": ("ca", "cert", "key"),
    "wlan": ("ssid", "password"),  # uplink over network.WLAN (docs/uplink.md)
}
SECRET_ENV_PREFIX = "MOBIOT_SECRET_"
_FW_VERSION = re.compile(r'^(?:FW_)?VERSION\s*=\s*"([^"]+)"', re.M)


# -- board definitions: mobiot.boarddef (load, check, device form) ------------------------------
load_board = boarddef.load


def mpy_cross_version(exe: str) -> tuple[str, int, int]:
    """(version text, .mpy major, .mpy minor) that `exe --version` reports, e.g.
    "MicroPython v1.29.0 on ...; mpy-cross emitting mpy v6.3"."""
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout
    except OSError as exc:
        raise MobiotError(f"mpy-cross {exe}: {exc.strerror}") from exc
    m = re.search(r"MicroPython (v[\w.-]+).*mpy v(\d+)(?:\.(\d+))?", out)  # before 1.20: "mpy v5"
    if not m:
        raise MobiotError(f"mpy-cross {exe}: cannot read its version from {out.strip()[:80]!r}")
    return m.group(1), int(m.group(2)), int(m.group(3) or 0)


def _cache_dir() -> Path:
    base = os.environ.get("MOBIOT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "mobiot")
    return Path(base) / "mpy"


def compile_module(exe: str, tag: str, src: Path, name: str) -> bytes:
    """`src` compiled to .mpy (bytecode only: it runs on any ESP32 of that .mpy version), cached
    by source hash and compiler so that a no-op provision does not run the compiler."""
    text = src.read_bytes()
    key = hashlib.sha256(tag.encode() + b"\0" + name.encode() + b"\0" + text).hexdigest()
    cached = _cache_dir() / key[:2] / f"{key}.mpy"
    if cached.exists():
        return cached.read_bytes()
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".{os.getpid()}.tmp")
    proc = subprocess.run([exe, "-s", name, "-o", str(tmp), str(src)], capture_output=True, text=True)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        msg = (proc.stderr or proc.stdout).strip().splitlines()
        raise MobiotError(f"mpy-cross {src}: {msg[-1] if msg else 'failed'}")
    os.replace(tmp, cached)
    return cached.read_bytes()


def firmware_files(exe: str, tag: str) -> dict[str, bytes]:
    """The firmware tree as it goes on flash: boot.py and main.py as source (the board runs them
    by name), the package compiled to .mpy under lib/ (compiling on the board costs more heap
    than an ESP32 has to spare)."""
    files: dict[str, bytes] = {}
    for name in ("boot.py", "main.py"):
        src = FIRMWARE_DIR / name
        if src.exists():
            files[name] = src.read_bytes()
    pkg = FIRMWARE_DIR / "mobiot_fw"
    srcs = sorted(pkg.rglob("*.py"))

    def one(py: Path) -> tuple[str, bytes]:
        rel = py.relative_to(pkg)
        return f"lib/mobiot_fw/{rel.with_suffix('.mpy').as_posix()}", compile_module(
            exe, tag, py, f"mobiot_fw/{rel.as_posix()}")

    with ThreadPoolExecutor(max_workers=4) as pool:
        for path, data in pool.map(one, srcs):
            files[path] = data
    return files


def fw_version() -> str:
    """The human version string the firmware reports (VERSION in mobiot_fw/__init__.py)."""
    for py in [FIRMWARE_DIR / "mobiot_fw" / "__init__.py", *sorted((FIRMWARE_DIR / "mobiot_fw").rglob("*.py"))]:
        m = _FW_VERSION.search(py.read_text())
        if m:
            return m.group(1)
    return "?"


# -- config and secrets --------------------------------------------------------------------------
def read_data_file(path: str, what: str) -> dict:
    """A TOML (.toml) or JSON file as a dict, or a one-line error naming the file and line."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise MobiotError(f"{what} {path}: {exc.strerror}") from exc
    if p.suffix.lower() == ".toml":
        try:  # the standard library's TOML reader, Python 3.11 and later
            tomllib = importlib.import_module("tomllib")
        except ModuleNotFoundError as exc:
            raise MobiotError(f"{what} {path}: reading TOML needs Python 3.11 or later (or give JSON)") from exc
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise MobiotError(f"{what} {path}: {exc}") from exc
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MobiotError(f"{what} {path}:{exc.lineno}:{exc.colno}: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise MobiotError(f"{what} {path}: must be a table / JSON object")
    return data


def check_config(raw: dict, where: str) -> dict:
    """Validate with the firmware's own validator (mobiot_fw.config, the one schema). On the
    host every error refuses the config: a person is there to fix it (docs/config.md)."""
    why = fwconfig.fatal(raw)
    if why:
        raise MobiotError(f"invalid config: {where}: {why}")
    _cfg, errors = fwconfig.validate(raw, where)
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise MobiotError(f"invalid config: {errors[0].split('; using')[0]}{more}")
    return raw


def check_uplink(cfg: dict, board: dict, where: str) -> None:
    """An enabled uplink's transport must exist on the board (docs/config.md uplink.transport):
    `modem` and `ppp` need its modem, `ppp` a model with PPP dial-up (cell/models.py "ppp").
    The board would only send config_fallback and run without an uplink."""
    up = cfg.get("uplink") or {}
    tr = up.get("transport", "modem")
    if not up.get("enabled") or tr not in ("modem", "ppp"):
        return
    modem = board.get("modem") or {}
    name = board.get("name", "?")
    if not modem.get("model") or (cfg.get("modem") or {}).get("enabled") is False:
        raise MobiotError(f"invalid config: {where}: uplink.transport={tr!r} needs a modem, and board {name} "
                          "has none (or modem.enabled is false); use wlan, or disable the uplink")
    if tr == "ppp" and "\nppp " not in fwmodels.row(modem["model"])[1]:
        raise MobiotError(f"invalid config: {where}: uplink.transport='ppp': board {name}'s modem "
                          f"{modem['model']} has no PPP dial-up (firmware cell/models.py)")


def check_secrets(raw: dict, where: str) -> dict:
    """Secrets by section (SECRET_KEYS); errors name the key, never the value."""
    out: dict = {}
    for sec, vals in raw.items():
        if sec not in SECRET_KEYS or not isinstance(vals, dict):
            raise MobiotError(f"secrets {where}: unknown section {sec!r} (known: {', '.join(SECRET_KEYS)})")
        for k, v in vals.items():
            if k not in SECRET_KEYS[sec]:
                raise MobiotError(f"secrets {where}: unknown key {sec}.{k} (known: {', '.join(SECRET_KEYS[sec])})")
            if not isinstance(v, str):
                raise MobiotError(f"secrets {where}: {sec}.{k} must be a string")
            out.setdefault(sec, {})[k] = v
    return out


def load_secrets(path: str | None, env: dict[str, str] | None = None) -> dict:
    """Secrets from a file (TOML/JSON; $MOBIOT_SECRETS names one when `path` is None), then
    MOBIOT_SECRET_<SECTION>_<KEY> variables, which win. A file others can read is refused."""
    env = dict(os.environ if env is None else env)
    path = path or env.get("MOBIOT_SECRETS")
    out: dict = {}
    if path:
        try:
            mode = os.stat(path).st_mode
        except OSError as exc:
            raise MobiotError(f"secrets {path}: {exc.strerror}") from exc
        if mode & 0o077:
            raise MobiotError(f"secrets {path}: readable by others (mode {mode & 0o777:o}); chmod 600 it")
        out = check_secrets(read_data_file(path, "secrets"), path)
    for sec, keys in SECRET_KEYS.items():
        for k in keys:
            v = env.get(f"{SECRET_ENV_PREFIX}{sec.upper()}_{k.upper()}")
            if v is not None:
                out.setdefault(sec, {})[k] = v
    return out


def secret_values(secrets: dict) -> list[str]:
    return [v for sec in secrets.values() for v in sec.values() if v]


# -- the tree ------------------------------------------------------------------------------------
def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def firmware_id(files: dict[str, str]) -> str:
    """Short hash over the manifest's firmware entries (path and sha256, sorted): the same
    firmware gives the same id on every board; config and secrets do not count."""
    h = hashlib.sha256()
    for path in sorted(files):
        if path not in DEVICE_FILES:
            h.update(f"{path} {files[path]}\n".encode())
    return h.hexdigest()[:8]


def device_digest(files: dict[str, bytes]) -> str:
    """What a running board answers to `!sum` for its per-device files (docs/provisioning.md
    "Nothing changed", firmware/mobiot_fw/link/filesum.py): the first 16 hex digits of sha256
    over "<path> <sha256>\n" of each DEVICE_FILES entry present, in path order."""
    h = hashlib.sha256()
    for path in sorted(DEVICE_FILES):
        if path in files:
            h.update(f"{path} {sha256(files[path])}\n".encode())
    return h.hexdigest()[:16]


@dataclass
class Tree:
    """What one board gets: files (path -> bytes) and their manifest."""

    board: str
    device_id: str | None
    files: dict[str, bytes]
    manifest: dict
    secrets: list[str] = field(default_factory=list, repr=False)

    @property
    def fwid(self) -> str:
        return self.manifest["fwid"]

    @property
    def raw_bytes(self) -> int:
        return sum(len(d) for d in self.files.values())


def build_tree(board_name: str, config: dict | None, secrets: dict | None, device_id: str | None,
               fw: dict[str, bytes]) -> Tree:
    """The whole tree for one board. `fw` is firmware_files() (built once for a fleet)."""
    board = load_board(board_name)
    cfg = dict(config or {})
    if device_id:
        cfg["device_id"] = device_id
    cfg["board"] = board_name
    check_config(cfg, CONFIG)
    check_uplink(cfg, board, CONFIG)
    files = dict(fw)
    files[BOARD] = boarddef.device_json(board).encode()
    files[CONFIG] = (json.dumps(cfg, separators=(",", ":")) + "\n").encode()
    if secrets:
        files[SECRETS] = (json.dumps(secrets, separators=(",", ":")) + "\n").encode()
    for path in files:
        if path.split("/", 1)[0] in QUEUE_DIRS or path == MANIFEST or ".." in path.split("/"):
            raise MobiotError(f"tree: {path} may not be provisioned (queue or manifest)")
    hashes = {p: sha256(d) for p, d in sorted(files.items())}
    manifest = {"v": 1, "fw": fw_version(), "fwid": firmware_id(hashes), "board": board_name, "files": hashes}
    return Tree(board_name, cfg.get("device_id") or None, files, manifest, secret_values(secrets or {}))
