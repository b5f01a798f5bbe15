"""Test helpers: start virtual boards, drive them with the real mpremote CLI, watch their ports.

The same helpers take a real board's port (pytest --port): `mpremote()` and `SerialWatch`
do not care whether the port is a pseudo-terminal or /dev/ttyUSB0.

No helper depends on how fast the machine is: each waits for a condition, and its deadline
(WAIT_S) is one that only a real failure reaches, even on 2 loaded cores.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import serial

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WAIT_S = 180  # the deadline of a wait for a board: a hang, never a slow machine, reaches it


class VBoards:
    """`mobiot vboard` as a subprocess: .boards is [(port, device_id)]."""

    def __init__(self, state_dir: Path, count: int = 1, *args: str, baud: int = 115200):
        self.state_dir = Path(state_dir)
        self.log = open(self.state_dir.parent / f"{self.state_dir.name}.vboard.log", "ab")
        cmd = [sys.executable, "-m", "mobiot", "vboard", "--count", str(count), "--state-dir",
               str(self.state_dir), "--baud", str(baud), *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log, cwd=str(ROOT), bufsize=0)
        self.boards: list[tuple[str, str]] = []
        assert self.proc.stdout is not None
        # vboard compiles and seeds every board before it prints them: slow on a loaded
        # machine, but a start that never ends must fail, not hang the suite
        deadline = time.monotonic() + WAIT_S * count
        fd, out = self.proc.stdout.fileno(), b""
        for _ in range(count):
            while b"\n" not in out:
                left = deadline - time.monotonic()
                chunk = os.read(fd, 4096) if left > 0 and select.select([fd], [], [], left)[0] else b""
                if not chunk:
                    break
                out += chunk
            raw, _, out = out.partition(b"\n")
            line = raw.decode().split()
            if len(line) != 2:
                self.stop()
                raise RuntimeError(f"vboard did not start: {line!r}; log: {self.log_text()[-2000:]}")
            self.boards.append((line[0], line[1]))

    def log_text(self) -> str:
        self.log.flush()
        return (self.state_dir.parent / f"{self.state_dir.name}.vboard.log").read_text(errors="replace")

    def pid(self, index: int = 0) -> int:
        did = self.boards[index][1]
        return int((self.state_dir / did / "pid").read_text())

    def kill_board(self, index: int = 0) -> int:
        pid = self.pid(index)
        os.killpg(pid, signal.SIGKILL)
        return pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def __enter__(self) -> VBoards:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def mpremote(port: str, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
    """Run the real mpremote CLI against a port.

    mpremote gives a board 10 s to enter the raw REPL (transport_serial.enter_raw_repl); a
    virtual board still booting on a loaded machine can take longer, and then nothing has run
    yet: that one error is retried until WAIT_S."""
    cmd = [str(BIN / "mpremote"), "connect", port, *args]
    deadline = time.monotonic() + WAIT_S
    while True:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if proc.returncode == 0 or "could not enter raw repl" not in proc.stdout + proc.stderr:
            break
        if time.monotonic() > deadline:
            break
        time.sleep(1)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


class SerialWatch:
    """An open port, read with deadlines: wait for a marker, never sleep for output."""

    def __init__(self, port: str, baud: int = 115200):
        self.ser = serial.serial_for_url(port, baudrate=baud, timeout=0.05)
        self.seen = bytearray()

    def read_until(self, marker: bytes, timeout: float = WAIT_S) -> bytes:
        deadline = time.monotonic() + timeout
        while marker not in self.seen:
            if time.monotonic() > deadline:
                raise AssertionError(f"{marker!r} not seen within {timeout} s; got:\n{bytes(self.seen[-3000:])!r}")
            self.seen += self.ser.read(4096)
        i = self.seen.index(marker) + len(marker)
        out = bytes(self.seen[:i])
        del self.seen[:i]
        return out

    def write(self, data: bytes) -> None:
        self.ser.write(data)

    def close(self) -> None:
        self.ser.close()

    def __enter__(self) -> SerialWatch:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def restart_firmware(port: str, timeout: float = WAIT_S) -> None:
    """Leave the board running its firmware, whatever state a previous tool left it in
    (mpremote leaves it at the REPL): Ctrl-C, friendly REPL, Ctrl-D soft reset, which runs
    boot.py and main.py (ports/esp32/main.c), then wait for the firmware's hello frame."""
    with SerialWatch(port) as s:
        s.write(b"\r\x03\x03\r\x02")
        s.read_until(b">>> ", timeout)
        s.write(b"\x04")
        s.read_until(b"@H ", timeout)
