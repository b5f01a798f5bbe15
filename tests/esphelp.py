"""Test helpers for flashing: an emulated board with erased flash (mobiot.espboard) run in a
thread of the test process, and the real esptool CLI (a subprocess) pointed at it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from mobiot import espimage
from mobiot.espboard import ErasedBoard
from mobiot.vboard import compile_sim

ROOT = Path(__file__).resolve().parents[1]
OFFSET = {"esp32": 0x1000, "esp32s3": 0x0}
BOARD = {"esp32": "sim", "esp32s3": "sim-s3"}


class EmulatedBoard:
    """One ErasedBoard, pumped by a thread until stop(). `pause` freezes it (a hung board)."""

    def __init__(self, state_dir: Path, board: str = "sim", index: int = 0):
        self.state_dir = Path(state_dir)
        compile_sim(self.state_dir / ".sim-mpy")
        self.b = ErasedBoard(index, self.state_dir, 115200, None, "384k", board)
        self.b.prepare()
        self.b.start()
        self.port, self.url = self.b.port, self.b.url
        self.flash_path = self.b.dir / "flash.bin"
        self.stopping = threading.Event()
        self.pause = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.is_set():
            if self.pause.is_set():
                time.sleep(0.01)
                continue
            self.b.step(0.05)

    def flash(self, addr: int = 0, n: int | None = None) -> bytes:
        data = self.flash_path.read_bytes()
        return data[addr:] if n is None else data[addr:addr + n]

    def wait_for(self, cond, timeout_s: float = 60.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout_s
        while not cond():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.05)

    def app_running(self) -> bool:
        """MicroPython is up: its process runs and has mounted its flash (vboot.py's mark)."""
        return self.b.proc is not None and self.b.rom is None and not self.b.booting

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        self.b.stop()


def esptool(port: str, *args: str, stub: bool = True, before: str = "no-reset", after: str = "no-reset",
            baud: int = 921600, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    """The real esptool CLI (pinned in requirements.txt) against `port`."""
    cmd = [sys.executable, "-m", "esptool", "--port", port, "--before", before, "--after", after,
           "--baud", str(baud)]
    if not stub:
        cmd.append("--no-stub")
    env = dict(os.environ, ESPTOOL_CFGFILE=str(ROOT / "tests" / "data" / "esptool.cfg"))  # (its comment says why)
    proc = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout, cwd=str(ROOT), env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"esptool {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return proc


def image(tmp: Path, chip: str = "esp32", app_size: int = 48 * 1024, seed: int = 1) -> tuple[Path, bytes]:
    data = espimage.build_image(chip, app_size, seed)
    path = Path(tmp) / f"{chip}-{seed}.bin"
    path.write_bytes(data)
    return path, data


def mobiot(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    import os

    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "mobiot", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=str(ROOT), env=e)
