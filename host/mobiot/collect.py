"""`mobiot collect`: read frames from every board, store records in SQLite, ack after commit.

Contracts: docs/protocol.md (frames, commands, delivery), docs/collector.md (schema, behaviour).

Threads: one reader per port (open exclusively, `!hello`, read, decode, notice a board at its
REPL, reopen when the port comes back, let go of it while another tool borrows it), one writer
that owns the SQLite connection (batch, commit, then ack), the control channel (control.py:
status, lend a port, send a command), and the main thread (port scan, dashboard or status
lines, signals, summary). Decoded frames of every transport enter through `Collector.ingest`
and one queue to the writer; acks go writer -> ack target (for serial, `SerialAck`: the port,
guarded by its connection generation so that an ack never reaches a different board that was
plugged into the same port meanwhile).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import sqlite3
import sys
import threading
import time
from collections import deque
from pathlib import Path

import click

from .codec import Decoded, Decoder, encode_acks, encode_command
from .control import ControlServer, describe_open_error, same_port
from .dashboard import STATUS_EVERY_S, DeviceView, render, status_lines
from .errors import MobiotError
from .mqtt_ingest import MqttIngest, mqtt_options, start_mqtt
from .store import Store, seq_gaps

# USB bridges and native USB of ESP32 boards, as (VID, PID) from the USB descriptors.
# Sources: espflash resources/70-espflash.rules (303A:1001/1002 Espressif USB Serial/JTAG,
# 10C4:EA60 Silicon Labs CP210x); ESP-IDF usb/cdc host ch34x header (1A86:7523 CH340);
# WCH CH9102 as listed by openblock-link src/lib/usb-id.js (1A86:55D4); Linux
# drivers/usb/serial/ftdi_sio_ids.h (0403:6001 FT232R, 6010 FT2232, 6014 FT232H, 6015 FT-X);
# esptool docs, ESP32-S2 ROM USB-OTG CDC download mode (303A:0002).
USB_IDS: dict[tuple[int, int], str] = {
    (0x10C4, 0xEA60): "CP210x",
    (0x1A86, 0x7523): "CH340",
    (0x1A86, 0x55D4): "CH9102",
    (0x1A86, 0x55D3): "CH343",
    (0x0403, 0x6001): "FT232R",
    (0x0403, 0x6010): "FT2232",
    (0x0403, 0x6014): "FT232H",
    (0x0403, 0x6015): "FT-X",
    (0x303A, 0x1001): "ESP USB Serial/JTAG",
    (0x303A, 0x1002): "ESP USB bridge",
    (0x303A, 0x0002): "ESP32-S2 USB-OTG",
    (0x303A, 0x4001): "ESP32-S2/S3 TinyUSB CDC",
}

RESCAN_S = 2.0
REOPEN_S = 0.5  # first retry of a port that failed; doubles up to REOPEN_MAX_S
REOPEN_MAX_S = 5.0
OPEN_LOG_MAX_S = 60.0  # "cannot open" repeated with backoff: 1, 2, 4 ... 60 s apart
READ_TIMEOUT_S = 0.05
WRITE_TIMEOUT_S = 1.0
BATCH_RECORDS = 2000  # commit at least this often in records...
BATCH_S = 0.05  # ...and at least this often in seconds (the ack latency it adds)
DASHBOARD_HZ = 4
# A traceback or soft reboot with no frame for this long: the board is at the REPL. Long enough
# that a firmware still booting on a loaded machine is not taken for one (a prompt is certain
# at once).
REPL_QUIET_S = 15.0
WAKE_PROMPT_S = 2.0  # wait this long for ">>> " after Ctrl-B before the Ctrl-D of a wake
WAKE_RETRY_S = 30.0
SEND_TIMEOUT_S = 10.0
SEND_RESENDS = 3  # a command is sent again after each of this many resets of the board
# A !hello that no H frame answered while the board sends frames (lost to line noise, or to a
# port whose speed the bridge had not taken yet) is sent again: first after this long, then
# twice as long each time, up to HELLO_RETRY_MAX_S. Without it the board is never held, and
# the records it queued while no host listened are never resent.
HELLO_RETRY_S = 5.0
HELLO_RETRY_MAX_S = 60.0

# What a MicroPython board at its REPL prints (ports/esp32, shared/runtime/pyexec.c).
FRIENDLY_PROMPT = b">>> "
RAW_BANNER = b"raw REPL; CTRL-B to exit"
SOFT_REBOOT = b"MPY: soft reboot"
TRACEBACK = b"Traceback (most recent call last):"
# Soft reset into the firmware, as the ESP32 port expects at its REPL: Ctrl-C (twice: interrupt
# whatever runs), Ctrl-B (leave the raw REPL for the friendly one), then, at the friendly
# prompt, Ctrl-D: a soft reset that runs boot.py and main.py (pyexec.c, ports/esp32/main.c).
WAKE_BREAK = b"\r\x03\x03\x02"
_TEXT_BYTES = bytes([9, 10, 13, *range(0x20, 0x7F)])
WAKE_RESET = b"\x04"


def find_boards() -> list[tuple[str, str]]:
    """(device path, description) of attached serial ports whose USB ids match USB_IDS."""
    from serial.tools import list_ports

    out = []
    for p in list_ports.comports():
        if p.vid is not None and (p.vid, p.pid) in USB_IDS:
            out.append((p.device, USB_IDS[(p.vid, p.pid)]))
    return sorted(out)


def usb_ids_text() -> str:
    return ", ".join(f"{v:04X}:{p:04X} ({name})" for (v, p), name in USB_IDS.items())


class Port:
    """One serial port: opened and reopened by its reader thread, written by the writer too."""

    def __init__(self, url: str, baud: int) -> None:
        self.url = url
        self.baud = baud
        self.ser = None
        self.gen = 0  # +1 at every open: acks carry the generation they were earned on
        self.device: str | None = None  # the board last heard on this generation
        self.state = "waiting"
        self.opens = 0
        self.bytes = 0
        self.frames = 0
        self.bad_frames = 0
        self.log_lines = 0
        self.junk = 0  # bytes that are not text (CR, LF, tab, 0x20-0x7E): a wrong baud makes these
        self.last_error = ""
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.poke = threading.Event()  # wakes the reader from a retry wait (lease, stop)
        # Lent to another tool (docs/collector.md "Control channel"): who has it, and set once
        # the reader has closed it.
        self.lent_to: str | None = None
        self.released = threading.Event()
        # The board at its REPL: what was seen, and a wake in progress.
        self.repl = ""
        self.tail = b""
        self.last_frame = 0.0
        self.soft_reboot_at = 0.0
        self.traceback_at = 0.0
        self.wake_step = 0
        self.wake_at = 0.0
        self.next_wake = 0.0
        self.wake_once = False
        # `mobiot send` commands waiting for their reply: [verb, event, reply box, line, resends, device]
        self.waiters: list[list] = []
        self.hello_at = 0.0  # monotonic time of the last !hello not yet answered by an H frame
        self.hello_every = HELLO_RETRY_S

    def describe(self) -> str:
        if self.lent_to:
            return f"lent to {self.lent_to}"
        if self.repl:
            return f"REPL ({self.repl})" + (" - waking" if self.wake_step else "")
        if self.state == "open" and not self.frames and self.bytes > 256 and self.junk > self.bytes // 2:
            return f"garbled (wrong --baud {self.baud}?)"
        return self.state

    def open(self):
        import serial

        # Exclusive (flock), as mpremote opens: a second tool fails at once instead of both
        # reading half of the stream.
        ser = serial.serial_for_url(
            self.url, baudrate=self.baud, timeout=READ_TIMEOUT_S, write_timeout=WRITE_TIMEOUT_S, exclusive=True
        )
        with self.lock:
            self.ser = ser
            self.gen += 1
            self.device = None
            self.opens += 1
            self.state = "open"
            self.tail = b""
            self.repl = ""
            self.soft_reboot_at = self.traceback_at = 0.0
            self.wake_step = 0
        return ser

    def close(self, state: str = "closed", error: str = "") -> None:
        with self.lock:
            ser, self.ser = self.ser, None
            self.state = state
            if error:
                self.last_error = error
        if ser is not None:
            try:
                ser.close()
            except Exception:
                pass

    def send(self, lines: list[bytes], gen: int | None = None) -> bool:
        """Write command lines if the port is still open on generation `gen` (any if None).

        A reopened port may have another board behind it: acks earned on an older generation
        are dropped, and the board that earned them resends (dedup makes that harmless).
        """
        with self.lock:
            ser = self.ser
            if ser is None or (gen is not None and gen != self.gen):
                return False
            try:
                ser.write(b"".join(lines))
                ser.flush()
            except Exception:
                # Port gone or stuck: the board resends whatever was not acked.
                return False
        return True


class SerialAck:
    """Ack target of records that came over a serial port: `!ack` lines to the same connection."""

    __slots__ = ("port", "gen")

    def __init__(self, port: Port, gen: int) -> None:
        self.port = port
        self.gen = gen

    def __hash__(self) -> int:
        return hash((id(self.port), self.gen))

    def __eq__(self, other) -> bool:
        return isinstance(other, SerialAck) and other.port is self.port and other.gen == self.gen

    def send_acks(self, seqs: list[int]) -> None:
        self.port.send(encode_acks(seqs), self.gen)


class Collector:
    """Readers, writer, control channel and shared state; `run()` blocks until stopped."""

    def __init__(
        self, ports: list[str], db: str, baud: int, scan: bool, wake: bool = False, control: bool = True
    ) -> None:
        self.db_path = db
        self.baud = baud
        self.scan = scan
        self.wake = wake
        self.ports: dict[str, Port] = {}
        self.q: queue.SimpleQueue = queue.SimpleQueue()
        self.stop = threading.Event()
        self.writer_done = threading.Event()
        self.writer_error: BaseException | None = None
        self.devices: dict[str, DeviceView] = {}
        self.view_lock = threading.Lock()
        self.log_pane: deque = deque(maxlen=200)
        self.live = False  # a live table shows the log pane: no stderr lines then
        self.started = time.time()
        self.totals = {"received": 0, "inserted": 0, "duplicates": 0, "quarantined": 0}
        self.ever_opened = False
        self.mqtt: MqttIngest | None = None  # the broker of --mqtt, if any
        self.scanned_empty = False
        self.store: Store | None = None
        # An existing database is checked now; a new one is created only once a board has
        # sent something, so a run that never reaches a board leaves no file behind.
        if Path(db).exists():
            self._open_store()
        self.control: ControlServer | None = None
        if control:
            try:
                self.control = ControlServer(self._control, self._control_closed)
            except OSError as exc:
                self.log(f"control channel not available ({exc}): provision/flash cannot borrow ports")
        for url in ports:
            self.add_port(url)

    def _open_store(self) -> Store:
        if self.store is None:
            try:
                self.store = Store(self.db_path)
            except (sqlite3.Error, OSError, ValueError) as exc:
                raise MobiotError(f"cannot open database {self.db_path}: {exc}") from exc
        return self.store

    # -- progress lines ---------------------------------------------------------------------

    def log(self, msg: str) -> None:
        """A progress or state line: the live table's log pane, else one line on stderr."""
        with self.view_lock:
            self.log_pane.append((time.time(), msg))
        if not self.live:
            print(f"collect: {msg}", file=sys.stderr, flush=True)

    # -- ports ---------------------------------------------------------------------------------

    def add_port(self, url: str) -> None:
        if url in self.ports:
            return
        port = Port(url, self.baud)
        self.ports[url] = port
        port.thread = threading.Thread(target=self._reader, args=(port,), name=f"read {url}", daemon=True)
        port.thread.start()

    def rescan(self) -> None:
        try:
            found = find_boards()
        except Exception:
            return
        if not found and not self.ports and not self.scanned_empty:
            self.scanned_empty = True
            self.log(f"no board found; looking for USB ids {usb_ids_text()} (or give --port)")
        for dev, desc in found:
            if dev not in self.ports:
                self.log(f"found {desc} at {dev}")
            self.add_port(dev)

    def find_port(self, name: str) -> Port | None:
        for url, p in self.ports.items():
            if same_port(url, name):
                return p
        return None

    def _wait(self, port: Port, seconds: float) -> None:
        port.poke.wait(seconds)
        port.poke.clear()

    def _reader(self, port: Port) -> None:
        import serial

        fails = 0
        next_log = 0.0
        log_every = 1.0
        last_reason = ""
        while not self.stop.is_set():
            if port.lent_to is not None:
                port.released.set()
                self._wait(port, 0.5)
                continue
            try:
                ser = port.open()
            except (serial.SerialException, OSError, ValueError) as exc:
                reason = describe_open_error(port.url, exc)
                port.state = "waiting"
                port.last_error = reason
                fails += 1
                now = time.monotonic()
                if reason != last_reason or now >= next_log:
                    retry = min(REOPEN_S * 2 ** (fails - 1), REOPEN_MAX_S)
                    self.log(f"cannot open {port.url}: {reason}; retrying every {retry:.1f} s")
                    log_every = 1.0 if reason != last_reason else min(log_every * 2, OPEN_LOG_MAX_S)
                    next_log = now + log_every
                    last_reason = reason
                self._wait(port, min(REOPEN_S * 2 ** (fails - 1), REOPEN_MAX_S))
                continue
            self.ever_opened = True
            if fails or port.opens == 1:
                self.log(f"{port.url}: open" + (f" after {fails} failed tries" if fails else ""))
            fails, last_reason, log_every = 0, "", 1.0
            port.last_error = ""
            gen = port.gen
            self.q.put(("count", port.url, time.time(), {"opens": 1}))
            self._hello(port, gen)
            if port.wake_once:
                port.next_wake = 0.0
            dec_feed = Decoder().feed
            try:
                while not self.stop.is_set():
                    if port.lent_to is not None:
                        port.close("lent")
                        port.released.set()
                        break
                    n = ser.in_waiting
                    data = ser.read(n if n > 0 else 1)
                    now = time.time()
                    if data:
                        got = dec_feed(data)
                        port.bytes += len(data)
                        self._on_data(port, gen, now, data, got)
                    self._check_repl(port, now)
            except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
                # Unplugged (EIO, disconnect) or closed under us; TypeError/AttributeError come
                # from pyserial reading a port that close() just released.
                if self.stop.is_set():
                    return
                if port.lent_to is not None:
                    port.close("lent")
                    port.released.set()
                    continue
                err = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                port.close("gone", err)
                self.log(f"{port.url}: lost ({err}); reopening")
                self.q.put(("gone", port.url, time.time(), {}))
                self._wait(port, REOPEN_S)
                continue
            if self.stop.is_set():
                return  # stop: the port stays open for the last acks and !bye

    def _on_data(self, port: Port, gen: int, now: float, data: bytes, got: Decoded) -> None:
        port.tail = (port.tail + data)[-512:]
        port.junk += len(data.translate(None, _TEXT_BYTES))
        for line in got.logs:
            if line.startswith(SOFT_REBOOT):
                port.soft_reboot_at = now
            elif line.startswith(TRACEBACK):
                port.traceback_at = now
        if got.frames:
            port.frames += len(got.frames)
            port.last_frame = now
            if port.repl:
                self.log(f"{port.url}: board {port.device or ''} runs its firmware again".replace("  ", " "))
            port.repl = ""
            port.wake_step = 0
            port.wake_once = False
        for fr in got.frames:
            if fr.type == "H":
                dev = fr.payload.get("device")
                if isinstance(dev, str):
                    if dev != port.device:
                        self.log(
                            f"{port.url}: board {dev} ({fr.payload.get('board', '?')}, "
                            f"fw {fr.payload.get('fw', '?')}, boot {fr.payload.get('boot', '?')})"
                        )
                    port.device = dev
                    with self.view_lock:
                        v = self.devices.setdefault(dev, DeviceView())
                        v.port = port.url
                        v.board = str(fr.payload.get("board", "") or v.board)
                        v.fw = str(fr.payload.get("fw", "") or v.fw)
                # A board that (re)booted listens only for maint_window_ms
                # (docs/protocol.md "Handshake at wake"): hold it again, and send again the
                # commands it had not answered when it reset (every verb is idempotent).
                if fr.payload.get("hold") is not True:
                    self._hello(port, gen, self._unanswered(port, fr.payload.get("device")))
                else:
                    port.hello_at, port.hello_every = 0.0, HELLO_RETRY_S
            elif fr.type == "R" and port.device is None:
                dev = fr.payload.get("device")
                if isinstance(dev, str):
                    port.device = dev
            self._answer_waiters(port, fr)
        if got.frames and port.hello_at and time.monotonic() - port.hello_at > port.hello_every:
            self.log(f"{port.url}: no answer to !hello within {port.hello_every:g} s: sent again")
            port.hello_every = min(port.hello_every * 2, HELLO_RETRY_MAX_S)
            self._hello(port, gen)
        self.ingest(port.url, now, got.frames, got.bad, SerialAck(port, gen))
        port.bad_frames += len(got.bad)
        port.log_lines += len(got.logs)
        self.q.put((
            "count", port.url, now,
            {"bytes": len(data), "frames": len(got.frames), "bad_frames": len(got.bad), "log_lines": len(got.logs)},
        ))  # fmt: skip

    # -- the board at its REPL -------------------------------------------------------------------

    def _check_repl(self, port: Port, now: float) -> None:
        tail = port.tail
        kind = ""
        if tail.endswith(FRIENDLY_PROMPT):
            kind = "friendly prompt"
        elif RAW_BANNER in tail[-64:] and tail.endswith(b">"):
            kind = "raw REPL"
        elif port.traceback_at > port.last_frame and now - port.traceback_at > REPL_QUIET_S:
            kind = "traceback"
        elif port.soft_reboot_at > port.last_frame and now - port.soft_reboot_at > REPL_QUIET_S:
            kind = "soft reboot, no records since"
        if kind and kind != port.repl and not port.wake_step:
            port.repl = kind
            hint = "waking it (soft reset)" if (self.wake or port.wake_once) else "run collect with --wake to start it"
            self.log(f"{port.url}: board at the MicroPython REPL ({kind}), not its firmware; {hint}")
        if not port.repl:
            return
        if port.wake_step == 0 and (self.wake or port.wake_once) and now >= port.next_wake:
            port.wake_step, port.wake_at, port.next_wake = 1, now, now + WAKE_RETRY_S
            port.tail = b""
            port.send([WAKE_BREAK])
        elif port.wake_step == 1 and (port.tail.endswith(FRIENDLY_PROMPT) or now - port.wake_at > WAKE_PROMPT_S):
            port.wake_step = 2
            port.send([WAKE_RESET])
            self.log(f"{port.url}: soft reset sent (Ctrl-D)")
        elif port.wake_step == 2 and now - port.wake_at > WAKE_RETRY_S:
            # No frame came (a board with no firmware on it yet, say): with --wake try again
            # at next_wake; the one wake after a lease is spent.
            port.wake_step = 0
            port.wake_once = False
            port.repl = ""
            self.log(f"{port.url}: no frame after the soft reset; is the firmware on the board?")

    # -- records: the one ingest path ------------------------------------------------------------

    def ingest(self, source: str, received_at: float, frames, bad=(), ack=None) -> None:
        """Hand decoded frames to the writer: records are committed in its next batch, and only
        after that COMMIT does it call `ack.send_acks(seqs)` with the seqs of this source's
        records (stored or duplicate). The one place records enter the database, for every
        transport: serial ports here, MQTT ingest too. `ack` must be hashable (equal targets are
        acked together) or None (nothing to ack)."""
        if frames or bad:
            self.q.put(("ingest", source, received_at, (frames, bad, ack)))

    # -- writer ---------------------------------------------------------------------------------

    def _writer(self) -> None:
        try:
            self._write_loop()
        except BaseException as exc:  # disk full, database locked for 30 s, ...
            self.writer_error = exc
            self.stop.set()
        finally:
            self.writer_done.set()

    def _write_loop(self) -> None:
        q = self.q
        held: list[tuple] = []  # port counters that came before the database exists
        first_pending: float | None = None
        while True:
            timeout = BATCH_S if first_pending is None else max(0.0, first_pending + BATCH_S - time.monotonic())
            try:
                item = q.get(timeout=timeout)
            except queue.Empty:
                item = None
            if item is not None:
                kind, source, t, arg = item
                if kind == "ingest" and self.store is None:
                    self._open_store()
                    for _, url, t0, delta in held:
                        self.store.count_port(url, last_seen=t0, **delta)  # type: ignore[union-attr]
                    held.clear()
                store = self.store
                if kind == "ingest" and store is not None:
                    frames, bad, ack = arg
                    store.ingest(source, t, frames, bad, ack_to=ack)
                elif kind == "count":
                    if store is None:
                        held.append(item)
                    else:
                        store.count_port(source, last_seen=t, **arg)
                if first_pending is None:
                    first_pending = time.monotonic()
            stopping = self.stop.is_set()
            due = first_pending is not None and (
                (self.store is not None and self.store.pending >= BATCH_RECORDS)
                or time.monotonic() - first_pending >= BATCH_S
            )
            if due or (stopping and item is None):
                self._flush()
                first_pending = None
            if stopping and item is None:
                return

    def _flush(self) -> None:
        if self.store is None:
            return
        res = self.store.flush()
        # Committed: now, and only now, the acks.
        for target, seqs in res.acks.items():
            if target is None:
                continue
            try:
                target.send_acks(seqs)  # type: ignore[attr-defined]
            except Exception as exc:  # one transport's failure must not stop the writer
                self.log(f"ack to {target!r} failed: {exc}")
        self.totals["received"] += len(res.records)
        self.totals["inserted"] += res.inserted
        self.totals["duplicates"] += res.duplicates
        self.totals["quarantined"] += res.quarantined
        if res.records:
            self._update_view(res.records)

    def _update_view(self, records: list[tuple[str, dict]]) -> None:
        now = time.time()
        notes = []
        with self.view_lock:
            per_dev: dict[str, int] = {}
            for source, p in records:
                dev = p["device"]
                v = self.devices.get(dev)
                if v is None:
                    v = self.devices[dev] = DeviceView()
                v.port = source
                ev = v.update(p, now)
                if ev is not None:
                    notes.append(f"{dev} {ev[0]} {ev[1]}".strip())
                per_dev[dev] = per_dev.get(dev, 0) + 1
            for dev, n in per_dev.items():
                self.devices[dev].arrivals.append((now, n))
            for n in notes:
                self.log_pane.append((now, n))

    # -- control channel (docs/collector.md "Control channel") ------------------------------------

    def _control(self, req: dict, conn: dict) -> dict:
        op = req.get("op")
        if op == "status":
            return {
                "ok": True,
                "pid": os.getpid(),
                "who": "mobiot collect",
                "db": str(Path(self.db_path).resolve()),
                "ports": [
                    {"port": url, "state": p.describe(), "device": p.device, "lent_to": p.lent_to, "repl": p.repl}
                    for url, p in list(self.ports.items())
                ],
            }
        if op == "release":
            port = self.find_port(str(req["port"]))
            if port is None:
                return {"ok": False, "err": f"{req['port']} is not one of this collector's ports"}
            who = str(req.get("who") or "another tool")
            if port.lent_to is not None:
                return {"ok": False, "err": f"port busy: lent to {port.lent_to}"}
            port.released.clear()
            port.lent_to = who
            conn.setdefault("leases", []).append(port)
            port.poke.set()
            if not port.released.wait(RELEASE_WAIT_S):
                return {"ok": False, "err": f"{port.url} did not close within {RELEASE_WAIT_S:.0f} s"}
            self.log(f"{port.url}: lent to {who}")
            return {"ok": True, "port": port.url}
        if op == "reclaim":
            port = self.find_port(str(req["port"]))
            leases = conn.get("leases", [])
            if port is None or port not in leases:
                return {"ok": False, "err": f"{req['port']} is not lent on this connection"}
            leases.remove(port)
            self._reclaim(port)
            return {"ok": True, "port": port.url}
        if op == "send":
            return self._send(str(req["device"]), str(req["line"]), float(req.get("timeout_s", SEND_TIMEOUT_S)))
        return {"ok": False, "err": f"unknown op {op!r}"}

    def _control_closed(self, conn: dict) -> None:
        for port in conn.get("leases", []):
            self._reclaim(port)

    def _reclaim(self, port: Port) -> None:
        who = port.lent_to
        port.wake_once = True  # the tool may leave the board at its REPL (mpremote does)
        port.lent_to = None
        port.poke.set()
        self.log(f"{port.url}: back from {who}")

    def _send(self, device: str, line: str, timeout_s: float) -> dict:
        from .codec import parse_command

        try:
            verb, _ = parse_command(line.encode("ascii"))
        except (ValueError, UnicodeEncodeError) as exc:
            return {"ok": False, "err": f"not a command line: {exc}"}
        port = next((p for p in self.ports.values() if p.device == device and p.ser is not None), None)
        if port is None:
            return {"ok": False, "err": f"device {device} is not on an open port of this collector"}
        box: list = []
        ev = threading.Event()
        wire = line.encode("ascii") + (b"" if line.endswith("\n") else b"\n")
        with port.lock:
            port.waiters.append([verb, ev, box, wire, 0, device])
        try:
            if not port.send([wire]):
                return {"ok": False, "err": f"{port.url}: write failed"}
            if not ev.wait(timeout_s):
                return {"ok": False, "err": f"no reply from {device} to {verb} within {timeout_s:g} s"}
            return {"ok": True, "reply": box[0]}
        finally:
            with port.lock:
                port.waiters = [w for w in port.waiters if w[1] is not ev]

    def _hello(self, port: Port, gen: int, then: list[bytes] | None = None) -> None:
        """`!hello` (and the lines `then`) to the board on `port`: the board answers with an H
        frame and is held (docs/protocol.md "Handshake at wake")."""
        port.hello_at = time.monotonic()
        port.send([encode_command("hello"), *(then or ())], gen)

    def _unanswered(self, port: Port, device) -> list[bytes]:
        """The command lines still waiting for a reply from `device` on `port`, each at most
        SEND_RESENDS times: a board that reset before it answered (a watchdog, a power dip) never
        read the line, or lost its reply. `hello` is in the handshake already."""
        lines = []
        with port.lock:
            for w in port.waiters:
                if w[0] != "hello" and w[5] == device and not w[1].is_set() and w[4] < SEND_RESENDS:
                    w[4] += 1
                    lines.append(w[3])
        if lines:
            self.log(f"{port.url}: board {device} reset with {len(lines)} command(s) unanswered: sent again")
        return lines

    def _answer_waiters(self, port: Port, fr) -> None:
        if not port.waiters:
            return
        p = fr.payload
        if fr.type == "K":
            verb = p.get("cmd")
        elif fr.type == "H":
            verb = "hello"
        elif fr.type == "R" and p.get("kind") == "status":
            verb = "status"
        else:
            return
        with port.lock:
            for v, ev, box, *_ in port.waiters:
                if v == verb and not ev.is_set():
                    box.append(p)
                    ev.set()
                    break

    # -- main -----------------------------------------------------------------------------------

    def run(self, duration: float | None, dashboard: bool) -> dict:
        writer = threading.Thread(target=self._writer, name="writer", daemon=True)
        writer.start()
        deadline = None if duration is None else time.monotonic() + duration
        live = None
        if dashboard:
            from rich.console import Console
            from rich.live import Live

            live = Live(console=Console(stderr=True), auto_refresh=False, transient=False)
            live.start()
            self.live = True
        next_scan = 0.0
        next_status = time.monotonic() + STATUS_EVERY_S
        try:
            while not self.stop.is_set():
                mono = time.monotonic()
                if deadline is not None and mono >= deadline:
                    break
                if self.scan and mono >= next_scan:
                    self.rescan()
                    next_scan = mono + RESCAN_S
                if live is not None:
                    live.update(render(self), refresh=True)
                elif mono >= next_status:
                    next_status = mono + STATUS_EVERY_S
                    for line in status_lines(self):
                        print(f"collect: {line}", file=sys.stderr, flush=True)
                wait = 1.0 / DASHBOARD_HZ
                if deadline is not None:
                    wait = min(wait, max(0.0, deadline - mono))
                self.stop.wait(wait)
        finally:
            self.stop.set()
            for port in self.ports.values():
                port.poke.set()
            if self.control is not None:
                self.control.close()
            self.writer_done.wait(30)
            for port in self.ports.values():
                port.send([encode_command("bye")])
            for port in self.ports.values():
                port.close()
            for port in self.ports.values():
                if port.thread is not None:
                    port.thread.join(1.0)
            if live is not None:
                live.update(render(self), refresh=True)
                live.stop()
                self.live = False
        if self.writer_error is not None:
            raise MobiotError(f"writing {self.db_path} failed: {self.writer_error}") from self.writer_error
        self._check_hopeless()
        summary = self.summary()
        if self.store is not None:
            self.store.close()
        return summary

    def _check_hopeless(self) -> None:
        """A run that never reached a board fails loudly, in one line saying why."""
        took = time.time() - self.started
        if self.mqtt is not None and (not self.ports or self.mqtt.messages):
            return  # a broker: terminals that sleep may well send nothing for a while
        if not self.ports:
            raise MobiotError(f"no board found in {took:.0f} s: looked for USB ids {usb_ids_text()}; give --port")
        if not self.ever_opened:
            why = "; ".join(f"{url}: {p.last_error or 'not opened'}" for url, p in sorted(self.ports.items()))
            raise MobiotError(f"no port could be opened in {took:.0f} s: {why}")
        if not any(p.frames for p in self.ports.values()):
            parts = []
            for url, p in sorted(self.ports.items()):
                if p.repl:
                    parts.append(f"{url} is at the MicroPython REPL ({p.repl}): run with --wake")
                elif p.opens and p.junk > p.bytes // 2:
                    parts.append(f"{url}: {p.bytes} bytes, {p.junk} of them not text: wrong --baud {p.baud}?")
                elif p.opens:
                    parts.append(f"{url}: {p.bytes} bytes, {p.log_lines} log lines, no frame")
                else:
                    parts.append(f"{url}: {p.last_error or 'not opened'}")
            raise MobiotError(f"nothing arrived from any board in {took:.0f} s: " + "; ".join(parts))

    def summary(self) -> dict:
        devices: dict[str, dict] = {}
        totals: dict = {}
        this_run: dict = {}
        gaps: dict = {}
        if self.store is not None:
            db = self.store.db
            this_run = dict(
                db.execute(
                    "SELECT device, count(*) FROM records WHERE received_at >= ? GROUP BY device",
                    (self.started,),
                ).fetchall()
            )
            totals = dict(db.execute("SELECT device, count(*) FROM records GROUP BY device").fetchall())
            gaps = seq_gaps(db)
        with self.view_lock:
            received = {dev: v.received for dev, v in self.devices.items()}
        for dev in sorted(set(totals) | set(received)):
            g = gaps.get(dev, [])
            devices[dev] = {
                "new_records": this_run.get(dev, 0),
                "received": received.get(dev, 0),
                "total_records": totals.get(dev, 0),
                "missing_seqs": sum(b - a + 1 for a, b in g),
                "gaps": [list(x) for x in g[:20]],
            }
        ports = {
            url: {
                "bad_frames": p.bad_frames, "log_lines": p.log_lines, "bytes": p.bytes, "opens": p.opens,
                "frames": p.frames, "state": p.describe(), "last_error": p.last_error,
            }
            for url, p in self.ports.items()
        }  # fmt: skip
        if self.mqtt is not None:
            ports[self.mqtt.url] = self.mqtt.stats()
        return {
            "db": str(self.db_path),
            "duration_s": round(time.time() - self.started, 3),
            **self.totals,
            "devices": devices,
            "ports": ports,
        }


