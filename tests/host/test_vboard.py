"""Virtual boards driven by the real mpremote CLI, as a board on /dev/ttyUSB0 would be."""

from __future__ import annotations

import hashlib
import os
import random
import time
from contextlib import contextmanager

import pytest

from mobiot.vboard import device_id, luhn_digit
from vbhelp import SerialWatch, VBoards, mpremote

# A main.py that proves it ran: it counts its runs in a file on flash and says so.
PROBE_MAIN = """\
import time
try:
    n = int(open('runs.txt').read()) + 1
except OSError:
    n = 1
with open('runs.txt', 'w') as f:
    f.write(str(n))
print('MAIN-RAN', n)
while True:
    time.sleep_ms(200)
"""


def luhn_ok(number: str) -> bool:
    return luhn_digit(number[:-1]) == number[-1]


def test_device_ids_are_stable_imei_like_and_distinct():
    ids = [device_id(i) for i in range(200)]
    assert len(set(ids)) == 200
    for d in ids:
        assert len(d) == 15 and d.isdigit()
        assert luhn_ok(d)
    assert device_id(3) == device_id(3)
    # The Luhn digit of a known IMEI (3GPP TS 23.003 example 35-209900-176148-1).
    assert luhn_digit("35209900176148") == "1"


@pytest.fixture
def vb(tmp_path):
    with VBoards(tmp_path / "boards") as boards:
        yield boards


@pytest.fixture
def target(tmp_path, hw_port):
    """The board under test: the real one given with --port, else a virtual board."""
    if hw_port:
        yield hw_port
        return
    with VBoards(tmp_path / "target") as boards:
        yield boards.boards[0][0]


def _install_probe(port: str, tmp_path) -> None:
    probe = tmp_path / "main.py"
    probe.write_text(PROBE_MAIN)
    mpremote(port, "fs", "cp", str(probe), ":main.py")


def test_default_flash_holds_firmware_and_config(vb):
    port, did = vb.boards[0]
    out = mpremote(port, "fs", "ls", ":").stdout
    for name in ("boot.py", "main.py", "config.json", "board.json", "lib/"):
        assert name in out, out
    cfg = mpremote(port, "fs", "cat", ":config.json").stdout
    assert did in cfg
    lib = mpremote(port, "fs", "ls", ":lib/mobiot_fw").stdout
    assert "app.mpy" in lib


def test_blank_board_has_empty_flash(tmp_path):
    with VBoards(tmp_path / "blank", 1, "--blank") as vb:
        port, _ = vb.boards[0]
        out = mpremote(port, "exec", "import os; print(sorted(os.listdir('/')))").stdout
        assert out.strip() == "[]"
        # ...and it is writable, as a freshly flashed MicroPython is.
        mpremote(port, "exec", "with open('x.txt','w') as f: f.write('hi')")
        assert mpremote(port, "fs", "cat", ":x.txt").stdout == "hi"


def test_copy_200k_file_and_check_sha256_on_board(target, tmp_path, hw_port):
    port = target
    rnd = random.Random(1)
    # Printable text so that the transfer is 200 KB on the wire too (mpremote sends repr()).
    data = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789 \n") for _ in range(200 * 1024)).encode()
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    t0 = time.monotonic()
    mpremote(port, "fs", "cp", str(src), ":big.bin", timeout=300)
    elapsed = time.monotonic() - t0
    out = mpremote(port, "fs", "sha256sum", ":big.bin").stdout
    assert hashlib.sha256(data).hexdigest() in out, out
    # The link is throttled to 115200 baud: 200 KB cannot cross it faster than 10 bits a byte
    # (a real board's native USB can be faster than its nominal baud).
    assert hw_port or elapsed >= len(data) * 10 / 115200 * 0.95, elapsed
    # Read back over the serial link too.
    back = tmp_path / "back.bin"
    mpremote(port, "fs", "cp", ":big.bin", str(back), timeout=300)
    assert back.read_bytes() == data
    mpremote(port, "fs", "rm", ":big.bin")


def test_eval_run_mkdir_rm(target, tmp_path):
    port = target
    assert mpremote(port, "eval", "6*7").stdout.strip() == "42"
    script = tmp_path / "s.py"
    script.write_text("print('ran', 1+2)\n")
    assert "ran 3" in mpremote(port, "run", str(script)).stdout
    mpremote(port, "fs", "mkdir", ":mobiot_test_dir")
    mpremote(port, "fs", "touch", ":mobiot_test_dir/a")
    assert "a" in mpremote(port, "fs", "ls", ":mobiot_test_dir").stdout
    mpremote(port, "fs", "rm", ":mobiot_test_dir/a")
    mpremote(port, "fs", "rmdir", ":mobiot_test_dir")
    assert "mobiot_test_dir" not in mpremote(port, "fs", "ls", ":").stdout


