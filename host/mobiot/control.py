"""The local control channel to a running `mobiot collect` (one seam, built once).

Tools that need a board's serial port while a collector holds it (`mobiot provision`,
`mobiot flash`, `mobiot monitor`) and `mobiot send`, which reaches a board over the port a
collector holds, talk to that collector through this module only. Its protocol and socket
location are documented in docs/collector.md ("Control channel").

This first version is the interface only: no collector answers yet, so `lease_port` has nothing
to ask and `send_command` finds no collector. The collector-trust issue fills in both sides.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .errors import MobiotError


@contextmanager
def lease_port(port: str, who: str) -> Iterator[None]:
    """Hold `port` for the duration of the block: a running collector that has it open lets go
    of just that port and takes it back when the block ends (the other ports keep streaming).
    `who` names the tool for the collector's log, for example "mobiot provision"."""
    yield


def send_command(device: str, line: str, timeout_s: float = 10.0) -> dict:
    """Send one host -> board command line (docs/protocol.md, `!verb args*XX`) to `device`
    through the collector that holds its port, and return the board's reply frame payload."""
    raise MobiotError(f"send {device}: no running collector holds a port for that device")
