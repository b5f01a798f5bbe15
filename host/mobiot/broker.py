"""A local Mosquitto broker: for `make demo` and the MQTT tests (tests/mqtt_fixtures.py).

Each broker is its own `mosquitto -c FILE` process on a free loopback port, with its config,
persistence file and log in one directory. `stop()` (SIGTERM: Mosquitto saves its database)
and `start()` again is a broker restart on the same port with the same sessions and queued
messages. With `tls` it listens with TLS only (files: `ca`, `server_cert`, `server_key`).
Config keys: mosquitto.conf(5) of Mosquitto 2.0.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Protocol

from . import procs
from .errors import MobiotError

HOST = "127.0.0.1"
# Long deadlines that only a real failure reaches (CI runs on 2 shared cores).
START_DEADLINE_S = 30.0
STOP_DEADLINE_S = 30.0


class TlsFiles(Protocol):
    ca: Path
    server_cert: Path
    server_key: Path


def find_mosquitto() -> str | None:
    """The mosquitto binary: $MOSQUITTO, then PATH, then the sbin directories apt and brew use."""
    env = os.environ.get("MOSQUITTO")
    if env:
        return env
    found = shutil.which("mosquitto")
    if found:
        return found
    for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/opt/homebrew/sbin/mosquitto"):
        if os.access(p, os.X_OK):
            return p
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Mosquitto:
    """One Mosquitto process; `stop()` + `start()` is a restart on the same port and database."""

    def __init__(self, exe: str, d: Path, tls: TlsFiles | None = None, require_certificate: bool = False) -> None:
        self.exe = exe
        self.dir = d
        self.tls = tls
        self.require_certificate = require_certificate
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        d.mkdir(parents=True, exist_ok=True)
        (d / "data").mkdir(exist_ok=True)

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{HOST}:{self.port}"

    @property
    def log(self) -> Path:
        return self.dir / "mosquitto.log"

    def _write_config(self) -> Path:
        lines = [
            f"listener {self.port} {HOST}",
            "allow_anonymous true",
            "persistence true",
            f"persistence_location {self.dir / 'data'}/",
            # Keep every queued QoS 1 message of an offline persistent session (the default
            # max_queued_messages, 1000, would drop the excess for a collector that is away).
            "max_queued_messages 0",
            f"log_dest file {self.log}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "log_type subscribe",
            "connection_messages true",
            # As root mosquitto would switch to user "mosquitto", who may not read this directory.
            f"user {pwd.getpwuid(os.getuid()).pw_name}",
        ]
        if self.tls:
            lines += [
                f"cafile {self.tls.ca}",
                f"certfile {self.tls.server_cert}",
                f"keyfile {self.tls.server_key}",
                f"require_certificate {'true' if self.require_certificate else 'false'}",
            ]
        conf = self.dir / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def _listening(self) -> bool:
        try:
            with socket.create_connection((HOST, self.port), timeout=1.0):
                return True
        except OSError:
            return False

    def start(self) -> Mosquitto:
        if self.proc is not None:
            return self
        for attempt in range(5):
            conf = self._write_config()
            self.proc = subprocess.Popen(
                [self.exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
                preexec_fn=procs.die_with_parent()
            )
            end = time.monotonic() + START_DEADLINE_S
            while time.monotonic() < end:
                if self.proc.poll() is not None:
                    break
                if self._listening():
                    self.starts += 1
                    return self
                time.sleep(0.02)
            err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
            rc = self.proc.poll()
            if rc is None:
                self.proc.kill()
            self.proc.wait()
            self.proc = None
            logtail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            # Another process took our free port between free_port() and bind: take a new one,
            # but only before the first start (a restart must keep its port).
            if self.starts == 0 and "Address already in use" in (err + logtail) and attempt < 4:
                self.port = free_port()
                continue
            raise MobiotError(f"mosquitto did not start (exit {rc}), see {self.log}: {(err or logtail).strip()[-300:]}")
        raise MobiotError(f"mosquitto did not start: no free port on {HOST}")

    def stop(self) -> None:
        """SIGTERM: mosquitto saves its in-memory database (sessions, queued messages) and exits."""
        p, self.proc = self.proc, None
        if p is None:
            return
        procs.stop(p, STOP_DEADLINE_S)
        if p.stderr:
            p.stderr.close()

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""