def test_soft_reset_in_raw_repl_does_not_run_main(vb, tmp_path):
    port, _ = vb.boards[0]
    _install_probe(port, tmp_path)
    mpremote(port, "exec", "with open('runs.txt','w') as f: f.write('0')")
    # mpremote soft-resets in the raw REPL before each command: main.py must not run then.
    for _ in range(3):
        mpremote(port, "soft-reset", "exec", "print('ok')")
    assert mpremote(port, "fs", "cat", ":runs.txt").stdout == "0"
    # `resume` keeps the session: state set by one command is there for the next.
    mpremote(port, "exec", "x_probe = 41")
    assert mpremote(port, "resume", "eval", "x_probe + 1").stdout.strip() == "42"


def test_soft_reset_at_friendly_repl_runs_boot_and_main(vb, tmp_path):
    port, _ = vb.boards[0]
    _install_probe(port, tmp_path)
    mpremote(port, "exec", "with open('runs.txt','w') as f: f.write('0')")
    with SerialWatch(port) as s:
        s.write(b"\r\x03\x03")  # stop whatever runs
        s.write(b"\r\x02")  # friendly REPL
        s.read_until(b">>> ")
        s.write(b"\x04")  # soft reset
        s.read_until(b"MPY: soft reboot\r\n")
        s.read_until(b"MAIN-RAN 1")
        # Ctrl-C stops main.py and leaves the board at the REPL.
        s.write(b"\x03")
        s.read_until(b"KeyboardInterrupt")
        s.read_until(b">>> ")
        s.write(b"print(6*7)\r")
        s.read_until(b"42\r\n")


def test_kill9_boots_again_with_files_intact(vb, tmp_path):
    port, _ = vb.boards[0]
    _install_probe(port, tmp_path)
    payload = os.urandom(5000)
    f = tmp_path / "keep.bin"
    f.write_bytes(payload)
    mpremote(port, "fs", "cp", str(f), ":keep.bin")
    with SerialWatch(port) as s:
        old = vb.kill_board()
        s.read_until(b"rst:0x1 (POWERON_RESET)")
        s.read_until(b"MAIN-RAN ")
    assert vb.pid() != old
    out = mpremote(port, "fs", "sha256sum", ":keep.bin").stdout
    assert hashlib.sha256(payload).hexdigest() in out


def test_mpremote_reset_is_a_hard_reset(vb, tmp_path):
    port, _ = vb.boards[0]
    _install_probe(port, tmp_path)
    with SerialWatch(port) as s:
        mpremote(port, "reset")
        s.read_until(b"rst:0xc (SW_CPU_RESET)")
        s.read_until(b"MAIN-RAN ")
    assert mpremote(port, "exec", "import machine; print(machine.reset_cause())").stdout.strip() == "5"


def test_flash_survives_vboard_restart(tmp_path):
    state = tmp_path / "persist"
    with VBoards(state) as vb:
        port, did = vb.boards[0]
        mpremote(port, "exec", "with open('note.txt','w') as f: f.write('still here')")
    with VBoards(state) as vb:
        port, did2 = vb.boards[0]
        assert did2 == did
        assert mpremote(port, "fs", "cat", ":note.txt").stdout == "still here"


def test_several_boards_have_own_ports_and_flash(tmp_path):
    with VBoards(tmp_path / "many", 3) as vb:
        ports = [p for p, _ in vb.boards]
        assert len(set(ports)) == 3
        for i, (port, _) in enumerate(vb.boards):
            mpremote(port, "exec", f"with open('id.txt','w') as f: f.write('{i}')")
        for i, (port, _) in enumerate(vb.boards):
            assert mpremote(port, "fs", "cat", ":id.txt").stdout == str(i)


def test_output_is_throttled_to_baud(tmp_path):
    # 9600 baud: 960 bytes/s. Slower is fine (shared machine); faster would be wrong.
    with VBoards(tmp_path / "slow", 1, baud=9600) as vb:
        port, _ = vb.boards[0]
        with SerialWatch(port, 9600) as s:
            s.write(b"\r\x03\x03\r\x02")
            s.read_until(b">>> ")
            s.write(b"print('S'+'x'*2000+'E')\r")
            s.read_until(b"\r\nS")
            t0 = time.monotonic()
            s.read_until(b"E\r\n")
            assert time.monotonic() - t0 >= 2000 * 10 / 9600 * 0.9


@contextmanager
def _raw_repl(tmp_path):
    """One virtual board, its port open at the raw REPL."""
    with VBoards(tmp_path / "b", 1) as vb, SerialWatch(vb.boards[0][0]) as s:
        s.write(b"\r\x03\x03\r\x01")
        s.read_until(b"raw REPL; CTRL-B to exit\r\n>")
        yield s


# Interns a name and allocates at every turn: most of its time is spent holding the GC or the
# qstr mutex, where an interrupt raised from inside a signal handler would leave one locked.
CHURN = (b"o = type('O', (), {})()\ni = 0\nprint('CHURN')\nwhile True:\n"
         b"    setattr(o, 'a%d' % (i % 200), bytearray(16))\n    i += 1\n")


