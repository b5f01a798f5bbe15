"""Virtual boards: the MicroPython unix port running mobiot firmware behind pseudo-terminals.

Each board is a `micropython -i sim/vboot.py` process on a pseudo-terminal of its own (the
"inner" pty); vboard copies bytes between it and the pty that host tools open (the "outer"
pty, printed as the board's port), and on the way does what the ESP32 board would:

- throttles both directions to the baud rate, and garbles them when the host opens the port
  at another baud;
- turns a lone "\\n" into "\\r\\n", as the ESP32 port's cooked stdout does;
- comes back from a soft reset (the unix process exits on Ctrl-D) with "MPY: soft reboot" and,
  in the raw REPL, in the raw REPL again without running main.py, as ports/esp32/main.c does;
- boots again like a power-on (ROM banner, boot.py, main.py) when the process dies (kill -9,
  crash), when the firmware calls machine.reset(), and after a simulated deep sleep.

The board's flash is a littlefs image in STATE_DIR/<device-id>/flash.img that outlives vboard.
Written by hand because no library emulates a MicroPython board's serial console; the REPL,
raw REPL and raw-paste protocols themselves are the real ones of the unix port.
"""

from __future__ import annotations

import json
import os
import random
import re
import select
import shutil
import signal
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import click

from . import boarddef, vbinterp
from .errors import MobiotError
from .procs import die_with_parent
from .upy import FIRMWARE_DIR, SIM_DIR, micropython, mpy_cross
from .vbmount import MountFrames

FLASH_SIZE = 2 * 1024 * 1024  # the "vfs" partition of a 4 MB ESP32 (ports/esp32/partitions-4MiB.csv)
RAW_MARK = b"\x1b[vboard-raw]"  # sim/vboot.py: raw-REPL soft reset, the REPL banner follows
UP_MARK = b"\x1b[vboard-up]"  # sim/vboot.py: flash mounted, the board reads its UART from now
SLEEP_MARK = re.compile(rb"\x1b\[vboard-sleep (\d+)\]\r?\n?")  # sim/machine.py deepsleep()
RESET_MARK = re.compile(rb"\x1b\[vboard-reset\]\r?\n?")  # sim/machine.py reset()
WDT_FILE = "wdt"  # sim/simworld.py WDT_FILE: "<timeout ms>" written at every feed (its mtime)
WDT_CHECK_S = 0.1  # how often the watchdog file is looked at
RAW_BANNER = b"raw REPL; CTRL-B to exit"
FRIENDLY_BANNER = b'Type "help()" for more information.'

# Exit codes of the board process (sim/machine.py) and the reset cause each one boots with
# (machine.reset_cause() values of the ESP32 port, ports/esp32/modmachine.c).
PWRON_RESET, HARD_RESET, WDT_RESET, DEEPSLEEP_RESET, SOFT_RESET = 1, 2, 3, 4, 5
EXIT_HARD_RESET, EXIT_DEEPSLEEP, EXIT_WDT = 42, 43, 44

# What the ESP32 ROM bootloader prints at power-on (at 115200 whatever the app's baud), with
# its rst: code (ESP32 TRM, "Reset and Clock", reset sources).
ROM_RST = {
    PWRON_RESET: "0x1 (POWERON_RESET)",
    HARD_RESET: "0xc (SW_CPU_RESET)",
    WDT_RESET: "0x7 (TG0WDT_SYS_RESET)",
    DEEPSLEEP_RESET: "0x5 (DEEPSLEEP_RESET)",
}
ROM_BANNER = (
    "ets Jul 29 2019 12:21:46\r\n\r\nrst:{rst},boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n"
    "configsip: 0, SPIWP:0xee\r\nclk_drv:0x00,q_drv:0x00,d_drv:0x00,cs0_drv:0x00,hd_drv:0x00,wp_drv:0x00\r\n"
    "mode:DIO, clock div:2\r\nload:0x3fff0030,len:4728\r\nload:0x40078000,len:14888\r\n"
    "load:0x40080400,len:3368\r\nentry 0x400805cc\r\n"
)

