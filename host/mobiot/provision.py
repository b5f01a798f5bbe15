"""`mobiot provision`: firmware, per-device config and secrets onto a board, or a whole fleet.
Contract: docs/provisioning.md (steps, flash layout, manifest, bad input); docs/config.md.

One board: provision_port(). A fleet: provision_fleet() with an inventory (mobiot.inventory).
Every use of a board's port is wrapped in mobiot.control.lease_port, so a running collector
lets go of that port meanwhile.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable

import click

from . import prov_board
from .control import lease_port
from .errors import MobiotError
from .prov_build import (
    Tree,
    build_tree,
    check_config,
    check_uplink,
    device_digest,
    firmware_files,
    load_board,
    load_secrets,
    mpy_cross_version,
    read_data_file,
)
from .prov_link import HELLO_S, Session
from .upy import mpy_cross

WHO = "mobiot provision"
# Flash kept free beyond what the new files and their backups take: littlefs needs spare
# blocks to rename and to grow its metadata (the firmware's queue lives there too).
FREE_MARGIN = 16 * 1024

_fw_lock = threading.Lock()
_fw_cache: dict[str, tuple[tuple[str, int, int], dict[str, bytes]]] = {}


def firmware(exe: str | None = None) -> tuple[tuple[str, int, int], dict[str, bytes]]:
    """(mpy-cross version, compiled firmware files): built once per process and compiler."""
    exe = exe or mpy_cross()
    with _fw_lock:
        if exe not in _fw_cache:
            ver = mpy_cross_version(exe)
            _fw_cache[exe] = (ver, firmware_files(exe, f"{exe} {ver[0]} {ver[1]}.{ver[2]}"))
        return _fw_cache[exe]


def _as_dict(value, what: str) -> dict | None:
    if value is None or isinstance(value, dict):
        return value
    return read_data_file(str(value), what)


def check_board_runtime(port: str, board_name: str, board: dict, impl: list, mpy: tuple[str, int, int],
                        warn: Callable[[str], None]) -> None:
    """Refuse a board whose MicroPython cannot load this .mpy; warn on another release."""
    name, version, board_mpy, _platform = impl
    if name != "micropython":
        raise MobiotError(f"{port}: runs {name}, not MicroPython: flash MicroPython first (mobiot flash)")
    want = board.get("micropython") or {}
    flash_hint = f"flash {want['file']} (mobiot flash --port {port} --board {board_name})" if want.get("file") \
        else f"flash MicroPython {mpy[0].lstrip('v')} (mobiot flash --port {port} --board {board_name})"
    have_ver = ".".join(str(x) for x in version)
    if board_mpy is None:
        raise MobiotError(f"{port}: MicroPython {have_ver} does not report its .mpy version (too old): {flash_hint}")
    major, minor = board_mpy & 0xFF, (board_mpy >> 8) & 3
    if (major, minor) != (mpy[1], mpy[2]):
        raise MobiotError(f"{port}: MicroPython {have_ver} loads .mpy v{major}.{minor}, but mpy-cross {mpy[0]} "
                          f"makes v{mpy[1]}.{mpy[2]}: {flash_hint}")
    if want.get("version") and want["version"] != have_ver:
        warn(f"{port}: board runs MicroPython {have_ver}, boards/{board_name}.json says {want['version']}")


def provision_port(port: str, board: str, *, device_id: str | None = None, config=None, secrets=None,
                   baud: int = 115200, wake_timeout_s: float = 120.0, verify_timeout_s: float = 120.0,
                   hello_timeout_s: float = HELLO_S, full: bool = False,
                   progress: Callable[[str, int, int], None] | None = None,
                   log: Callable[[str], None] | None = None, mpy_cross_exe: str | None = None) -> dict:
    """Provision one board on `port` with boards/<board>.json, config (dict or TOML/JSON file)
    and secrets (dict, file, or None for $MOBIOT_SECRETS / MOBIOT_SECRET_* variables). Returns a
    summary (never holding a secret). Raises MobiotError with one line on any failure.

    A running firmware that is up to date is asked so (up to `hello_timeout_s`) and left
    running, untouched: "noop" and not "reset" in the summary. `full`: skip that question, stop
    the firmware and compare every file on flash (docs/provisioning.md "Nothing changed")."""
    t0 = time.monotonic()
    say = log or (lambda m: print(m, file=sys.stderr, flush=True))
    prog = progress or (lambda _stage, _done, _total: None)
    board_def = load_board(board)
    cfg = _as_dict(config, "config")
    if cfg is not None:
        where = str(config) if not isinstance(config, dict) else "config"
        check_config({**cfg, **({"device_id": device_id} if device_id else {})}, where)
        check_uplink(cfg, board_def, where)
    sec = secrets if isinstance(secrets, dict) else load_secrets(secrets)
    mpy, fw = firmware(mpy_cross_exe)
    tree = build_tree(board, cfg, sec, device_id, fw)  # a bad config fails before the port is opened
    with lease_port(port, who=WHO):
        s = Session(port, baud=baud, wake_timeout_s=wake_timeout_s, log=say)
        try:
            if not full:
                done = _up_to_date(s, port, board, cfg, sec, device_id, tree, fw, t0, hello_timeout_s)
                if done is not None:
                    prog("done", 1, 1)
                    return done
            return _provision(s, port, board, board_def, cfg, sec, device_id, tree, mpy, fw, t0, say, prog,
                              verify_timeout_s)
        finally:
            s.close()


def _up_to_date(s: Session, port: str, board: str, cfg: dict | None, sec: dict, device_id: str | None,
                tree: Tree, fw, t0: float, hello_timeout_s: float) -> dict | None:
    """The summary of a no-op if the running firmware is up to date, else None (the board is
    then still running, or held awake by `!hello`, for the full path to stop it). Up to date:
    its hello frame's fwid is this tree's (firmware files and board.json, as its manifest
    lists them), its `!sum` digest of config.json and secrets.json as they are on flash now is
    this tree's, and no provisioning run left files behind."""
    got = s.handshake(min(hello_timeout_s, s.wake_timeout_s))
    if got is None:
        return None
    hello, summ = got
    if not summ.get("ok") or not summ.get("clean") or hello.get("fwid") != tree.fwid:
        return None
    trees = [tree]
    if not tree.device_id:
        # the full path keeps the id the board's config.json has, or none (the firmware then
        # uses its unique id): either is the board's own, and the hello frame names it
        try:
            trees.insert(0, build_tree(board, cfg, sec, hello.get("device"), fw))
        except MobiotError:
            pass
    same = next((t for t in trees if device_digest(t.files) == summ.get("devsum")), None)
    if same is None:
        return None
    if not s.release():
        s.log(f"{port}: up to date, but the board did not answer !bye: it stays awake until its next reset")
    return {"port": port, "board": board, "device_id": hello.get("device"), "fw": same.manifest["fw"],
            "fwid": same.fwid, "copied": [], "removed": [], "unchanged": len(same.files),
            "raw_bytes": same.raw_bytes, "uid": summ.get("uid"), "noop": True, "reset": False,
            "wire_bytes": s.wire_bytes,
            "seconds": round(time.monotonic() - t0, 3)}


