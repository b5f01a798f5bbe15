"""`mobiot provision` against blank and provisioned virtual boards, with the real mpremote
transport (and the real mpremote CLI to look at the board afterwards). With
`pytest --port /dev/ttyUSB0 --board NAME` the tests that do not kill the board process run
against that real board instead (docs/provisioning.md)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mobiot.codec import encode_command
from mobiot.errors import MobiotError
from mobiot.prov_build import DEVICE_FILES
from mobiot.prov_link import Session
from mobiot.provision import provision_port
from vbhelp import ROOT, WAIT_S, SerialWatch, VBoards, mpremote

SECRET_PW = "s3cr3t-Pa55-9f1c"  # distinctive strings to look for everywhere afterwards
SECRET_KEY = "-----BEGIN PRIVATE KEY-----MIIEvQ-test-7d2e"


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    # compiled .mpy cache shared by the tests of this run, not the user's ~/.cache
    monkeypatch.setenv("MOBIOT_CACHE", str(tmp_path_factory.getbasetemp() / "mpy-cache"))
    for k in list(os.environ):
        if k.startswith("MOBIOT_SECRET"):
            monkeypatch.delenv(k)


@pytest.fixture
def blank(tmp_path, hw_port, hw_board):
    """(port, board name, VBoards or None): a blank virtual board, or the real one."""
    if hw_port:
        yield hw_port, hw_board, None
        return
    with VBoards(tmp_path / "blank", 1, "--blank") as vb:
        yield vb.boards[0][0], "sim", vb


@pytest.fixture
def seeded(tmp_path, hw_port, hw_board):
    """A board with firmware already on it (as `mobiot vboard` seeds one), or the real one."""
    if hw_port:
        yield hw_port, hw_board, None
        return
    with VBoards(tmp_path / "seeded") as vb:
        yield vb.boards[0][0], "sim", vb


def board_files(port: str) -> dict[str, str]:
    """sha256 of every file on the board, read with the mpremote CLI (`fs sha256sum`)."""
    out = mpremote(port, "exec", (
        "import os,hashlib,binascii\n"
        "def w(d):\n"
        " for e in os.ilistdir(d or '/'):\n"
        "  p=(d+'/' if d else '')+e[0]\n"
        "  if e[1]==0x4000:w(p)\n"
        "  else:\n"
        "   h=hashlib.sha256();f=open(p,'rb');h.update(f.read());f.close()\n"
        "   print(p,binascii.hexlify(h.digest()).decode())\n"
        "w('')\n")).stdout
    return dict(line.split() for line in out.splitlines() if line.strip())


def hello_after_reset(port: str) -> dict:
    """Stop the firmware, soft-reset it, and return its hello frame's payload. Ctrl-C is sent
    until the prompt comes: bytes sent while a board restarts are lost, as on a real UART."""
    with SerialWatch(port) as s:
        for attempt in range(30):
            s.write(b"\r\x03\x03\r\x02")
            try:
                s.read_until(b">>> ", 1)
                break
            except AssertionError:
                if attempt == 29:
                    raise
        s.write(b"\x04")
        s.read_until(b"@H ", 30)
        line = s.read_until(b"\r\n", 10)
    return json.loads(line.rsplit(b"*", 1)[0])


def test_first_provision_of_a_blank_board_then_a_noop(blank):
    port, board, vb = blank
    did = "356938035643809" if vb is not None else None  # a real board keeps its own id
    if vb is not None:
        # no firmware to ask: the REPL shows itself (its banner, for the Ctrl-B the question
        # starts with) long before the window ends, which only a board that says nothing reaches
        s = Session(port)
        try:
            t = time.monotonic()
            assert s.handshake(WAIT_S) is None and time.monotonic() - t < WAIT_S / 2
        finally:
            s.close()
    r = provision_port(port, board, device_id=did)
    did = did or r["device_id"]
    assert not r["noop"] and r["device_id"] == did and r["fwid_reported"]
    files = board_files(port)
    manifest = json.loads(mpremote(port, "fs", "cat", ":manifest.json").stdout)
    for path, sha in manifest["files"].items():
        assert files[path] == sha, path
    assert "lib/mobiot_fw/app.mpy" in files and "main.py" in files
    assert not [p for p in files if p.endswith((".new", ".old", ".tmp"))]
    # the firmware id is a hash over the firmware's entries of the manifest, as documented
    h = hashlib.sha256()
    for p in sorted(manifest["files"]):
        if p not in DEVICE_FILES:
            h.update(f"{p} {manifest['files'][p]}\n".encode())
    assert manifest["fwid"] == h.hexdigest()[:8] == r["fwid"]
    hello = hello_after_reset(port)
    assert hello["device"] == did and hello["fwid"] == r["fwid"]
    # nothing changed: the running firmware says so and is left alone (no Ctrl-C, no reset),
    # whether the host names the device id or the board keeps its own
    boots = vb.log_text().count(" booted (") if vb is not None else None
    for again in (provision_port(port, board, device_id=did, hello_timeout_s=WAIT_S),
                  provision_port(port, board, hello_timeout_s=WAIT_S)):
        assert again["noop"] and not again["reset"] and again["copied"] == [] and again["removed"] == []
        assert again["device_id"] == did and again["fwid"] == r["fwid"]
        assert again["wire_bytes"] < 100
    still_running(port, hello["boot"], did)
    if vb is not None:
        assert vb.log_text().count(" booted (") == boots  # the board process never restarted
    assert _no_queue(board_files(port)) == _no_queue(files)
    # asked to, the full path stops the firmware and compares every file on flash: a no-op too
    full = provision_port(port, board, device_id=did, full=True)
    assert full["noop"] and full["reset"] and full["copied"] == []


def ask(port: str, line: bytes, answer: bytes) -> bytes:
    """Send a command line until its answer comes (one sent while the board reboots is lost,
    as on a UART) and return what came up to it."""
    with SerialWatch(port) as s:
        for attempt in range(WAIT_S // 5):
            s.write(line)
            try:
                return s.read_until(answer, 5)
            except AssertionError:
                if attempt == WAIT_S // 5 - 1:
                    raise
    raise AssertionError("unreachable")


def still_running(port: str, boot: int, did: str) -> None:
    """The firmware that ran before still runs, in the same boot (each boot counts one up,
    docs/records.md): it answers `!hello` with its hello frame, and `!status` with a record."""
    got = ask(port, encode_command("hello"), b'"hold":true}')
    now = json.loads(got[got.rindex(b"@H ") + 3:])
    ask(port, encode_command("status"), b'"kind":"status"')
    ask(port, encode_command("bye"), b'"cmd":"bye"')
    assert now["boot"] == boot and now["device"] == did and now["hold"], now


def _no_queue(files: dict[str, str]) -> dict[str, str]:
    return {p: h for p, h in files.items() if not p.startswith("q/")}


def test_changed_and_removed_files_and_the_queue_survives(seeded, tmp_path):
    port, board, _vb = seeded
    sec = tmp_path / "secrets.toml"
    sec.write_text(f'[mqtt]\npassword = "{SECRET_PW}"\n')
    sec.chmod(0o600)
    first = provision_port(port, board, config={"interval_s": 2}, secrets=str(sec))
    assert "secrets.json" in first["copied"]
    hello_after_reset(port)  # let the firmware queue some records
    keep = tmp_path / "keep.bin"
    keep.write_bytes(os.urandom(300))
    mpremote(port, "fs", "cp", str(keep), ":q/keep.bin")  # stands for a queue file never to touch
    before = board_files(port)
    queue = [p for p in before if p.startswith("q/")]
    assert len(queue) > 1, "the firmware queued nothing"
    # a file damaged on the board, a changed config, secrets no longer given: one copy each,
    # secrets.json (in the previous manifest, not in the new one) removed
    broken = tmp_path / "hw.mpy"
    broken.write_bytes(b"not bytecode")
    mpremote(port, "fs", "cp", str(broken), ":lib/mobiot_fw/hw.mpy")
    r = provision_port(port, board, config={"interval_s": 3})
    assert sorted(r["copied"]) == ["config.json", "lib/mobiot_fw/hw.mpy"]
    assert r["removed"] == ["secrets.json"]
    after = board_files(port)
    assert "secrets.json" not in after
    assert after["lib/mobiot_fw/hw.mpy"] == before["lib/mobiot_fw/hw.mpy"]
    assert after["q/keep.bin"] == before["q/keep.bin"]
    assert set(queue) <= set(after), set(queue) - set(after)  # unacked records all still there
    assert json.loads(mpremote(port, "fs", "cat", ":config.json").stdout)["interval_s"] == 3


def test_a_changed_secret_or_a_config_the_board_rewrote_is_not_a_noop(seeded, tmp_path):
    """The no-op asks the running firmware for the digest of config.json and secrets.json as
    they are on its flash now: a secret that changed, secrets no longer given, or a config the
    board itself rewrote (`!interval`) go the full way, and then the next run is a no-op."""
    port, board, vb = seeded
    sec = tmp_path / "secrets.toml"
    sec.write_text(f'[mqtt]\npassword = "{SECRET_PW}"\n')
    sec.chmod(0o600)
    cfg = {"interval_s": 2}
    provision_port(port, board, config=cfg, secrets=str(sec))
    same = provision_port(port, board, config=cfg, secrets=str(sec), hello_timeout_s=WAIT_S)
    assert same["noop"] and not same["reset"]
    sec.write_text(f'[mqtt]\npassword = "{SECRET_PW}-2"\n')  # the same file, one secret changed
    r = provision_port(port, board, config=cfg, secrets=str(sec), hello_timeout_s=WAIT_S)
    assert not r["noop"] and r["reset"] and r["copied"] == ["secrets.json"], r
    ask(port, encode_command("interval", "9"), b'"cmd":"interval","ok":true')  # the board rewrites config.json
    r = provision_port(port, board, config=cfg, secrets=str(sec), hello_timeout_s=WAIT_S)
    assert not r["noop"] and r["copied"] == ["config.json"], r
    r = provision_port(port, board, config=cfg, hello_timeout_s=WAIT_S)  # secrets no longer given
    assert not r["noop"] and r["copied"] == [] and r["removed"] == ["secrets.json"], r
    again = provision_port(port, board, config=cfg, hello_timeout_s=WAIT_S)
    assert again["noop"] and not again["reset"]
    files = board_files(port)
    assert "secrets.json" not in files
    assert json.loads(mpremote(port, "fs", "cat", ":config.json").stdout)["interval_s"] == 2


def test_killed_mid_copy_leaves_a_bootable_board_and_a_rerun_completes(tmp_path):
    with VBoards(tmp_path / "kill") as vb:
        port, did = vb.boards[0]
        old = provision_port(port, "sim", config={"interval_s": 2})
        killed = threading.Event()

        def prog(stage: str, done: int, total: int) -> None:
            if stage == "copy" and done > total // 3 and not killed.is_set():
                killed.set()
                vb.kill_board()

        # a different build of the firmware (another config and a changed boot.py) so that
        # most of the tree is sent again
        with pytest.raises(MobiotError, match=port):
            provision_port(port, "sim", config={"interval_s": 4}, progress=prog,
                           mpy_cross_exe=_renaming_mpy_cross(tmp_path))
        assert killed.is_set()
        hello = hello_after_reset(port)  # the old set, whole: it boots and says so
        assert hello["fwid"] == old["fwid"] and hello["device"] == did
        r = provision_port(port, "sim", config={"interval_s": 4}, mpy_cross_exe=_renaming_mpy_cross(tmp_path))
        assert not r["noop"] and r["fwid"] != old["fwid"]
        assert hello_after_reset(port)["fwid"] == r["fwid"]
        assert not [p for p in board_files(port) if p.endswith((".new", ".old"))]


def _renaming_mpy_cross(tmp_path: Path) -> str:
    """The pinned mpy-cross, compiling under another source name: the same firmware as other
    bytes, so every .mpy differs from what is on the board."""
    real = Path(sys.executable).with_name("mpy-cross")
    exe = tmp_path / "mpy-cross-renamed"
    exe.write_text(f"""#!/bin/sh