# The board's serial input buffer: ports/esp32/mphalport.c `stdin_ringbuf_array[260]`, which the
# REPL UART's RX interrupt (ports/esp32/uart.c) and the USB serial fill; py/ringbuf.c keeps one
# slot free, so 259 bytes wait there for the program, and a byte that finds it full is lost.
RX_BUFFER = 259

BAUDS = {
    getattr(termios, f"B{b}"): b
    for b in (9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000, 921600, 1000000, 2000000)
    if hasattr(termios, f"B{b}")
}


def luhn_digit(digits: str) -> str:
    """Check digit of the Luhn algorithm, as used by IMEIs (3GPP TS 23.003, annex B)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def device_id(index: int) -> str:
    """A stable IMEI-like id per board index: an 8-digit TAC, a 6-digit serial, Luhn digit."""
    body = "35693803" + f"{(104729 * (index + 1)) % 1000000:06d}"
    return body + luhn_digit(body)


def default_config(did: str, board: str = "sim") -> dict:
    # A short interval so that a virtual board shows its records within seconds.
    return {"device_id": did, "board": board, "interval_s": 5}


def board_definition(board_name: str, scenario: dict | None) -> dict:
    """The board definition a virtual board runs with: boards/<name>.json (checked), with the
    modem model the scenario simulates (the firmware must drive the modem that is there)."""
    board = boarddef.load(board_name)
    model = ((scenario or {}).get("modem") or {}).get("model")
    if model and board.get("modem"):
        board["modem"]["model"] = model
    return board


def seed_tree(dest: Path, did: str, board_name: str = "sim", board_def: dict | None = None,
              extra_config: dict | None = None) -> None:
    """The files a provisioned board has on flash: what `mobiot provision` puts there."""
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "lib").mkdir(parents=True)
    for name in ("boot.py", "main.py"):
        src = FIRMWARE_DIR / name
        if src.exists():
            shutil.copy(src, dest / name)
    # The package goes on as .mpy, as provisioning does: compiling .py on the board costs
    # more heap than an ESP32 has to spare.
    src_pkg = FIRMWARE_DIR / "mobiot_fw"
    for py in sorted(src_pkg.rglob("*.py")):
        rel = py.relative_to(src_pkg).with_suffix(".mpy")
        out = dest / "lib" / "mobiot_fw" / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        compile_mpy(py, out, f"mobiot_fw/{py.relative_to(src_pkg)}")
    if board_def is None:
        board_def = board_definition(board_name, None)
    # What provisioning puts there too: the device form, only the keys the firmware reads.
    (dest / "board.json").write_text(boarddef.device_json(board_def))
    cfg = default_config(did, board_name)
    cfg.update(extra_config or {})
    (dest / "config.json").write_text(json.dumps(cfg, indent=1) + "\n")


def compile_mpy(src: Path, out: Path, name: str) -> None:
    """Compile a firmware module to .mpy with the pinned mpy-cross (bytecode: any ESP32)."""
    cmd = [mpy_cross(), "-s", name, "-o", str(out), str(src)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise MobiotError(f"mpy-cross {src}: {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")


def compile_sim(cache: Path) -> Path:
    """The simulation modules as .mpy (compiled once, again when a source changes): imported
    from source they would take heap that the firmware under test should have."""
    cache.mkdir(parents=True, exist_ok=True)
    for py in SIM_DIR.glob("*.py"):
        if py.name in ("vboot.py", "vseed.py"):
            continue
        out = cache / (py.stem + ".mpy")
        if not out.exists() or out.stat().st_mtime < py.stat().st_mtime:
            compile_mpy(py, out, py.name)
    return cache


def _set_raw(fd: int) -> None:
    attrs = termios.tcgetattr(fd)
    attrs[0] = 0  # iflag
    attrs[1] = 0  # oflag: no OPOST, vboard does the ESP32's \n -> \r\n itself
    attrs[2] = (attrs[2] & ~(termios.CSIZE | termios.PARENB)) | termios.CS8 | termios.CREAD
    attrs[3] = 0  # lflag
    attrs[6][termios.VMIN] = 1
    attrs[6][termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


def _set_child_tty(fd: int, isig: bool) -> None:
    """The board process's own terminal: bytes pass as they are. isig: Ctrl-C raises SIGINT
    while a program runs (the unix port's own handler; the unix REPL switches to its raw mode
    while it waits for input). Otherwise vboard itself turns Ctrl-C into the board's interrupt
    (Board._interrupt)."""
    _set_raw(fd)
    if not isig:
        return
    attrs = termios.tcgetattr(fd)
    attrs[3] = termios.ISIG
    off = os.fpathconf(fd, "PC_VDISABLE")
    attrs[6][termios.VINTR] = 3
    attrs[6][termios.VQUIT] = off
    attrs[6][termios.VSUSP] = off
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


class Board:
    """One virtual board: its outer pty, its flash, and the current board process."""

    def __init__(self, index: int, state_dir: Path, baud: int, scenario: dict | None,
                 blank: bool, heap: str, board_name: str = "sim"):
        self.index = index
        self.device_id = device_id(index)
        self.dir = state_dir / self.device_id
        self.baud = baud
        self.scenario = scenario or {}
        self.blank = blank
        self.heap = heap
        self.board_name = board_name
        self.rx_buffer = RX_BUFFER  # bytes the board holds for its program (see RX_BUFFER)
        self.rx_lost = 0
        self.inner_name: str | None = None
        self.intr_by_vboard = False  # Ctrl-C from the host becomes the board's interrupt here
        self.master, self.slave = os.openpty()
        _set_raw(self.slave)
        attrs = termios.tcgetattr(self.slave)
        speed = next((k for k, v in BAUDS.items() if v == baud), termios.B115200)
        attrs[4] = attrs[5] = speed
        termios.tcsetattr(self.slave, termios.TCSANOW, attrs)
        os.set_blocking(self.master, False)
        self.port = os.ttyname(self.slave)
        self.proc: subprocess.Popen | None = None
        self.inner: int | None = None
        self.repl = "run"  # "run" (program or friendly REPL) or "raw": decides a soft reset
        self.swallow = 0  # raw-REPL restart: 1 wait for mark, 2 wait for >>>, 3 wait for banner
        self.acc = bytearray()  # output held while swallowing
        self.tail = b""  # last output bytes, to find banners split across reads
        self.last_cr = False
        self.mount_frames = MountFrames()
        self.out_buf = bytearray()
        self.in_buf = bytearray()
        self.t_out = self.t_in = time.monotonic()
        self.spawn_at: float | None = None
        self.booting = False
        self.sleep_ms = 0
        self.down = 0
        self.spawn_args = ("run", PWRON_RESET)
        self.sleeping = False
        self.restarts: list[float] = []
        self.wdt_at = 0.0  # when the watchdog file was last looked at
        self.dropped = 0
        self.host_baud = baud
        self.rng = random.Random(index)
        self.sim_cache = state_dir / ".sim-mpy"

    # -- flash -----------------------------------------------------------------------------
    def prepare(self) -> None:
        board_def = board_definition(self.board_name, self.scenario)  # a bad name fails before any file
        self.dir.mkdir(parents=True, exist_ok=True)
        img = self.dir / "flash.img"
        if not img.exists():
            seed = self.dir / "seed"
            if self.blank:
                if seed.exists():
                    shutil.rmtree(seed)
            else:
                seed_tree(seed, self.device_id, self.board_name, board_def, getattr(self, "extra_config", None))
            with open(img, "wb") as f:
                f.truncate(FLASH_SIZE)
            proc = subprocess.run([micropython(), str(SIM_DIR / "vseed.py"), str(self.dir)],
                                  capture_output=True, text=True, cwd=str(SIM_DIR))
            if proc.returncode != 0:
                img.unlink()
                raise MobiotError(f"vboard {self.device_id}: could not make its flash: "
                                  f"{(proc.stdout + proc.stderr).strip().splitlines()[-1:]}")
        sim = {"index": self.index, "device_id": self.device_id, "scenario": self.scenario, "board": board_def,
               "sockets": bool(getattr(self, "extra_config", None))}
        (self.dir / "sim.json").write_text(json.dumps(sim))
        (self.dir / "port").write_text(self.port + "\n")

    # -- board process -----------------------------------------------------------------------
    def spawn(self, mode: str, cause: int) -> None:
        inner, child = os.openpty()
        in_process = vbinterp.available()  # the wheel: Ctrl-C made safe (vbinterp's docstring)
        self.intr_by_vboard = in_process and os.path.exists("/proc/self/status")
        _set_child_tty(child, not self.intr_by_vboard)
        self.inner_name = os.ttyname(child)
        (self.dir / WDT_FILE).unlink(missing_ok=True)  # a new boot: no watchdog until it starts one
        self.wdt_at = 0.0
        args = ["-X", f"heapsize={self.heap}", "-i", str(SIM_DIR / "vboot.py"),
                str(self.dir), mode, str(cause), str(self.sim_cache)]
        cmd = vbinterp.command(args) if in_process else [micropython(), *args]

        dies = die_with_parent(signal.SIGKILL)  # the board dies with vboard, even by SIGKILL

        def _ctty() -> None:
            import fcntl

            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
            dies()

        self.proc = subprocess.Popen(cmd, stdin=child, stdout=child, stderr=child, cwd=str(self.dir),
                                     start_new_session=True, preexec_fn=_ctty, close_fds=True)
        os.close(child)
        os.set_blocking(inner, False)
        self.inner = inner
        self.repl = "run"
        self.swallow = 1 if mode == "raw" else 0
        self.booting = True
        self.sleep_ms = 0
        self.down = 0
        self.acc.clear()
        self.tail = b""
        self.mount_frames = MountFrames()
        (self.dir / "pid").write_text(f"{self.proc.pid}\n")
        print(f"vboard: {self.device_id} booted ({mode}, reset cause {cause}) pid {self.proc.pid}",
              file=sys.stderr, flush=True)

    def _child_gone(self) -> None:
        assert self.proc is not None and self.inner is not None
        code = self.proc.wait()
        if self.down:  # the firmware asked for it: machine.deepsleep() / machine.reset()
            code, self.down = self.down, 0
        os.close(self.inner)
        self.inner = None
        self.proc = None
        now = time.monotonic()
        self.restarts = [t for t in self.restarts if now - t < 10] + [now]
        delay = 0.0 if len(self.restarts) < 20 else 1.0  # a board stuck in a boot loop
        if self.booting and code != 0:
            print(f"vboard: {self.device_id} died while booting: {bytes(self.acc[-500:])!r}",
                  file=sys.stderr, flush=True)
        if code == 0:  # Ctrl-D: soft reset
            self.emit(b"MPY: soft reboot\r\n")
            self.spawn_args = ("raw" if self.repl == "raw" else "run", SOFT_RESET)
        elif code == EXIT_DEEPSLEEP:
            delay = max(delay, self.sleep_ms / 1000)
            self.sleeping = True
            self.spawn_args = ("run", DEEPSLEEP_RESET)
        else:
            cause = {EXIT_HARD_RESET: HARD_RESET, EXIT_WDT: WDT_RESET}.get(code, PWRON_RESET)
            if code > 0 and code not in (EXIT_HARD_RESET, EXIT_WDT):
                cause = HARD_RESET  # a crash: the ESP32 panics and reboots
            self.spawn_args = ("run", cause)
        print(f"vboard: {self.device_id} process ended with {code}", file=sys.stderr, flush=True)
        self.spawn_at = now + delay

    def _do_spawn(self) -> None:
        mode, cause = self.spawn_args
        self.spawn_at = None
        self.sleeping = False
        self.in_buf.clear()  # what the host sent while the board was down is lost, as on a UART
        if cause != SOFT_RESET:
            self.emit(ROM_BANNER.format(rst=ROM_RST.get(cause, ROM_RST[PWRON_RESET])).encode())
        self.spawn(mode, cause)

    # -- bytes from the board ----------------------------------------------------------------
    def emit(self, data: bytes) -> None:
        self.out_buf += data

    def _cook(self, data: bytes) -> bytes:
        # ESP32 cooked stdout: "\n" -> "\r\n" (unless already preceded by "\r")
        if b"\n" in data:
            out = bytearray()
            prev_cr = self.last_cr
            for line in data.split(b"\n")[:-1]:
                out += line
                if not (line.endswith(b"\r") or (not line and prev_cr)):
                    out += b"\r"
                out += b"\n"
                prev_cr = False
            out += data.rsplit(b"\n", 1)[1]
            data = bytes(out)
        self.last_cr = data.endswith(b"\r")
        return data

    def _from_child(self, data: bytes) -> None:
        # Text is cooked, mpremote mount's binary requests pass as they are (vbmount.py).
        data = b"".join(piece if raw else self._cook(piece) for piece, raw in self.mount_frames.split(data))
        if self.booting:
            # Until the board's UART is up, its output passes (a crash there must be seen) but
            # the host's input waits; the mark itself is vboard's and never reaches the host.
            self.acc += data
            i = self.acc.find(UP_MARK)
            if i < 0:
                keep = len(self.acc) - len(UP_MARK)
                data = b""
                if keep > 0:
                    data = bytes(self.acc[:keep])
                    del self.acc[:keep]
                if not data:
                    return
            else:
                data = bytes(self.acc[:i] + self.acc[i + len(UP_MARK):].lstrip(b"\r\n"))
                self.acc.clear()
                self.booting = False
        if b"\x1b[vboard-" in data:
            m = SLEEP_MARK.search(data)
            if m:
                self.sleep_ms = int(m.group(1))
                self.down = EXIT_DEEPSLEEP
                data = data[: m.start()] + data[m.end():]
            m = RESET_MARK.search(data)
            if m:
                self.down = EXIT_HARD_RESET
                data = data[: m.start()] + data[m.end():]
            if self.down and self.proc is not None:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.swallow:
            self._swallow(data)
            return
        window = self.tail + data
        if RAW_BANNER in window:
            self.repl = "raw"
        if FRIENDLY_BANNER in window:
            self.repl = "run"
        self.tail = window[-48:]
        self.emit(data)

    def _swallow(self, data: bytes) -> None:
        """After a soft reset in the raw REPL: pass boot.py's output, hide the unix REPL's
        banner, switch it to the raw REPL, and pass the raw REPL banner on."""
        self.acc += data
        if self.swallow == 1:
            i = self.acc.find(RAW_MARK)
            if i < 0:
                keep = len(self.acc) - len(RAW_MARK)
                if keep > 0:
                    self.emit(bytes(self.acc[:keep]))
                    del self.acc[:keep]
                return
            self.emit(bytes(self.acc[:i]))
            del self.acc[: i + len(RAW_MARK)]
            self.swallow = 2
        if self.swallow == 2:
            i = self.acc.find(b">>> ")
            if i < 0:
                return
            del self.acc[: i + 4]
            self.swallow = 3
            if self.inner is not None:
                os.write(self.inner, b"\x01")
        if self.swallow == 3:
            i = self.acc.find(RAW_BANNER)
            if i < 0:
                return
            rest = bytes(self.acc[i:])
            self.acc.clear()
            self.swallow = 0
            self.repl = "raw"
            self.tail = rest[-48:]
            self.emit(rest)

    # -- the pump ----------------------------------------------------------------------------
    def _check_host_baud(self, now: float) -> None:
        # Looked at before every write: a UART at the wrong speed garbles from the first byte.
        try:
            baud = BAUDS.get(termios.tcgetattr(self.slave)[5], self.baud)
        except termios.error:
            baud = self.baud
        if baud != self.host_baud:
            # The host reconfigured the port: like a USB-UART bridge reprogrammed to another
            # speed, what sat in its FIFO is gone.
            try:
                termios.tcflush(self.slave, termios.TCIFLUSH)
            except termios.error:
                pass
            self.host_baud = baud

    def _garble(self, data: bytes, their: int) -> bytes:
        """What a UART at another baud makes of these bytes: noise of about the right length."""
        n = max(1, len(data) * their // self.baud)
        return bytes(self.rng.getrandbits(8) | 0x80 for _ in range(n))

    def _flush(self, now: float) -> None:
        rate = self.baud / 10.0  # 8N1: 10 bits a byte
        burst = max(16, int(rate * 0.02))
        if self.out_buf:
            allow = int((now - self.t_out) * rate)
            if allow > 0:
                self._check_host_baud(now)
                n = min(allow, burst, len(self.out_buf))
                chunk = bytes(self.out_buf[:n])
                del self.out_buf[:n]
                self.t_out = max(self.t_out + n / rate, now - burst / rate)
                if self.host_baud != self.baud:
                    chunk = self._garble(chunk, self.host_baud)
                try:
                    os.write(self.master, chunk)
                except (BlockingIOError, OSError):
                    self.dropped += len(chunk)  # nobody reading: a USB-UART bridge drops it too
        else:
            self.t_out = now
        if self.in_buf and self.inner is not None and not self.swallow and not self.booting:
            allow = int((now - self.t_in) * rate)
            if allow > 0:
                n = min(allow, burst, len(self.in_buf))
                chunk = bytes(self.in_buf[:n])
                if self.host_baud != self.baud:
                    chunk = bytes(b & 0x7C | 0x80 for b in chunk)
                w = self._to_board(chunk)
                del self.in_buf[:w]
                self.t_in = max(self.t_in + w / rate, now - burst / rate)
        elif not self.in_buf:
            self.t_in = now

    def _to_board(self, chunk: bytes) -> int:
        """Host bytes into the board's UART. Returns how many bytes of chunk were taken:
        written, lost, or taken by an interrupt.

        - A Ctrl-C may interrupt the board instead of reaching its input (_interrupt), even
          when that input is full: the ESP32's UART driver looks at each byte as it arrives.
        - A chunk is one burst of up to 20 ms of the line (_flush). A Ctrl-C after one that
          interrupted in the same burst finds that interrupt still pending, as on an ESP32,
          whose VM takes a scheduled interrupt at its next check (a FreeRTOS tick, 10 ms, in a
          sleep), not within the 87 us between two bytes at 115200 baud. So it is taken too.
        - Bytes past the board's input buffer are lost (_rx_room), as on the chip."""
        assert self.inner is not None
        done = 0
        pending = False
        while done < len(chunk):
            i = chunk.find(b"\x03", done) if self.intr_by_vboard else -1
            if i == done and (pending or self._interrupt()):
                pending = True
                done += 1
                continue
            end = len(chunk) if i < 0 else max(i, done + 1)  # a Ctrl-C that does not interrupt is a byte
            fit = self._rx_room(end - done)
            self.rx_lost += end - done - fit  # the board's input buffer is full: these are lost
            if fit:
                try:
                    w = os.write(self.inner, chunk[done:done + fit])
                except BlockingIOError:
                    w = 0
                except OSError:
                    w = fit
                if w < fit:  # the pty took less: the rest waits for the next burst
                    self.rx_lost -= end - done - fit
                    return done + w
            done = end
        return done

    def _interrupt(self) -> bool:
        """A Ctrl-C reaching the board, taken as the ESP32's UART driver takes it
        (ports/esp32/uart.c): while the interrupt char is enabled, that is while code runs
        that Ctrl-C may stop, it schedules a KeyboardInterrupt and goes no further (True);
        otherwise it is an input byte (False). The unix port enables the char by catching
        SIGINT (unix_mphal.c mp_hal_set_interrupt_char), so /proc/<pid>/status SigCgt tells;
        the interrupt is vbinterp's INTR_SIGNAL, never SIGINT (vbinterp's docstring)."""
        if self.proc is None:
            return False
        caught = 0
        try:
            with open(f"/proc/{self.proc.pid}/status", "rb") as f:
                for line in f:
                    if line.startswith(b"SigCgt:"):
                        caught = int(line.split()[1], 16)
                        break
        except (OSError, ValueError, IndexError):
            return False
        if not caught >> (signal.SIGINT - 1) & 1:
            return False
        try:
            os.kill(self.proc.pid, vbinterp.INTR_SIGNAL)
        except ProcessLookupError:
            return False
        return True

    def _rx_room(self, n: int) -> int:
        """How many of n arriving bytes fit in the board's input buffer: RX_BUFFER less what
        its program has not read yet (the child's tty input queue, FIONREAD)."""
        if self.inner_name is None:
            return n
        try:
            fd = os.open(self.inner_name, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError:
            return n
        try:
            import fcntl
            import struct

            pending = struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
        except OSError:
            pending = 0
        finally:
            os.close(fd)
        return max(0, min(n, self.rx_buffer - pending))

    def _check_watchdog(self, now: float) -> None:
        """The simulated WDT (sim/machine.py) rewrites the board's wdt file at every feed: a
        feed overdue powers the board down, and it boots with machine.WDT_RESET."""
        if self.proc is None or self.down or now - self.wdt_at < WDT_CHECK_S:
            return
        self.wdt_at = now
        path = self.dir / WDT_FILE
        try:
            st = path.stat()
            timeout_ms = int(path.read_bytes() or b"0") if st.st_size else 0
        except (OSError, ValueError):
            return
        if timeout_ms and time.time() - st.st_mtime > timeout_ms / 1000:
            self.down = EXIT_WDT
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def step(self, timeout: float) -> None:
        now = time.monotonic()
        self._check_host_baud(now)
        self._check_watchdog(now)
        if self.spawn_at is not None and now >= self.spawn_at:
            self._do_spawn()
        rlist = [self.master]
        if self.inner is not None and len(self.out_buf) < 1024:
            rlist.append(self.inner)
        busy = self.out_buf or (self.in_buf and self.inner is not None)
        wait = min(timeout, 0.005 if busy else timeout)
        if self.spawn_at is not None:
            wait = max(0.0, min(wait, self.spawn_at - now))
        r, _, _ = select.select(rlist, [], [], wait)
        if self.master in r:
            try:
                data = os.read(self.master, 4096)
            except (BlockingIOError, OSError):
                data = b""
            if data and not self.sleeping and len(self.in_buf) < 65536:
                # The speed these bytes came at: a host sets the port's speed before it writes,
                # as a USB-UART bridge gets the speed before the data, so what was just read
                # was sent at the speed set now (a check at the top of step() could predate it).
                self._check_host_baud(now)
                self.in_buf += data
        if self.inner is not None and self.inner in r:
            try:
                data = os.read(self.inner, 4096)
            except BlockingIOError:
                data = None
            except OSError:
                data = b""
            if data:
                self._from_child(data)
            elif data == b"":
                self._child_gone()
        self._flush(time.monotonic())

    def stop(self) -> None:
        if self.rx_lost:
            print(f"vboard: {self.device_id}: {self.rx_lost} bytes from the host lost: the board's "
                  f"{self.rx_buffer}-byte input buffer was full", file=sys.stderr, flush=True)
        if self.dropped:
            print(f"vboard: {self.device_id}: {self.dropped} bytes of output dropped while no host read the port",
                  file=sys.stderr, flush=True)
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait()
            self.proc = None
        for fd in (self.inner, self.master, self.slave):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.inner = None


def run_board(board: Board, stop: threading.Event) -> None:
    try:
        while not stop.is_set():
            board.step(0.1)
    except Exception as exc:  # one board's failure must not take the bench down silently
        print(f"vboard: {board.device_id}: {exc!r}", file=sys.stderr, flush=True)
        raise


def load_scenario(path: str) -> dict:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise MobiotError(f"scenario {path}: {exc.strerror}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MobiotError(f"scenario {path}:{exc.lineno}:{exc.colno}: {exc.msg}") from exc
    from .scenario import validate

    return validate(data, path)  # unknown keys and models refused (docs/scenario.md)


HEAP_MIN = 64 * 1024  # below this the unix port cannot even load the simulation


def check_heap(ctx, param, value: str) -> str:  # noqa: ARG001
    """`--heap` as the unix port's -X heapsize takes it: bytes with an optional k or M suffix."""
    m = re.fullmatch(r"(\d+)([kKmM]?)", value.strip())
    if m is None:
        raise MobiotError(f"--heap {value!r}: not a size (bytes, or with k or M: 384k, 2M)")
    n = int(m.group(1)) * {"": 1, "k": 1024, "m": 1024 * 1024}[m.group(2).lower()]
    if not HEAP_MIN <= n <= 1024 * 1024 * 1024:
        raise MobiotError(f"--heap {value}: must be between 64k and 1024M")
    return value.strip()


@click.command()
@click.option("--count", "-n", default=1, show_default=True, type=click.IntRange(1, 64), help="Number of boards.")
@click.option("--state-dir", default="state/vboards", show_default=True, type=click.Path(file_okay=False),
              help="Where the boards' flash images live (kept across runs).")
@click.option("--baud", default=115200, show_default=True, type=int, help="Serial speed of the boards.")
@click.option("--scenario", "scenarios", multiple=True, type=click.Path(dir_okay=False),
              help="Scenario JSON (docs/scenario.md); repeat to give board i the i-th (cycled).")
@click.option("--blank", is_flag=True, help="Empty flash (MicroPython only), for provisioning.")
@click.option("--erased", is_flag=True, help="Erased flash, ROM bootloader only: flash it with esptool (mobiot flash).")
@click.option("--board", "board_name", default="sim", show_default=True,
              help=f"Board definition in boards/: {', '.join(boarddef.names())}.")
@click.option("--heap", default="384k", show_default=True, callback=check_heap,
              help="MicroPython heap of each board (bytes, or 384k, 2M).")
@click.option("--first", default=0, show_default=True, type=int, help="Index of the first board (ids follow it).")
@click.option("--uplink", "uplink_url", default=None, metavar="mqtt://HOST:PORT",
              help="Boards report over their cellular uplink to this broker (docs/uplink.md).")
def vboard(count: int, state_dir: str, baud: int, scenarios: tuple[str, ...], blank: bool, board_name: str,
           heap: str, first: int, erased: bool = False, uplink_url: str | None = None) -> int:
    """Run virtual boards; print `<port> <device-id>` per board, then run until SIGINT/SIGTERM."""
    loaded = [load_scenario(s) for s in scenarios]
    micropython()  # fail early and clearly if the interpreter is missing
    if baud not in BAUDS.values():
        raise MobiotError(f"--baud {baud}: not a supported speed ({', '.join(map(str, sorted(BAUDS.values())))})")
    compile_sim(Path(state_dir).resolve() / ".sim-mpy")
    boards = []
    for i in range(count):
        sc = loaded[i % len(loaded)] if loaded else None
        if erased:  # the ROM loader until esptool flashes an image (mobiot.espboard)
            from .espboard import ErasedBoard

            b = ErasedBoard(first + i, Path(state_dir).resolve(), baud, sc, heap, board_name)
        else:
            b = Board(first + i, Path(state_dir).resolve(), baud, sc, blank, heap, board_name)
        if uplink_url:  # config and simulated sockets for the uplink (demo_uplink.py)
            from .demo_uplink import uplink_board

            uplink_board(b, uplink_url)
        b.prepare()
        boards.append(b)
    stop = threading.Event()

    def _stop(signum, frame):  # noqa: ARG001
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    threads = []
    for b in boards:
        b.spawn_args = ("run", PWRON_RESET)
        b.spawn_at = time.monotonic()
        if hasattr(b, "start"):
            b.start()
        t = threading.Thread(target=run_board, args=(b, stop), name=f"vboard-{b.device_id}", daemon=True)
        t.start()
        threads.append(t)
    for b in boards:
        print(f"{b.port} {b.device_id}" + (f" {b.url}" if getattr(b, "url", "") else ""), flush=True)
    try:
        while not stop.is_set():
            stop.wait(0.2)
            if not any(t.is_alive() for t in threads):
                raise MobiotError("all virtual boards failed (see the log above)")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=2)
        for b in boards:
            b.stop()
    return 0

