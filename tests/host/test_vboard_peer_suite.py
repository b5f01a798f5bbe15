"""What peer tools' own test suites ask of a board, asked of a virtual one with the real mpremote.

mpremote's suite (micropython tools/mpremote/tests) mounts a RAM disk with `mpremote run` and
drives it with `mpremote resume ...`, raises filesystem errors from a Python VFS, prints UTF-8,
and mounts a host folder. These are our own checks of the same board behaviour (nothing of that
suite is here), and each holds on a real ESP32 too (pytest --port). A board that differs fails
them: vboard's relay (UTF-8 split across its bursts, \\n cooking), its soft resets (a state
that survives one, or a main.py that runs in one), its filesystem set-up.

Every wait has a deadline only a hang reaches (vbhelp.WAIT_S); nothing depends on speed.
"""

from __future__ import annotations

import hashlib
import subprocess

import pytest

from mobiot.upy import SIM_DIR, micropython
from vbhelp import VBoards, mpremote

# A RAM block device with a FAT filesystem, mounted at /ram and made the current directory:
# gone at the next soft reset, as on the board.
RAMDISK = """\
import os, vfs, errno

class RamBlocks:
    def __init__(self, count, size=512):
        self.size = size
        self.mem = bytearray(count * size)

    def readblocks(self, n, buf):
        at = n * self.size
        buf[:] = self.mem[at:at + len(buf)]

    def writeblocks(self, n, buf):
        at = n * self.size
        self.mem[at:at + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:
            return len(self.mem) // self.size
        if op == 5:
            return self.size
        return 0

ram = RamBlocks(80)
vfs.VfsFat.mkfs(ram)
vfs.mount(vfs.VfsFat(ram), "/ram")
os.chdir("/ram")
"""

# A filesystem whose open() raises whatever error the test puts in Failing.err.
FAILING_FS = """\
import vfs, errno

class Failing:
    err = OSError(errno.EIO, "")

    def mount(self, readonly, mkfs):
        pass

    def umount(self):
        pass

    def open(self, path, mode):
        raise Failing.err

vfs.mount(Failing(), "/bad")
"""

# Multi-byte UTF-8 of every length (2, 3 and 4 bytes), long enough that vboard's bursts and
# mpremote's reads split characters between them.
UTF8_LINE = "Grüße, naïve café — 世界 日本語 🎉🐍 " * 6


@pytest.fixture(scope="module")
def port(tmp_path_factory, hw_port):
    if hw_port:
        yield hw_port
        return
    with VBoards(tmp_path_factory.mktemp("peer") / "boards") as boards:
        yield boards.boards[0][0]


def _run_script(port: str, tmp_path, name: str, text: str) -> None:
    script = tmp_path / name
    script.write_text(text)
    mpremote(port, "run", str(script))


def test_a_ram_disk_set_up_by_run_serves_resume_commands_until_a_soft_reset(port, tmp_path):
    _run_script(port, tmp_path, "ramdisk.py", RAMDISK)
    assert mpremote(port, "resume", "fs", "ls", ":").stdout.splitlines() == ["ls :"]
    mod = tmp_path / "on_ram.py"
    mod.write_text("def where():\n    return 'imported from the RAM disk'\n")
    mpremote(port, "resume", "fs", "cp", str(mod), ":")
    mpremote(port, "resume", "fs", "mkdir", ":sub", "+", "fs", "cp", str(mod), ":sub/copy.py")
    out = mpremote(port, "resume", "exec", "import os, on_ram; print(os.getcwd(), on_ram.where())").stdout
    assert out.strip() == "/ram imported from the RAM disk"
    digest = hashlib.sha256(mod.read_bytes()).hexdigest()
    assert digest in mpremote(port, "resume", "fs", "sha256sum", ":sub/copy.py").stdout
    tree = mpremote(port, "resume", "fs", "tree", ":").stdout
    assert ":/ram" in tree and "on_ram.py" in tree and "copy.py" in tree, tree
    # rm -r of the mount point empties it and keeps it (it is a mount, not a directory).
    mpremote(port, "resume", "exec", "import os; os.chdir('/')")
    out = mpremote(port, "resume", "fs", "rm", "-r", "-v", ":/ram").stdout
    assert "skipped: '/ram' (vfs mountpoint)" in out, out
    assert mpremote(port, "resume", "fs", "ls", ":/ram").stdout.splitlines() == ["ls :/ram"]
    # Without `resume`, mpremote soft-resets first: the RAM disk and the cwd are gone.
    out = mpremote(port, "exec", "import os; print(os.getcwd(), 'ram' in os.listdir('/'))").stdout
    assert out.strip() == "/ False"


ERRNO_TEXT = {
    "ENOENT": "No such file or directory",
    "EISDIR": "Is a directory",
    "EEXIST": "File exists",
    "ENODEV": "No such device",
    "EINVAL": "Invalid argument",
    "EPERM": "Operation not permitted",
    "EOPNOTSUPP": "Operation not supported",
}


def test_filesystem_errors_reach_mpremote_as_their_errno(port, tmp_path):
    _run_script(port, tmp_path, "failing.py", FAILING_FS)
    try:
        for name, text in ERRNO_TEXT.items():
            mpremote(port, "resume", "exec", f"Failing.err = OSError(errno.{name}, '')")
            proc = mpremote(port, "resume", "fs", "cat", f":/bad/{name}.txt", check=False)
            assert proc.returncode == 1, (name, proc.stdout, proc.stderr)
            assert f"mpremote: cat: /bad/{name}.txt: {text}." in proc.stderr, (name, proc.stderr)
        # An exception that is no OSError is the board's traceback, not an errno.
        mpremote(port, "resume", "exec", "Failing.err = ValueError('not an errno')")
        proc = mpremote(port, "resume", "fs", "cat", ":/bad/x.txt", check=False)
        assert proc.returncode == 1 and "ValueError: not an errno" in proc.stderr, proc.stderr
    finally:
        mpremote(port, "resume", "exec", "vfs.umount('/bad')")


