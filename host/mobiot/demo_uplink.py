"""The demo's cellular board (`make demo`, issue 13): one virtual board that reports only over its
cellular uplink, to a local Mosquitto that the demo starts and stops.

Its records reach the same collector, and so the same database, through `collect --mqtt`
(docs/collector.md "MQTT ingest"); the dashboard's `via` column shows `mqtt` for it. Its serial
port is never given to the collector: the uplink is its only way out.

The board needs the firmware's uplink and the modem simulator's sockets (docs/uplink.md),
which `mobiot vboard --uplink URL` switches on. `not_ready()` says why the demo runs without
this board when either that or the broker is missing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from . import procs
from .broker import Mosquitto, find_mosquitto
from .errors import MobiotError
from .upy import data_dir

# The vboard option that points a board's uplink at a broker (docs/uplink.md).
VBOARD_UPLINK_OPTION = "--uplink"
# Board ids after the serial boards' (vboard --first).
FIRST_INDEX = 10
SCENARIO = data_dir("scenarios") / "strong-ltem.json"


# The uplink section of a cellular board's config (docs/config.md, docs/uplink.md): JSON, so
# that the collector's dashboard shows the records as they are; a short keepalive and backoff
# so that a demo board is back within seconds of a broker restart.
UPLINK_CONFIG = {"enabled": True, "transport": "modem", "encoding": "json", "keepalive_s": 60,
                 "backoff_s": 1, "backoff_max_s": 30}


def uplink_board(board, url: str) -> None:
    """Make a vboard.Board report over its uplink to `url` (mqtt://host:port): its seeded
    config enables the uplink, and its simulation loads the modem's socket commands
    (sim/sim_sockets.py), which open real TCP connections on the host."""
    from .mqtt_ingest import BrokerUrl

    u = BrokerUrl(url)
    if u.tls:
        raise MobiotError(f"--uplink {url}: a virtual board's uplink is plain MQTT here (mqtt://)")
    up = dict(UPLINK_CONFIG, host=u.host, port=u.port)
    if u.username:
        up.update(user=u.username, password=u.password or "")
    board.extra_config = {"uplink": up, "modem": {"apn": "iot.demo"}}


def not_ready() -> str | None:
    """Why the cellular board cannot run here, or None when it can."""
    if find_mosquitto() is None:
        return "mosquitto not found (`make setup` installs it; or set MOSQUITTO=/path/to/mosquitto)"
    from .vboard import vboard

    opts = {o for p in vboard.params for o in getattr(p, "opts", ())}
    if VBOARD_UPLINK_OPTION not in opts:
        return f"the virtual board has no cellular uplink yet (no `mobiot vboard {VBOARD_UPLINK_OPTION}`)"
    return None


class CellularBoard:
    """A local broker and one virtual board reporting to it over its uplink only."""

    def __init__(self, out: Path) -> None:
        exe = find_mosquitto()
        if exe is None:
            raise MobiotError("mosquitto not found")
        self.out = out
        self.broker = Mosquitto(exe, out / "broker")
        self.proc: subprocess.Popen | None = None
        self.device = ""
        self._log = None

    @property
    def url(self) -> str:
        return self.broker.url

    def start(self) -> CellularBoard:
        self.broker.start()
        self._log = open(self.out / "vboard-cellular.log", "wb")  # noqa: SIM115 - closed in stop()
        cmd = [sys.executable, "-m", "mobiot", "vboard", "--count", "1", "--first", str(FIRST_INDEX),
               "--state-dir", str(self.out / "boards"), "--scenario", str(SCENARIO),
               VBOARD_UPLINK_OPTION, self.broker.url]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._log, start_new_session=True,
                                     preexec_fn=procs.die_with_parent())  # a killed demo takes it along
        assert self.proc.stdout is not None
        parts = self.proc.stdout.readline().decode().split()
        if len(parts) != 2:
            self.stop()
            raise MobiotError(f"the cellular virtual board did not start; see {self.out / 'vboard-cellular.log'}")
        self.device = parts[1]
        click.echo(f"board {self.device} over its cellular uplink to {self.broker.url} (serial port unused)", err=True)
        return self

    def stop(self) -> None:
        """The board first (its unacked records stay in its flash queue), then the broker."""
        p, self.proc = self.proc, None
        if p is not None:
            procs.stop(p)
        if self._log is not None:
            self._log.close()
            self._log = None
        self.broker.stop()


def start_cellular_board(out: Path) -> CellularBoard | None:
    """The demo's hook: the started board and broker, or None (saying why) when it cannot run."""
    why = not_ready()
    if why is not None:
        click.echo(f"demo: no cellular-uplink board: {why}", err=True)
        return None
    return CellularBoard(out).start()