def _provision(s: Session, port: str, board: str, board_def: dict, cfg: dict | None, sec: dict,
               device_id: str | None, tree: Tree, mpy, fw, t0: float, say, prog, verify_timeout_s: float) -> dict:
    prog("connect", 0, 1)
    s.attach()
    info = s.probe(sorted(tree.files))
    check_board_runtime(port, board, board_def, info["impl"], mpy, say)
    if not tree.device_id:
        # Keep the id the board already has; else the firmware's default, its unique id.
        keep = info.get("device") or None
        if keep:
            tree = build_tree(board, cfg, sec, keep, fw)
    expect_id = tree.device_id or info.get("uid")
    want = tree.manifest["files"]
    have = info["hash"]
    send = [p for p in sorted(want) if have.get(p) != want[p]]
    remove = [p for p in info.get("mfiles", []) if p not in want and have.get(p) is not None]
    result = {"port": port, "board": board, "device_id": expect_id, "fw": tree.manifest["fw"], "fwid": tree.fwid,
              "copied": send, "removed": remove, "unchanged": len(want) - len(send),
              "raw_bytes": tree.raw_bytes, "uid": info.get("uid")}
    if not send and not remove and info.get("fwid") == tree.fwid and sorted(info.get("mfiles", [])) == sorted(want):
        s.restart_firmware()
        result.update(noop=True, reset=True, wire_bytes=s.wire_bytes, seconds=round(time.monotonic() - t0, 3))
        prog("done", 1, 1)
        return result
    if info.get("rw"):
        raise MobiotError(f"{port}: flash is read-only (errno {info['rw']} writing a test file); nothing was changed")
    need = sum(len(tree.files[p]) for p in send) * 2 + FREE_MARGIN
    if info.get("free") is not None and info["free"] < need:
        raise MobiotError(f"{port}: flash full: {info['free']} bytes free, provisioning needs {need} "
                          f"(new files, their backups and {FREE_MARGIN} spare); nothing was changed")
    manifest = json.dumps(dict(tree.manifest, apply=send, remove=remove), separators=(",", ":")).encode()
    s.soft_reset_raw()  # the probe's globals gone too: the decompressor's 16 KiB window in one piece
    s.stream([(p, tree.files[p]) for p in send] + [("manifest.tmp", manifest)], lambda d, t: prog("copy", d, t))
    s.run(prov_board.COMMIT, "commit")
    prog("verify", 0, 1)
    s.restart_firmware()
    hello = s.wait_hello(verify_timeout_s)
    problem = _verify_problem(hello, expect_id, tree, verify_timeout_s)
    s.attach()
    if problem:
        s.run(prov_board.ROLLBACK % {"apply": send, "remove": remove}, "rollback")
        s.restart_firmware()
        raise MobiotError(f"{port}: verify failed: {problem}; rolled back to the previous files")
    dirs = sorted({p.rsplit("/", 1)[0] for p in remove if "/" in p}, key=len, reverse=True)
    try:
        s.run(prov_board.CLEANUP % {"paths": send + remove, "dirs": dirs}, "cleanup")
        s.restart_firmware()
    except MobiotError as exc:  # verified already: the next run's probe removes the backups
        say(f"{port}: verified, but the previous files' backups are still on flash ({exc})")
    result.update(noop=False, reset=True, wire_bytes=s.wire_bytes, seconds=round(time.monotonic() - t0, 3),
                  fwid_reported=bool(hello and hello.get("fwid")))
    prog("done", 1, 1)
    return result


