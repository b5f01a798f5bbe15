"""`mobiot collect` against fake boards on real pseudo-terminals.

Each fake board follows docs/protocol.md "Delivery": it keeps its records until acked, sends at
most `window` unacked at a time, resends after `resend_s`, and only while a host is attached
(`!hello` .. `!bye`). It parses commands with its own code (not the collector's codec) and, for
every ack it gets, checks in the database that the record was already committed: an ack that
arrives before its commit is recorded as a violation.

The collector runs as a subprocess (`python -m mobiot collect --port <link> --no-dashboard`),
so the tests also cover the CLI, signals and a kill -9. Ports are symlinks to /dev/pts/N, as
udev's /dev/serial/by-id links are: unplug removes the pty and the link, replug makes a new
pty behind the same link.
"""

from __future__ import annotations

import binascii
import json
import os
import select
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import tty
from functools import reduce
from pathlib import Path

import pytest

T0 = 1764146800
# Every wait here is for a condition; its deadline is one only a real failure reaches (a loaded
# 2-core CI machine makes the collector slow, never this slow).
WAIT_S = 120


def xor(data: bytes) -> int:
    return reduce(lambda a, b: a ^ b, data, 0)


def frame(ftype: str, payload: dict) -> bytes:
    body = ftype.encode() + b" " + json.dumps(payload, separators=(",", ":")).encode()
    return b"@" + body + b"*" + f"{binascii.crc32(body):08X}".encode() + b"\r\n"


