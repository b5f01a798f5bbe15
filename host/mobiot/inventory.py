"""Fleet inventories for `mobiot provision --inventory fleet.toml` (format: README.md
"Provisioning a fleet", docs/provisioning.md "Inventory").

    [defaults]                 # optional; every key may be overridden per device
    board = "lilygo-t-sim7080g-s3"
    config = "site.toml"       # a file (relative to the inventory) or an inline table
    secrets = "secrets.toml"   # a file only: secrets never sit in the inventory

    [[device]]
    name = "pump-north"        # optional label
    device_id = "356938035643809"
    match = { usb_serial = "A50285BI" }   # or port, unique_id, device_id
    config = { interval_s = 300 }         # merged over the defaults' config

A board is matched by its port, its USB serial number, or what it says about itself: its
`machine.unique_id()` in hex (the MAC on an ESP32) or the device id it was provisioned with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .errors import MobiotError
from .prov_build import read_data_file

MATCH_KEYS = ("port", "usb_serial", "unique_id", "device_id")
DEVICE_KEYS = ("name", "board", "device_id", "match", "config", "secrets")


@dataclass
class Entry:
    name: str
    board: str
    match_key: str
    match_value: str
    device_id: str | None = None
    config: dict = field(default_factory=dict)
    secrets: str | None = None
    port: str | None = None  # filled in by matching


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _config(value, where: str, root: Path) -> dict:
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        return read_data_file(str(root / value), "config")
    raise MobiotError(f"{where}: config must be a file name or a table")


def load(path: str) -> list[Entry]:
    data = read_data_file(path, "inventory")
    root = Path(path).resolve().parent
    unknown = set(data) - {"defaults", "device"}
    if unknown:
        raise MobiotError(f"inventory {path}: unknown section {sorted(unknown)[0]!r} (use [defaults], [[device]])")
    dflt = data.get("defaults") or {}
    devices = data.get("device") or []
    if not isinstance(devices, list) or not devices:
        raise MobiotError(f"inventory {path}: no [[device]] entries")
    base_cfg = _config(dflt.get("config"), f"inventory {path} [defaults]", root)
    out: list[Entry] = []
    seen: set[tuple[str, str]] = set()
    for i, d in enumerate(devices, 1):
        where = f"inventory {path} device #{i}"
        if not isinstance(d, dict):
            raise MobiotError(f"{where}: must be a table")
        bad = set(d) - set(DEVICE_KEYS)
        if bad:
            raise MobiotError(f"{where}: unknown key {sorted(bad)[0]!r} (known: {', '.join(DEVICE_KEYS)})")
        match = d.get("match")
        if not isinstance(match, dict) or len(match) != 1 or next(iter(match)) not in MATCH_KEYS:
            raise MobiotError(f"{where}: match must be one of {', '.join(MATCH_KEYS)}, "
                              f"e.g. match = {{ port = \"/dev/ttyUSB0\" }}")
        key, value = next(iter(match.items()))
        if (key, str(value)) in seen:
            raise MobiotError(f"{where}: {key} = {value!r} is matched by an earlier device too")
        seen.add((key, str(value)))
        board = d.get("board") or dflt.get("board")
        if not board:
            raise MobiotError(f"{where}: no board (give board = \"NAME\" here or in [defaults])")
        secrets = d.get("secrets", dflt.get("secrets"))
        if secrets is not None and not isinstance(secrets, str):
            raise MobiotError(f"{where}: secrets must be a file name (secrets never sit in the inventory)")
        out.append(Entry(
            name=str(d.get("name") or d.get("device_id") or f"{key}={value}"), board=board, match_key=key,
            match_value=str(value), device_id=d.get("device_id"),
            config=_merge(base_cfg, _config(d.get("config"), where, root)),
            secrets=str(root / secrets) if secrets else None))
    return out


def usb_serials() -> dict[str, str]:
    """USB serial number -> port of attached serial devices (pyserial's list_ports)."""
    from serial.tools import list_ports

    return {p.serial_number: p.device for p in list_ports.comports() if p.serial_number}


def match_static(entries: list[Entry], ports: list[str], serials: dict[str, str]) -> None:
    """Match by port and USB serial number (no board contact needed)."""
    for e in entries:
        if e.match_key == "port" and (not ports or e.match_value in ports):
            e.port = e.match_value
        elif e.match_key == "usb_serial" and e.match_value in serials:
            e.port = serials[e.match_value]


def match_identities(entries: list[Entry], idents: dict[str, dict]) -> None:
    """Match by what boards said about themselves: port -> {"uid": ..., "device": ...}."""
    taken = {e.port for e in entries if e.port}
    for e in entries:
        if e.port or e.match_key not in ("unique_id", "device_id"):
            continue
        field_ = "uid" if e.match_key == "unique_id" else "device"
        for port, ident in idents.items():
            if port not in taken and str(ident.get(field_) or "").lower() == e.match_value.lower():
                e.port = port
                taken.add(port)
                break