if [ "$1" = "--version" ]; then exec {real} --version; fi
shift; name=$1; shift
exec {real} -s "x/$name" "$@"
""")
    exe.chmod(0o755)
    return str(exe)


def test_invalid_config_is_refused_before_the_port_is_opened(tmp_path):
    bad = tmp_path / "dev.toml"
    bad.write_text("interval_s = 0\n")
    with pytest.raises(MobiotError, match=r"invalid config.*interval_s=0"):
        provision_port("/dev/nonexistent-board", "sim", config=str(bad))
    with pytest.raises(MobiotError, match=r"modem must be an object"):
        provision_port("/dev/nonexistent-board", "sim", config={"modem": 5})
    with pytest.raises(MobiotError, match=r"board 'no-such-board': no "):
        provision_port("/dev/nonexistent-board", "no-such-board")
    garbled = tmp_path / "dev.json"
    garbled.write_text('{"interval_s": 5,,}')
    with pytest.raises(MobiotError, match=r"dev.json:1:"):
        provision_port("/dev/nonexistent-board", "sim", config=str(garbled))


def test_mpy_mismatch_is_refused_naming_the_firmware_to_flash(seeded, tmp_path):
    port, board, _vb = seeded
    real = Path(sys.executable).with_name("mpy-cross")
    fake = tmp_path / "mpy-cross-v5"
    fake.write_text(f"""#!/bin/sh