RELEASE_WAIT_S = 10.0


def print_summary(summary: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(
        f"collected {summary['inserted']} new records ({summary['duplicates']} resends, "
        f"{summary['quarantined']} quarantined) in {summary['duration_s']:.1f} s into {summary['db']}"
    )
    for dev, d in summary["devices"].items():
        gaps = ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in d["gaps"]) or "none"
        click.echo(
            f"  device {dev}: {d['new_records']} new, {d['total_records']} stored, "
            f"{d['missing_seqs']} missing seqs (gaps: {gaps})"
        )
    for url, p in summary["ports"].items():
        click.echo(f"  port {url}: {p['bad_frames']} bad frames, {p['log_lines']} log lines, {p['opens']} opens")


@click.command()
@click.option(
    "--port",
    "ports",
    multiple=True,
    help="Serial port or pyserial URL (repeatable). Default: every board found by USB id.",
)
@click.option(
    "--db",
    default="collect.sqlite",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="SQLite database.",
)
@click.option("--baud", default=115200, show_default=True, type=click.IntRange(300, 4_000_000))
@click.option("--duration", type=click.FloatRange(min=0), default=None, help="Stop after S seconds.")
@click.option("--no-dashboard", is_flag=True, help="No live table: a status line per board every 10 s instead.")
@click.option("--wake", is_flag=True, help="Soft-reset a board found at its MicroPython REPL into its firmware.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@mqtt_options
def collect(
    ports: tuple[str, ...],
    db: str,
    baud: int,
    duration: float | None,
    no_dashboard: bool,
    wake: bool,
    as_json: bool,
    **mqtt_opts,
) -> int:
    """Collect records from boards into SQLite; ack each record after it is committed.

    Progress and status go to stderr, the summary to stdout. Exits non-zero when no port ever
    opened or no board sent anything for the whole run."""
    parent = Path(db).resolve().parent
    if not parent.is_dir():
        raise MobiotError(f"cannot create database {db}: directory {parent} does not exist")
    col = Collector(list(ports), db, baud, scan=not ports and not mqtt_opts["mqtt"], wake=wake)
    if not ports and not mqtt_opts["mqtt"]:
        col.log(f"no --port given: collecting from every board with USB id {usb_ids_text()}")
    col.mqtt = start_mqtt(col, **mqtt_opts)

    def on_signal(signum, frame):  # noqa: ARG001
        col.stop.set()

    old = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.signal(sig, on_signal)
    try:
        dashboard = not no_dashboard and sys.stderr.isatty()
        summary = col.run(duration, dashboard)
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)
        if col.mqtt is not None:
            col.mqtt.stop()
    print_summary(summary, as_json)
    return 0