class FakeBoard:
    """A board behind a pty: records 1..n, window, resend timer, ack checks against the DB."""

    def __init__(self, link: Path, device: str, n: int, db: Path, window: int = 8, resend_s: float = 0.4,
                 noise: bool = True, first_seq: int = 1, pause_after: int | None = None) -> None:  # fmt: skip
        self.link = link
        self.device = device
        self.db_path = db
        self.window = window
        self.resend_s = resend_s
        self.noise = noise
        # once this many records are acked, send nothing new (resends go on) until it is None
        self.pause_after = pause_after
        self.queue: dict[int, bytes] = {}
        for seq in range(first_seq, first_seq + n):
            if seq % 3:
                kind = "reading"
                values = {
                    "temp": round(20 + seq / 100, 2),
                    "hum": 40 + seq % 7,
                    "press": 101000 + seq,
                    "bat": 3.9,
                }
            else:
                kind = "connectivity"
                values = {"rat": "LTE-M", "oper": "26201", "rsrp": -90 - seq % 9, "attached": True}
            self.queue[seq] = frame(
                "R", {"device": device, "boot": 2, "seq": seq, "t": T0 + seq, "clock": "utc", "kind": kind,
                      "values": values},
            )  # fmt: skip
        self.all_seqs = sorted(self.queue)
        self.sent_at: dict[int, float] = {}
        self.acked: list[int] = []
        self.violations: list[str] = []
        self.commands: list[bytes] = []
        self.bad_commands = 0
        self.deaf = False  # take command lines without answering them (a board about to reset)
        self.lost_hellos = 0  # this many !hello lines are lost on the way in (line noise)
        self.live_at = 0.0  # while unheld: the firmware's live send of a new record (test below)
        self.live_while_unheld = False
        self.live_seq = 1000
        self.attached = False
        self.boot = 2
        self.sends = 0
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.master: int | None = None
        self._db: sqlite3.Connection | None = None

    # -- plug / unplug --------------------------------------------------------------------------

    def plug(self) -> None:
        m, s = os.openpty()
        tty.setraw(m)
        tty.setraw(s)
        os.set_blocking(m, False)
        self.master, self._slave = m, s
        tmp = self.link.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(os.ttyname(s))
        tmp.replace(self.link)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def unplug(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(2)
        self.link.unlink(missing_ok=True)
        os.close(self.master)
        os.close(self._slave)
        self.master = None
        self.attached = False

    # -- the board loop -------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        try:
            os.write(self.master, data)
        except (BlockingIOError, OSError):
            pass  # nobody reading (collector killed): a real UART drops bytes too

    def _run(self) -> None:
        buf = b""
        while not self._stop.is_set():
            r, _, _ = select.select([self.master], [], [], 0.02)
            if r:
                try:
                    data = os.read(self.master, 4096)
                except OSError:  # EIO while no process has the slave open
                    data = b""
                buf += data
                *lines, buf = buf.replace(b"\r", b"\n").split(b"\n")
                for line in lines:
                    if line:
                        self._command(line)
            if self.attached:
                self._send_due()
            elif self.live_while_unheld and time.monotonic() - self.live_at > 0.5:
                # docs/protocol.md "Delivery": every new record is sent once as it is made,
                # host or no host (these are not queued: the queued ones need a host that holds
                # the board)
                self.live_at = time.monotonic()
                self.live_seq += 1
                self._write(frame("R", {"device": self.device, "boot": 2, "seq": self.live_seq, "t": T0,
                                        "clock": "utc", "kind": "reading", "values": {"temp": 20.5}}))

    def _command(self, line: bytes) -> None:
        self.commands.append(line)
        start = line.rfind(b"!")
        star = line.rfind(b"*")
        if start < 0 or star < start or len(line) != star + 3:
            self.bad_commands += 1
            return
        body = line[start + 1 : star]
        if int(line[star + 1 :], 16) != xor(body):
            self.bad_commands += 1
            return
        verb, _, args = body.decode().partition(" ")
        if verb == "hello" and self.lost_hellos:
            self.lost_hellos -= 1
        elif verb == "hello":
            self.attached = True
            self._write(frame("H", {"proto": 1, "device": self.device, "fw": "test", "board": "fake",
                                    "boot": self.boot, "hold": True}))  # fmt: skip
        elif verb == "interval" and not self.deaf:
            self._write(frame("K", {"cmd": "interval", "ok": True}))
        elif verb == "bye":
            self.attached = False
            self._write(frame("K", {"cmd": "bye", "ok": True}))
        elif verb == "ack":
            seqs = []
            for item in args.split(","):
                a, _, b = item.partition("-")
                seqs += range(int(a), int(b or a) + 1)
            self._check_committed(seqs)
            with self.lock:
                for s in seqs:
                    if s in self.queue:
                        del self.queue[s]
                        self.acked.append(s)

    def _check_committed(self, seqs: list[int]) -> None:
        if self._db is None:
            self._db = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=WAIT_S,
                                       check_same_thread=False)
        have = {
            r[0]
            for r in self._db.execute(
                f"SELECT seq FROM records WHERE device = ? AND seq IN ({','.join('?' * len(seqs))})",
                (self.device, *seqs),
            )
        }
        for s in seqs:
            if s not in have:
                self.violations.append(f"ack of {self.device}/{s} before it was committed")

    def _send_due(self) -> None:
        now = time.monotonic()
        with self.lock:
            pending = sorted(self.queue)[: self.window]
            if self.pause_after is not None and len(set(self.acked)) >= self.pause_after:
                pending = [s for s in pending if s in self.sent_at]
            out = []
            for seq in pending:
                last = self.sent_at.get(seq)
                if last is None or now - last >= self.resend_s:
                    out.append(self.queue[seq])
                    self.sent_at[seq] = now
                    self.sends += 1
                    if self.noise and seq % 5 == 0:
                        out.append(b"I (%d) app: sampled\r\n" % seq)
        if out:
            self._write(b"".join(out))

    def reboot(self) -> None:
        """Reset: the board forgets the host and announces itself unheld (protocol "Handshake")."""
        self.attached = False
        self.boot += 1
        self.sent_at.clear()
        self._write(b"ets Jun  8 2016 00:22:57\r\n\r\nrst:0x5 (DEEPSLEEP_RESET)\r\n")
        self._write(frame("H", {"proto": 1, "device": self.device, "fw": "test", "board": "fake",
                                "boot": self.boot, "hold": False}))  # fmt: skip

    def wait_acked(self, n: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(set(self.acked)) >= n:
                return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        if self.master is not None:
            self.unplug()
        if self._db is not None:
            self._db.close()


def start_collector(db: Path, links: list[Path], *extra: str) -> subprocess.Popen:
    args = [sys.executable, "-m", "mobiot", "collect", "--db", str(db), "--no-dashboard", "--json", *extra]
    for link in links:
        args += ["--port", str(link)]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop_collector(proc: subprocess.Popen, sig=signal.SIGTERM) -> dict:
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 0, err
    return json.loads(out)


def db_rows(db: Path) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT device, seq, t, kind, vals FROM records ORDER BY device, seq").fetchall()
    finally:
        con.close()


@pytest.fixture
def boards(tmp_path):
    made: list[FakeBoard] = []

    def make(name: str, device: str, n: int, **kw) -> FakeBoard:
        b = FakeBoard(tmp_path / name, device, n, tmp_path / "c.sqlite", **kw)
        made.append(b)
        return b

    yield make
    for b in made:
        b.close()


def test_one_board_every_record_once_and_acked_after_commit(tmp_path, boards):
    db = tmp_path / "c.sqlite"
    b = boards("ttyA", "356938035643809", 120)
    b.plug()
    proc = start_collector(db, [b.link])
    try:
        assert b.wait_acked(120, WAIT_S), f"acked {len(b.acked)} of 120"
    finally:
        summary = stop_collector(proc, signal.SIGINT)
    assert b.violations == []
    assert b.bad_commands == 0
    assert b.commands[0] == b"!hello*62"
    assert b.commands[-1] == b"!bye*%02X" % xor(b"bye")
    rows = db_rows(db)
    assert [r[1] for r in rows] == list(range(1, 121))
    # Spot-check content against what the board sent.
    r = rows[0]
    assert r[0] == "356938035643809" and r[2] == T0 + 1 and r[3] == "reading"
    assert json.loads(r[4]) == {"temp": 20.01, "hum": 41, "press": 101001, "bat": 3.9}
    dev = summary["devices"]["356938035643809"]
    assert dev["new_records"] == 120 and dev["total_records"] == 120 and dev["missing_seqs"] == 0
    port = summary["ports"][str(b.link)]
    assert port["bad_frames"] == 0 and port["log_lines"] >= 120 // 5
    assert summary["inserted"] == 120


def test_several_boards_at_once(tmp_path, boards):
    db = tmp_path / "c.sqlite"
    bs = [boards(f"tty{i}", f"dev-{i}", 80 + 20 * i) for i in range(3)]
    for b in bs:
        b.plug()
    proc = start_collector(db, [b.link for b in bs])
    try:
        for b in bs:
            assert b.wait_acked(len(b.all_seqs), WAIT_S), f"{b.device}: acked {len(b.acked)}"
    finally:
        summary = stop_collector(proc)
    rows = db_rows(db)
    for i, b in enumerate(bs):
        assert [r[1] for r in rows if r[0] == b.device] == b.all_seqs
        assert b.violations == []
        assert summary["devices"][b.device]["new_records"] == 80 + 20 * i


def test_bad_frames_are_quarantined_not_stored_and_not_acked(tmp_path, boards):
    db = tmp_path / "c.sqlite"
    b = boards("ttyQ", "dev-q", 10, noise=False)
    # Corrupt the first transmission of seq 3 (one byte flipped); the resend is intact.
    original = b.queue[3]
    corrupted = bytearray(original)
    corrupted[20] ^= 0x04
    b.queue[3] = bytes(corrupted)
    b.plug()
    proc = start_collector(db, [b.link])
    try:
        deadline = time.monotonic() + WAIT_S
        while 3 not in b.sent_at and time.monotonic() < deadline:
            time.sleep(0.01)
        with b.lock:
            b.queue[3] = original
        assert b.wait_acked(10, WAIT_S)
    finally:
        summary = stop_collector(proc)
    assert [r[1] for r in db_rows(db)] == list(range(1, 11))
    assert summary["ports"][str(b.link)]["bad_frames"] >= 1
    con = sqlite3.connect(db)
    (raw, reason), *_ = con.execute("SELECT raw, reason FROM quarantine").fetchall()
    con.close()
    assert raw == bytes(corrupted).rstrip(b"\r\n") and reason == "crc"
    assert b.violations == []


def test_unplug_and_replug(tmp_path, boards):
    db = tmp_path / "c.sqlite"
    b = boards("ttyU", "dev-u", 200)
    keep = boards("ttyK", "dev-k", 60)  # another board that must keep going meanwhile
    b.plug()
    keep.plug()
    proc = start_collector(db, [b.link, keep.link])
    try:
        assert b.wait_acked(40, WAIT_S)
        b.unplug()
        time.sleep(1.0)
        assert proc.poll() is None, "collector died on unplug"
        assert keep.wait_acked(60, WAIT_S)
        b.plug()  # a new pty behind the same link
        assert b.wait_acked(200, WAIT_S), f"acked {len(b.acked)} of 200 after replug"
    finally:
        summary = stop_collector(proc)
    rows = db_rows(db)
    assert [r[1] for r in rows if r[0] == "dev-u"] == list(range(1, 201))
    assert [r[1] for r in rows if r[0] == "dev-k"] == list(range(1, 61))
    assert summary["ports"][str(b.link)]["opens"] == 2
    assert b.violations == [] and keep.violations == []


def test_kill_9_then_restart_every_record_exactly_once(tmp_path, boards):
    db = tmp_path / "c.sqlite"
    n = 600
    # the board stops making new records at 150 acked, so that the kill lands mid-stream
    # however long this machine takes between the wait and the kill
    b = boards("ttyX", "356938035643809", n, window=16, resend_s=0.3, pause_after=150)
    b.plug()
    proc = start_collector(db, [b.link])
    try:
        assert b.wait_acked(150, WAIT_S)
    finally:
        proc.kill()  # SIGKILL: no flush, no acks, no !bye
        proc.wait(10)
    acked_before = len(set(b.acked))
    assert acked_before < n, "kill came too late to test anything"
    stored_at_kill = len(db_rows(db))
    assert stored_at_kill >= acked_before  # never acked what was not stored
    time.sleep(0.5)  # the board keeps resending into the void
    b.pause_after = None
    proc = start_collector(db, [b.link])
    try:
        assert b.wait_acked(n, WAIT_S), f"acked {len(set(b.acked))} of {n}"
    finally:
        summary = stop_collector(proc)
    rows = db_rows(db)
    assert [r[1] for r in rows] == list(range(1, n + 1))  # no loss, no duplicate
    assert b.violations == []
    assert summary["devices"]["356938035643809"]["new_records"] == n - stored_at_kill
    assert b.sends > n  # the board did resend


def test_a_rebooted_board_is_held_again(tmp_path, boards):
    db = tmp_path / "c.sqlite"
    b = boards("ttyR", "dev-r", 100)
    b.plug()
    proc = start_collector(db, [b.link])
    try:
        assert b.wait_acked(20, WAIT_S)
        hellos = b.commands.count(b"!hello*62")
        b.reboot()  # no records flow until the collector says !hello again
        assert b.wait_acked(100, WAIT_S), f"acked {len(b.acked)}: board was not held again after reboot"
        assert b.commands.count(b"!hello*62") == hellos + 1
    finally:
        stop_collector(proc)
    assert [r[1] for r in db_rows(db)] == list(range(1, 101))
    con = sqlite3.connect(db)
    assert con.execute("SELECT fw, board, boot FROM devices WHERE device = 'dev-r'").fetchone() == ("test", "fake", 3)
    con.close()


def test_a_command_the_board_reset_before_answering_is_sent_again(tmp_path, boards, monkeypatch):
    # `mobiot send` through the collector: the board takes the line and resets before it answers
    # (a watchdog, a power dip). Its hello after the reset brings the line again, and the
    # reply reaches the sender within its timeout.
    from mobiot import control

    monkeypatch.setenv(control.RUNTIME_ENV, str(tmp_path / "run"))
    db = tmp_path / "c.sqlite"
    b = boards("ttyC", "dev-c", 20)
    b.deaf = True
    b.plug()
    proc = start_collector(db, [b.link])
    got: dict = {}

    def send() -> None:
        try:
            got["reply"] = control.send_command("dev-c", "interval 30", timeout_s=WAIT_S)
        except Exception as exc:  # noqa: BLE001 - reported by the assert below
            got["error"] = exc

    def sent() -> int:
        return sum(c.startswith(b"!interval 30*") for c in list(b.commands))

    try:
        assert b.wait_acked(20, WAIT_S)
        deadline = time.monotonic() + WAIT_S
        while not control.collectors() or not any(p.get("device") == "dev-c" for p in control.collectors()[0]["ports"]):
            assert time.monotonic() < deadline, "the collector never listed dev-c"
            time.sleep(0.05)
        t = threading.Thread(target=send)
        t.start()
        while not sent():
            assert time.monotonic() < deadline, "the command never reached the board"
            time.sleep(0.02)
        b.deaf = False
        b.reboot()
        t.join(WAIT_S + 10)
        assert got.get("reply") == {"cmd": "interval", "ok": True}, got
        assert sent() == 2
    finally:
        out = stop_collector(proc)
    assert out  # the collector's summary


def test_a_hello_lost_on_the_line_is_sent_again(tmp_path, boards):
    # The collector's first !hello never reaches the board (line noise; a USB bridge that had
    # not taken the port's speed yet), which goes on sending live records unheld. The collector
    # sends !hello again, the board is held, and its queued records arrive, none lost.
    db = tmp_path / "c.sqlite"
    b = boards("ttyH", "dev-h", 30)
    b.lost_hellos = 1
    b.live_while_unheld = True
    b.plug()
    proc = start_collector(db, [b.link])
    try:
        assert b.wait_acked(30, WAIT_S), f"acked {len(set(b.acked))} of 30: the board was never held"
        assert b.commands.count(b"!hello*62") == 2
    finally:
        stop_collector(proc)
    seqs = [r[1] for r in db_rows(db)]
    assert seqs[:30] == list(range(1, 31)) and all(s > 1000 for s in seqs[30:]), seqs


def test_duration_stops_by_itself_and_missing_port_is_waited_for(tmp_path, boards):
    # A port that is not there yet is retried (and said so on stderr) until it appears.
    db = tmp_path / "c.sqlite"
    b = boards("late", "dev-late", 20)
    t0 = time.monotonic()
    proc = start_collector(db, [b.link], "--duration", "3")
    _, err = proc.communicate(timeout=WAIT_S)
    assert 2.9 <= time.monotonic() - t0 < WAIT_S  # stopped by itself (a hang reaches the deadline)
    assert f"cannot open {b.link}: no such device" in err
    # no port ever opened: a failure, said in one last line
    assert proc.returncode == 1 and "no port could be opened in 3 s" in err.strip().splitlines()[-1], err
    # Without --duration it waits for the port as long as it takes, and takes the board once it
    # is plugged (checked by condition, not by how much a fixed duration let through). Plug the
    # board only once the collector has said it cannot open the port: a loaded machine may take
    # longer than any fixed sleep to start the collector.
    proc = start_collector(db, [b.link])
    try:
        first = ""
        while f"cannot open {b.link}: no such device" not in first:
            line = proc.stderr.readline()
            assert line, f"collector exited before saying the port is missing: {first}"
            first += line
        b.plug()
        assert b.wait_acked(20, WAIT_S), f"acked {len(b.acked)} of 20"
    finally:
        summary = stop_collector(proc)
    assert summary["inserted"] == 20 and summary["ports"][str(b.link)]["opens"] == 1
    assert b.violations == []


def test_port_generation_guard_drops_stale_acks():
    # In-process: an ack earned on an older connection of the port must not be written.
    from mobiot.collect import Port

    p = Port("loop://", 115200)
    p.open()
    old_gen = p.gen
    p.close()
    p.open()
    assert not p.send([b"!ack 1*31\n"], old_gen)
    assert p.send([b"!ack 2*32\n"], p.gen)
    assert p.ser.read(64) == b"!ack 2*32\n"
    p.close()
    assert not p.send([b"!bye*7E\n"])


def test_unusable_database_is_a_one_line_error(tmp_path):
    bad = tmp_path / "not.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    r = subprocess.run(
        [sys.executable, "-m", "mobiot", "collect", "--db", str(bad), "--port", "loop://",
         "--duration", "0.1", "--no-dashboard"],
        capture_output=True, text=True, timeout=20,
    )  # fmt: skip
    assert r.returncode == 1
    assert r.stderr.startswith("mobiot: error:") and str(bad) in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_find_boards_matches_usb_ids(monkeypatch):
    from types import SimpleNamespace

    from serial.tools import list_ports

    from mobiot import collect

    ports = [
        SimpleNamespace(device="/dev/ttyUSB0", vid=0x10C4, pid=0xEA60),  # CP210x
        SimpleNamespace(device="/dev/ttyACM0", vid=0x303A, pid=0x1001),  # ESP32-S3/C3 USB Serial/JTAG
        SimpleNamespace(device="/dev/ttyUSB1", vid=0x1A86, pid=0x7523),  # CH340
        SimpleNamespace(device="/dev/ttyACM1", vid=0x2341, pid=0x0043),  # an Arduino Uno: not ours
        SimpleNamespace(device="/dev/ttyS0", vid=None, pid=None),  # a motherboard UART
    ]
    monkeypatch.setattr(list_ports, "comports", lambda: ports)
    assert [d for d, _ in collect.find_boards()] == ["/dev/ttyACM0", "/dev/ttyUSB0", "/dev/ttyUSB1"]