def test_ctrl_c_never_leaves_a_busy_board_deadlocked(tmp_path):
    # The unix port's own SIGINT handler raises KeyboardInterrupt from inside the handler: about
    # one Ctrl-C in three into this loop left a mutex locked and the board silent for ever.
    # vboard makes Ctrl-C a scheduled interrupt, as an ESP32's UART does (host/mobiot/vbinterp.py).
    with _raw_repl(tmp_path) as s:
        for _ in range(20):
            s.write(CHURN + b"\x04")
            s.read_until(b"OK")
            s.read_until(b"CHURN")
            s.write(b"\x03")
            s.read_until(b"KeyboardInterrupt")
            s.read_until(b"\x04>")
        s.write(b"print(1+1)\x04")
        assert b"2" in s.read_until(b"\x04>")


def test_ctrl_c_is_a_byte_while_the_interrupt_char_is_off(tmp_path):
    # As on an ESP32 (docs of micropython.kbd_intr): with the interrupt char disabled, a Ctrl-C
    # reaches the program as input, and nothing is left pending for the next command.
    with _raw_repl(tmp_path) as s:
        s.write(b"import micropython, sys\nmicropython.kbd_intr(-1)\nprint('READY')\n"
                b"c = sys.stdin.buffer.read(1)\nmicropython.kbd_intr(3)\nprint('GOT', c)\n\x04")
        s.read_until(b"READY")
        s.write(b"\x03")
        assert b"GOT b'\\x03'" in s.read_until(b"\x04>")
        s.write(b"print(6*7)\x04")
        assert b"OK42" in s.read_until(b"\x04>")


def test_ctrl_c_interrupts_a_board_whose_input_is_full_and_a_burst_is_one_interrupt(tmp_path):
    # A program that never reads its input: what the host sends fills the board's 259-byte input
    # buffer (vboard.RX_BUFFER) and the rest is lost, as on the chip. A Ctrl-C behind it still
    # interrupts: the ESP32's UART driver looks at each byte as it arrives. Three Ctrl-Cs in one
    # burst are one interrupt, as into the ESP32's one pending interrupt: none is left pending to
    # kill the next command.
    with _raw_repl(tmp_path) as s:
        s.write(b"import time\nprint('BUSY')\nwhile True:\n    time.sleep_ms(5)\n\x04")
        s.read_until(b"BUSY")
        s.write(b"x" * 2000 + b"\x03\x03\x03")
        out = s.read_until(b"\x04>")
        assert out.count(b"KeyboardInterrupt") == 1, out
        # The raw REPL reads the buffered x's as the next command's text: a Ctrl-C there (the
        # interrupt char is off at the prompt) clears the line, as pyexec's raw REPL does.
        s.write(b"\x03print(6*7)\x04")
        assert b"OK42" in s.read_until(b"\x04>")


def test_wrong_baud_host_sees_garbage(tmp_path):
    with VBoards(tmp_path / "baud", 1) as vb:
        port, _ = vb.boards[0]
        with SerialWatch(port, 9600) as s:
            time.sleep(0.7)  # let vboard notice the host's speed
            s.write(b"\r\x02")
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                s.seen += s.ser.read(4096)
            assert b">>> " not in s.seen and b"MicroPython" not in s.seen


STUCK_MAIN = """\
import machine, time
print('STUCK-START', machine.reset_cause())
w = machine.WDT(timeout=1500)
while True:
    time.sleep_ms(100)  # wedged: never feeds the watchdog
"""


def test_watchdog_resets_a_wedged_board(vb, tmp_path):
    port, _ = vb.boards[0]
    f = tmp_path / "main.py"
    f.write_text(STUCK_MAIN)
    mpremote(port, "fs", "cp", str(f), ":main.py")
    with SerialWatch(port) as s:
        mpremote(port, "reset")
        s.read_until(b"STUCK-START 2")  # after machine.reset(): HARD_RESET
        s.read_until(b"rst:0x7 (TG0WDT_SYS_RESET)")
        s.read_until(b"STUCK-START 3")  # machine.WDT_RESET


def test_firmware_relaxes_its_watchdog_for_a_repl_session(vb, tmp_path):
    # The real firmware runs with its 30 s watchdog; a tool that breaks into the REPL (mpremote
    # sends Ctrl-C) must not be reset under it mid-session.
    port, _ = vb.boards[0]
    with SerialWatch(port) as s:
        mpremote(port, "reset")
        s.read_until(b'"kind":"reading"')  # the firmware is running, its watchdog armed
        s.write(b"\r\x03")
        s.read_until(b">>> ")
        # (the simulated WDT keeps its one instance, as the chip has one watchdog)
        s.write(b"import machine; print('WDT', machine.WDT._active.timeout)\r")
        s.read_until(b"WDT 3600000")