if [ "$1" = "--version" ]; then echo "MicroPython v1.18 on 2022-01-17; mpy-cross emitting mpy v5"; exit 0; fi
exec {real} "$@"
""")
    fake.chmod(0o755)
    before = board_files(port)
    with pytest.raises(MobiotError, match=r"loads \.mpy v6\.3, but mpy-cross v1\.18 makes v5\.0: flash"):
        provision_port(port, board, mpy_cross_exe=str(fake))
    assert _no_queue(board_files(port)) == _no_queue(before)


def test_fleet_of_three_from_an_inventory_in_parallel(tmp_path, hw_port):
    if hw_port:
        pytest.skip("needs three boards")
    with VBoards(tmp_path / "fleet", 3) as vb:
        (p0, d0), (p1, d1), (p2, d2) = vb.boards
        uid1 = f"{int(d1) & 0xFFFFFFFFFFFF:012x}"  # sim/machine.py unique_id()
        inv = tmp_path / "fleet.toml"
        inv.write_text(f"""
[defaults]
board = "sim"
config = {{ interval_s = 30 }}

[[device]]
name = "by-port"
device_id = "356938035000001"
match = {{ port = "{p0}" }}

[[device]]
name = "by-unique-id"
device_id = "356938035000002"
match = {{ unique_id = "{uid1}" }}
config = {{ status_every = 3 }}

