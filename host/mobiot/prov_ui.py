"""What `mobiot provision` shows while it works: a rich progress bar per board on stderr, one
board or a fleet in parallel (threads: each board waits on its own serial line)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

from . import inventory, prov_board
from .control import lease_port
from .errors import MobiotError
from .prov_link import HELLO_S, Session
from .provision import WHO, firmware, provision_port

_console = Console(stderr=True)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description:<24}"), TextColumn("{task.fields[stage]:<8}"), BarColumn(),
                    DownloadColumn(), TimeElapsedColumn(), console=_console, transient=False)


def _one(bar: Progress, label: str, port: str, board: str, **kw) -> dict:
    task = bar.add_task(label, total=1, stage="wait")

    def prog(stage: str, done: int, total: int) -> None:
        bar.update(task, stage=stage, completed=done, total=max(total, 1))

    def log(msg: str) -> None:
        bar.console.print(f"mobiot: warning: {msg}")

    try:
        return provision_port(port, board, progress=prog, log=log, **kw)
    except MobiotError as exc:
        bar.update(task, stage="FAILED")
        return {"port": port, "board": board, "name": label, "error": str(exc)}


def run_one(port: str, board: str, **kw) -> dict:
    with _progress() as bar:
        return _one(bar, port, port, board, **kw)


def identify(port: str, baud: int, wake_timeout_s: float) -> dict:
    """What a board says about itself (unique id, provisioned device id), then back to work."""
    with lease_port(port, who=WHO):
        s = Session(port, baud=baud, wake_timeout_s=wake_timeout_s)
        try:
            got = s.handshake(min(HELLO_S, wake_timeout_s))
            if got is not None and got[1].get("ok") and got[1].get("uid"):
                # the running firmware says it (`!sum`), and is left running: the device id
                # its hello frame names is its unique id when config.json gives none
                hello, summ = got
                s.release()
                dev = hello.get("device")
                return {"uid": summ["uid"], "device": None if dev == summ["uid"] else dev}
            s.attach()
            out = s.run(prov_board.IDENT, "identify")
            s.restart_firmware()
            return json.loads(out.strip().splitlines()[-1])
        finally:
            s.close()


def run_fleet(path: str, ports: list[str], *, baud: int = 115200, wake_timeout_s: float = 120.0,
              jobs: int = 8, full: bool = False) -> list[dict]:
    entries = inventory.load(path)
    firmware()  # compile once, before the threads start
    serials = {} if ports else inventory.usb_serials()
    if not ports:
        from .collect import find_boards

        ports = [p for p, _desc in find_boards()]
    inventory.match_static(entries, ports, serials)
    if any(e.port is None and e.match_key in ("unique_id", "device_id") for e in entries):
        candidates = [p for p in ports if p not in {e.port for e in entries}]
        idents: dict[str, dict] = {}
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futs = {p: pool.submit(identify, p, baud, wake_timeout_s) for p in candidates}
            for p, f in futs.items():
                try:
                    idents[p] = f.result()
                except MobiotError as exc:
                    _console.print(f"mobiot: warning: {exc}")
        inventory.match_identities(entries, idents)
    results: list[dict] = []
    for e in entries:
        if e.port is None:
            _console.print(f"mobiot: warning: inventory device {e.name!r}: no attached board has "
                           f"{e.match_key} = {e.match_value!r}; skipped")
    todo = [e for e in entries if e.port]
    if not todo:
        raise MobiotError(f"inventory {path}: none of its {len(entries)} devices is attached")
    with _progress() as bar, ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futs = [pool.submit(_one, bar, e.name, str(e.port), e.board, device_id=e.device_id, config=e.config,
                            secrets=e.secrets, baud=baud, wake_timeout_s=wake_timeout_s, full=full) for e in todo]
        for e, f in zip(todo, futs, strict=True):
            r = f.result()
            r["name"] = e.name
            results.append(r)
    return results