def test_utf8_output_files_and_names_pass_intact(port, tmp_path):
    out = mpremote(port, "exec", f"for i in range(3): print({UTF8_LINE!r})").stdout
    assert out.replace("\r\n", "\n") == (UTF8_LINE + "\n") * 3
    assert mpremote(port, "eval", "'Hello 世界'").stdout.strip() == "Hello 世界"
    _run_script(port, tmp_path, "ramdisk.py", RAMDISK)
    text = (UTF8_LINE + "\n") * 20
    src = tmp_path / "utf8.txt"
    src.write_text(text, encoding="utf-8")
    mpremote(port, "resume", "fs", "cp", str(src), ":")
    assert mpremote(port, "resume", "fs", "cat", ":utf8.txt").stdout.replace("\r\n", "\n") == text
    assert hashlib.sha256(text.encode()).hexdigest() in mpremote(port, "resume", "fs", "sha256sum", ":utf8.txt").stdout
    # A quote in a file name: mpremote quotes it in the code it sends.
    mpremote(port, "resume", "fs", "touch", ":it's.txt")
    assert "it's.txt" in mpremote(port, "resume", "fs", "ls", ":").stdout
    mpremote(port, "resume", "fs", "rm", ":it's.txt")
    assert "it's.txt" not in mpremote(port, "resume", "fs", "ls", ":").stdout


def test_mount_imports_a_package_writes_and_reads_lines_and_refuses_rm_r(port, tmp_path):
    d = tmp_path / "host"
    (d / "pkg" / "inner").mkdir(parents=True)
    (d / "pkg" / "__init__.py").write_text("from .inner import hello\n")
    (d / "pkg" / "inner" / "__init__.py").write_text("def hello():\n    print('hello from the host')\n")
    out = mpremote(port, "mount", str(d), "exec", "import pkg; pkg.hello()").stdout
    assert "hello from the host" in out and f"Local directory {d} is mounted at /remote" in out, out
    mpremote(port, "mount", str(d), "exec", "open('w.txt', 'w').write('héllo\\nworld\\n')")
    assert (d / "w.txt").read_text(encoding="utf-8") == "héllo\nworld\n"
    out = mpremote(port, "mount", str(d), "exec", "print(open('w.txt').readlines())").stdout
    assert "['h\\xe9llo\\n', 'world\\n']" in out or "['héllo\\n', 'world\\n']" in out, out
    proc = mpremote(port, "mount", str(d), "+", "fs", "rm", "-r", ":pkg", check=False)
    assert proc.returncode != 0 and "rm -r not permitted on /remote directory" in proc.stdout + proc.stderr
    assert (d / "pkg" / "inner" / "__init__.py").exists()


def test_exec_and_run_without_follow_leave_the_board_ready_for_the_next_command(port, tmp_path):
    code = "import time\nfor i in range(5):\n    time.sleep(0.2)\n    print('background', i)\n"
    proc = mpremote(port, "exec", "--no-follow", code)
    assert "background" not in proc.stdout
    # The next command interrupts what still runs; its own output is all it prints.
    assert mpremote(port, "eval", "1+2").stdout.strip() == "3"
    script = tmp_path / "bg.py"
    script.write_text(code)
    assert "background" not in mpremote(port, "run", "--no-follow", str(script)).stdout
    assert mpremote(port, "eval", "[{'a': 'b'}, (1,2,3,), True]").stdout.strip() == "[{'a': 'b'}, (1, 2, 3), True]"


def test_os_uname_is_the_esp32_ports(port, hw_port):
    out = mpremote(port, "exec", "import os; u = os.uname(); print(u.sysname, u.nodename); print(u.machine)").stdout
    names, machine = out.strip().splitlines()
    assert names == "esp32 esp32", out
    if not hw_port:
        assert machine == "Generic ESP32 module with ESP32", out  # boards/sim.json: an ESP32_GENERIC
    out = mpremote(port, "exec", "from os import uname, listdir; print(uname()[0], type(listdir('/')))").stdout
    assert out.strip() == "esp32 <class 'list'>", out


@pytest.mark.parametrize(("board", "machine"), [
    ({"chip": "esp32"}, "Generic ESP32 module with ESP32"),
    ({"chip": "esp32", "micropython": {"variant": "SPIRAM"}}, "Generic ESP32 module with SPIRAM with ESP32"),
    ({"chip": "esp32s3"}, "Generic ESP32S3 module with ESP32S3"),
    ({"chip": "esp32s3", "micropython": {"variant": "SPIRAM_OCT"}},
     "Generic ESP32S3 module with Octal-SPIRAM with ESP32S3"),
])
def test_uname_names_the_chip_of_the_board_definition(board, machine):
    # sim/vos.py under the unix port, with the board definition vboard hands it (sim.json).
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(SIM_DIR)!r})\n"
        "import simworld\n"
        f"simworld.board = {board!r}\n"
        "import vos\n"
        "u = vos.uname()\n"
        "print(repr(u))\n"
        "print(u.machine)\n"
        "print(len(u), u[0], u.release == '%d.%d.%d' % sys.implementation.version[:3]"
        " + ('-' + sys.implementation.version[3] if sys.implementation.version[3] else ''))\n"
        "print('listdir' in dir(vos), 'sys' in dir(vos))\n"
    )
    proc = subprocess.run([micropython(), "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("(sysname='esp32', nodename='esp32', release='"), lines
    assert lines[0].endswith(f", machine='{machine}')"), lines
    assert lines[1:] == [machine, "5 esp32 True", "True False"], lines