[[device]]
name = "by-device-id"
match = {{ device_id = "{d2}" }}
""")
        proc = subprocess.run([sys.executable, "-m", "mobiot", "provision", "--inventory", str(inv), "--port", p0,
                               "--port", p1, "--port", p2, "--json"], capture_output=True, text=True, cwd=str(ROOT),
                              timeout=600)
        assert proc.returncode == 0, proc.stderr
        res = {r["name"]: r for r in json.loads(proc.stdout)}
        assert res["by-port"]["port"] == p0 and res["by-port"]["device_id"] == "356938035000001"
        assert res["by-unique-id"]["port"] == p1 and res["by-unique-id"]["device_id"] == "356938035000002"
        assert res["by-device-id"]["port"] == p2 and res["by-device-id"]["device_id"] == d2
        cfg1 = json.loads(mpremote(p1, "fs", "cat", ":config.json").stdout)
        assert cfg1["status_every"] == 3 and cfg1["interval_s"] == 30
        # one progress bar per board
        for name in res:
            assert name in proc.stderr


def test_secrets_never_in_output_logs_config_or_database(tmp_path, seeded):
    port, board, vb = seeded
    sec = tmp_path / "secrets.toml"
    sec.write_text(f'[mqtt]\nusername = "dev1"\npassword = "{SECRET_PW}"\n[tls]\nkey = "{SECRET_KEY}"\n')
    sec.chmod(0o644)
    proc = subprocess.run([sys.executable, "-m", "mobiot", "provision", "--port", port, "--board", board,
                           "--secrets", str(sec)], capture_output=True, text=True, cwd=str(ROOT), timeout=300)
    assert proc.returncode == 1 and "readable by others" in proc.stderr and SECRET_PW not in proc.stderr
    sec.chmod(0o600)
    env = dict(os.environ, MOBIOT_SECRET_MODEM_APN_PASSWORD="apn-" + SECRET_PW)
    outs = []
    for extra in ([], ["--json"]):
        proc = subprocess.run([sys.executable, "-m", "mobiot", "provision", "--port", port, "--board", board,
                               "--secrets", str(sec), *extra], capture_output=True, text=True, cwd=str(ROOT),
                              timeout=300, env=env)
        assert proc.returncode == 0, proc.stderr
        outs += [proc.stdout, proc.stderr]
    on_board = json.loads(mpremote(port, "fs", "cat", ":secrets.json").stdout)
    assert on_board["mqtt"]["password"] == SECRET_PW and on_board["modem"]["apn_password"] == "apn-" + SECRET_PW
    public = mpremote(port, "fs", "cat", ":config.json").stdout + mpremote(port, "fs", "cat", ":manifest.json").stdout
    db = tmp_path / "c.sqlite"
    coll = subprocess.run([sys.executable, "-m", "mobiot", "collect", "--port", port, "--db", str(db),
                           "--duration", "8", "--no-dashboard"], capture_output=True, text=True, cwd=str(ROOT),
                          timeout=120)
    outs += [coll.stdout, coll.stderr, public]
    if vb is not None:
        outs.append(vb.log_text())
    blobs = [db.read_bytes()] if db.exists() else []
    for text in outs:
        assert SECRET_PW not in text and SECRET_KEY not in text
    for blob in blobs:
        assert SECRET_PW.encode() not in blob and SECRET_KEY.encode() not in blob


def test_not_micropython_and_unknown_port_are_one_line_errors(tmp_path):
    master, slave = os.openpty()
    stop = threading.Event()

    def chatter():  # something on a serial line that is no MicroPython REPL
        while not stop.is_set():
            try:
                os.write(master, b"AT\r\nOK\r\n")
            except OSError:
                return
            stop.wait(0.2)

    t = threading.Thread(target=chatter, daemon=True)
    t.start()
    try:
        with pytest.raises(MobiotError, match=r"not a MicroPython REPL") as exc:
            provision_port(os.ttyname(slave), "sim", wake_timeout_s=30)
        assert "\n" not in str(exc.value)
    finally:
        stop.set()
        t.join()
        os.close(master)
        os.close(slave)
    with pytest.raises(MobiotError, match=r"/dev/nonexistent-port: cannot open"):
        provision_port("/dev/nonexistent-port", "sim")


def test_a_sleeping_board_is_caught_at_its_next_wake(tmp_path):
    with VBoards(tmp_path / "sleepy") as vb:
        port, did = vb.boards[0]
        cfg = {"interval_s": 3, "maint_window_ms": 800, "sleep": {"deep": True}, "modem": {"enabled": False}}
        provision_port(port, "sim", config=cfg)
        with SerialWatch(port) as s:  # wait until it is really down
            s.read_until(b'"event":"boot"', WAIT_S)
        r = provision_port(port, "sim", config=dict(cfg, interval_s=4), wake_timeout_s=WAIT_S)
        assert r["copied"] == ["config.json"]
        assert json.loads(mpremote(port, "fs", "cat", ":config.json").stdout)["interval_s"] == 4


def test_full_flash_is_refused_and_the_board_keeps_its_files(tmp_path):
    with VBoards(tmp_path / "full") as vb:
        port, _did = vb.boards[0]
        old = provision_port(port, "sim")
        # fill the flash from the board itself (nothing crosses the line): 32 KB files up to
        # ENOSPC (littlefs drops the file that failed). Through a provisioning session, whose
        # reads have deadlines (the mpremote CLI waits forever for a byte that never comes);
        # a "." a file keeps the answer alive however slow the machine is.
        s = Session(port)
        try:
            s.attach()
            s.run("import os\nb=bytes(4096)\nn=0\nwhile 1:\n p='fill%d.bin'%n\n try:\n"
                  "  with open(p,'wb') as f:\n   for i in range(8):f.write(b)\n except OSError:\n"
                  "  os.remove(p)\n  break\n n+=1;print('.',end='')", "fill", timeout_s=WAIT_S)
        finally:
            s.close()
        # refused up front from statvfs, or (littlefs counts free blocks loosely) at the first
        # write that fails, with what was written so far removed
        with pytest.raises(MobiotError, match=rf"{port}: flash full.*nothing was changed"):
            provision_port(port, "sim", mpy_cross_exe=_renaming_mpy_cross(tmp_path))
        files = board_files(port)
        assert "fill0.bin" in files and not [p for p in files if p.endswith((".new", ".old"))]
        assert hello_after_reset(port)["fwid"] == old["fwid"]


def test_provision_over_a_socket_url(tmp_path):
    """The transport is serial_for_url: a board behind a TCP serial server (socket://, as
    esp_rfc2217_server or ser2net give) provisions like a local one."""
    import socket

    import serial

    with VBoards(tmp_path / "net", 1, "--blank") as vb:
        port, _did = vb.boards[0]
        srv = socket.create_server(("127.0.0.1", 0))
        url = f"socket://127.0.0.1:{srv.getsockname()[1]}"
        stop = threading.Event()

        def bridge():
            ser = serial.Serial(port, 115200, timeout=0.02)
            srv.settimeout(0.2)
            while not stop.is_set():
                try:
                    conn, _ = srv.accept()
                except TimeoutError:
                    continue
                conn.settimeout(0.02)
                while not stop.is_set():
                    data = ser.read(4096)
                    if data:
                        conn.sendall(data)
                    try:
                        got = conn.recv(4096)
                    except TimeoutError:
                        continue
                    if not got:
                        break
                    ser.write(got)
                conn.close()
            ser.close()

        t = threading.Thread(target=bridge, daemon=True)
        t.start()
        try:
            r = provision_port(url, "sim", device_id="356938035643809")
            assert not r["noop"] and r["fwid_reported"]
            assert provision_port(url, "sim", device_id="356938035643809")["noop"]
        finally:
            stop.set()
            t.join()
            srv.close()
        assert hello_after_reset(port)["fwid"] == r["fwid"]


def test_firmware_that_crashes_at_boot_is_rolled_back(tmp_path):
    with VBoards(tmp_path / "crash") as vb:
        port, did = vb.boards[0]
        old = provision_port(port, "sim")
        real = Path(sys.executable).with_name("mpy-cross")
        broken = tmp_path / "mpy-cross-broken"
        broken.write_text(f"""#!/bin/sh