def _verify_problem(hello: dict | None, expect_id: str | None, tree: Tree, timeout_s: float) -> str | None:
    if hello is None:
        return f"no hello frame from the new firmware within {timeout_s:g} s"
    if hello.get("crashed"):
        return "the new firmware crashed at boot (a crash event or safe mode before its hello)"
    if expect_id and hello.get("device") != expect_id:
        return f"board says device {hello.get('device')!r}, expected {expect_id!r}"
    if hello.get("fwid"):
        if hello["fwid"] != tree.fwid:
            return f"board runs firmware {hello['fwid']}, expected {tree.fwid}"
    elif hello.get("fw") != tree.manifest["fw"]:
        return f"board runs firmware {hello.get('fw')!r}, expected {tree.manifest['fw']!r}"
    return None


# -- the command ---------------------------------------------------------------------------------
@click.command()
@click.option("--port", "ports", multiple=True, help="Serial port or URL (socket://, rfc2217://); "
              "with --inventory: the ports to consider (repeat), default all USB serial boards.")
@click.option("--board", help="Board definition name (boards/NAME.json).")
@click.option("--device-id", help="Device id to give the board (default: keep its own, else its unique id).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Per-device config, TOML or JSON.")
@click.option("--secrets", "secrets_file", type=click.Path(dir_okay=False),
              help="Secrets file (TOML/JSON, mode 0600); default $MOBIOT_SECRETS and MOBIOT_SECRET_* variables.")
@click.option("--inventory", type=click.Path(dir_okay=False),
              help="Fleet inventory (TOML): provision every listed board that is attached.")
@click.option("--baud", default=115200, show_default=True, type=int)
@click.option("--wake-timeout", default=120.0, show_default=True, type=float,
              help="How long to wait for a sleeping board's next wake (s).")
@click.option("--full", is_flag=True, help="Stop the firmware and compare every file on flash even when the "
              "running firmware reports it is up to date.")
@click.option("--jobs", default=8, show_default=True, type=int, help="Boards provisioned at once (fleet).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
def provision(ports: tuple[str, ...], board: str | None, device_id: str | None, config_file: str | None,
              secrets_file: str | None, inventory: str | None, baud: int, wake_timeout: float, full: bool,
              jobs: int, as_json: bool) -> int:
    """Put firmware, config and secrets on a board (--port, --board) or a fleet (--inventory).

    Only files whose sha256 differs are sent, compressed; the switch to the new set is atomic,
    and a board that does not come back with the expected device id and firmware is rolled back.
    A running board that is already up to date is left running, untouched.
    """
    from .prov_ui import run_fleet, run_one

    if inventory:
        results = run_fleet(inventory, list(ports), baud=baud, wake_timeout_s=wake_timeout, jobs=jobs, full=full)
    else:
        if len(ports) != 1 or not board:
            raise MobiotError("provision: give --port and --board (one board), or --inventory FILE (a fleet)")
        results = [run_one(ports[0], board, device_id=device_id, config=config_file, secrets=secrets_file,
                           baud=baud, wake_timeout_s=wake_timeout, full=full)]
    if as_json:
        print(json.dumps(results if inventory else results[0], indent=1))
    else:
        for r in results:
            if r.get("error"):
                continue
            what = f"{len(r['copied'])} copied, {len(r['removed'])} removed"
            if r["noop"]:
                what = "unchanged" if r["reset"] else "up to date, left running"
            print(f"{r['port']}\t{r['device_id']}\tfw {r['fw']} {r['fwid']}\t{what}\t{r['seconds']} s")
    failed = [r for r in results if r.get("error")]
    if failed:
        if len(failed) == 1 and not inventory:
            raise MobiotError(failed[0]["error"])
        raise MobiotError(f"{len(failed)} of {len(results)} boards failed: " + "; ".join(r["error"] for r in failed))
    return 0