if [ "$1" = "--version" ]; then exec {real} --version; fi
case "$2" in
  mobiot_fw/app.py) printf 'not an mpy file' > "$4"; exit 0;;
esac
exec {real} "$@"
""")
        broken.chmod(0o755)
        with pytest.raises(MobiotError, match=rf"{port}: verify failed: .*crashed at boot.*; rolled back"):
            provision_port(port, "sim", mpy_cross_exe=str(broken))
        hello = hello_after_reset(port)
        assert hello["fwid"] == old["fwid"] and hello["device"] == did
        files = board_files(port)
        assert "crash.cnt" not in files and not [p for p in files if p.endswith((".new", ".old"))]


def _run_main(port: str, tmp_path: Path, source: str, ready: bytes) -> None:
    """Put `source` on the board as main.py, soft-reset into it and wait until it prints `ready`."""
    main = tmp_path / "main.py"
    main.write_text(source)
    mpremote(port, "fs", "cp", str(main), ":main.py")
    with SerialWatch(port) as s:
        s.write(b"\r\x03\x03\r\x02")
        s.read_until(b">>> ")
        s.write(b"\x04")
        s.read_until(ready)


def _provision_over(port: str, tmp_path: Path, source: str, ready: bytes) -> dict:
    """Run `source` as main.py, then provision the board while it runs: it must succeed."""
    _run_main(port, tmp_path, source, ready)
    r = provision_port(port, "sim", device_id="356938035643809")
    assert not r["noop"] and r["fwid_reported"]
    return r


# A main.py that keeps most of the heap after Ctrl-C, as a stopped firmware does (its modules
# stay in sys.modules): what is left is less than a script of provisioning needs to compile.
HEAP_HOG = """import sys, time, gc
hog = []
try:
    while True:
        hog.append(bytearray(1024))
except MemoryError:
    pass
for _ in range(2):
    hog.pop()
sys.modules["hog"] = hog
gc.collect()
print("hogging, free", gc.mem_free())
while True:
    time.sleep_ms(100)
"""


def test_a_board_whose_program_holds_the_heap_is_provisioned(tmp_path, hw_port):
    """Ctrl-C stops main.py but frees nothing it keeps: provisioning soft-resets in the raw
    REPL before its first script, which otherwise fails with MemoryError on the board."""
    if hw_port:
        pytest.skip("replaces main.py of a virtual board")
    with VBoards(tmp_path / "hog", 1, "--blank") as vb:
        port, _did = vb.boards[0]
        r = _provision_over(port, tmp_path, HEAP_HOG, b"hogging, free")
        assert hello_after_reset(port)["fwid"] == r["fwid"]


# A boot.py that mounts the flash read-only (as a board protecting its files does): every
# write then fails with EROFS, reads work.
READ_ONLY_BOOT = """import vfs
_fs = vfs.mount()[0][0]
vfs.umount('/')
vfs.mount(_fs, '/', readonly=True)
del _fs
print('flash mounted read-only')
"""


def test_read_only_flash_is_refused_and_nothing_changes(tmp_path, hw_port):
    if hw_port:
        pytest.skip("replaces boot.py of a virtual board")
    with VBoards(tmp_path / "ro") as vb:
        port, _did = vb.boards[0]
        boot = tmp_path / "boot.py"
        boot.write_text(READ_ONLY_BOOT)
        mpremote(port, "fs", "cp", str(boot), ":boot.py")
        before = board_files(port)
        with pytest.raises(MobiotError, match=rf"^{port}: flash is read-only \(errno 30 writing a test file\); "
                                              r"nothing was changed$"):
            provision_port(port, "sim", config={"interval_s": 7})
        assert board_files(port) == before


# A main.py that logs every exception and carries on, KeyboardInterrupt too.
BUSY_MAIN = """import sys, time
print('busy main.py up')
while True:
    try:
        while True:
            time.sleep_ms(50)
    except BaseException as e:
        sys.print_exception(e)
"""

# A main.py that takes its time to stop: it swallows the first Ctrl-Cs.
SLOW_MAIN = """import time
print('slow main.py up')
n = 0
while n < 4:
    try:
        time.sleep_ms(50)
    except KeyboardInterrupt:
        n += 1
        print('not yet', n)
"""


def image_files(img: Path, tmp_path: Path) -> dict[str, str]:
    """sha256 of every file in a virtual board's flash image, read from a copy of it by the
    unix port (sim/flashdev.py), without a word to the board: for a board that will not stop."""
    copy = tmp_path / "image-copy.img"
    copy.write_bytes(img.read_bytes())
    sim, path = str(ROOT / "sim"), str(copy)
    code = (f"import sys,vfs,os,hashlib,binascii\nsys.path.insert(0,{sim!r})\nfrom flashdev import FlashDev\n"
            f"vfs.mount(vfs.VfsLfs2(FlashDev(open({path!r},'r+b'))),'/f')\n"
            "def w(d):\n for e in os.ilistdir(d):\n  p=d+'/'+e[0]\n  if e[1]==0x4000:w(p)\n  else:\n"
            "   h=hashlib.sha256();f=open(p,'rb');h.update(f.read());f.close()\n"
            "   print(p[3:],binascii.hexlify(h.digest()).decode())\nw('/f')\n")
    out = subprocess.run([str(Path(sys.executable).with_name("micropython")), "-c", code], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    return dict(line.split() for line in out.splitlines() if line.strip())


def test_a_board_busy_in_main_py_is_refused_and_a_slow_one_is_waited_for(tmp_path, hw_port):
    if hw_port:
        pytest.skip("replaces main.py of a virtual board")
    with VBoards(tmp_path / "busy", 1, "--blank") as vb:
        port, did = vb.boards[0]
        _provision_over(port, tmp_path, SLOW_MAIN, b"slow main.py up")
        _run_main(port, tmp_path, BUSY_MAIN, b"busy main.py up")
        img = tmp_path / "busy" / did / "flash.img"
        before = image_files(img, tmp_path)
        assert before["main.py"] == hashlib.sha256(BUSY_MAIN.encode()).hexdigest()
        with pytest.raises(MobiotError, match=rf"^{port}: board busy in main.py: it does not stop for Ctrl-C "
                                              r"\(no REPL prompt within \d+ s\)$"):
            provision_port(port, "sim", device_id="356938035643809", config={"interval_s": 9})
        assert image_files(img, tmp_path) == before  # nothing written, not even a temporary file
        with SerialWatch(port) as s:  # and it still runs its main.py
            s.write(b"\x03")
            s.read_until(b"KeyboardInterrupt")


def test_a_silent_port_times_out_as_a_board_asleep_too_long(tmp_path):
    master, slave = os.openpty()  # nothing answers: a board asleep for longer than the wait
    try:
        with pytest.raises(MobiotError, match=r"no answer within 3 s: not running MicroPython, or asleep "
                                              r"longer than --wake-timeout$"):
            provision_port(os.ttyname(slave), "sim", wake_timeout_s=3)
    finally:
        os.close(master)
        os.close(slave)
