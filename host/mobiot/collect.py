"""`mobiot collect`: read frames from every board, store records in SQLite, ack after commit.

Contracts: docs/protocol.md (frames, commands, delivery), docs/collector.md (schema, behaviour).

Threads: one reader per port (open, `!hello`, read, decode, reopen when the port comes back),
one writer that owns the SQLite connection (batch, commit, then ack), and the main thread
(port scan, dashboard, signals, summary). Frames go reader -> writer through one queue; acks go
writer -> port directly, guarded by the port's connection generation so that an ack never
reaches a different board that was plugged into the same port meanwhile.
"""

from __future__ import annotations

import json
import queue
import signal
import sqlite3
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import click

from .codec import Decoded, Decoder, encode_acks, encode_command
from .errors import MobiotError
from .mqtt_ingest import mqtt_options, start_mqtt
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
REOPEN_S = 0.5
READ_TIMEOUT_S = 0.05
WRITE_TIMEOUT_S = 1.0
BATCH_RECORDS = 2000  # commit at least this often in records...
BATCH_S = 0.05  # ...and at least this often in seconds (the ack latency it adds)
DASHBOARD_HZ = 4
RATE_WINDOW_S = 5.0


def find_boards() -> list[tuple[str, str]]:
    """(device path, description) of attached serial ports whose USB ids match USB_IDS."""
    from serial.tools import list_ports

    out = []
    for p in list_ports.comports():
        if p.vid is not None and (p.vid, p.pid) in USB_IDS:
            out.append((p.device, USB_IDS[(p.vid, p.pid)]))
    return sorted(out)


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
        self.bad_frames = 0
        self.log_lines = 0
        self.last_error = ""
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def open(self):
        import serial

        ser = serial.serial_for_url(self.url, baudrate=self.baud, timeout=READ_TIMEOUT_S, write_timeout=WRITE_TIMEOUT_S)
        with self.lock:
            self.ser = ser
            self.gen += 1
            self.device = None
            self.opens += 1
            self.state = "open"
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


@dataclass
class DeviceView:
    """What the dashboard shows about one device."""

    port: str = ""
    last_seen: float = 0.0
    latest: dict = field(default_factory=dict)
    received: int = 0
    arrivals: deque = field(default_factory=lambda: deque(maxlen=4096))

    def rate(self, now: float) -> float:
        a = self.arrivals
        while a and now - a[0][0] > RATE_WINDOW_S:
            a.popleft()
        return sum(n for _, n in a) / RATE_WINDOW_S


class Collector:
    """Readers, writer and shared state; `run()` blocks until stopped."""

    def __init__(self, ports: list[str], db: str, baud: int, scan: bool) -> None:
        self.db_path = db
        self.baud = baud
        self.scan = scan
        self.ports: dict[str, Port] = {}
        self.q: queue.SimpleQueue = queue.SimpleQueue()
        self.stop = threading.Event()
        self.writer_done = threading.Event()
        self.writer_error: BaseException | None = None
        self.devices: dict[str, DeviceView] = {}
        self.view_lock = threading.Lock()
        self.started = time.time()
        self.totals = {"received": 0, "inserted": 0, "duplicates": 0, "quarantined": 0}
        try:
            self.store = Store(db)
        except (sqlite3.Error, OSError, ValueError) as exc:
            raise MobiotError(f"cannot open database {db}: {exc}") from exc
        for url in ports:
            self.add_port(url)

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
        for dev, _desc in found:
            self.add_port(dev)

    def _reader(self, port: Port) -> None:
        import serial

        hello = encode_command("hello")
        q = self.q
        while not self.stop.is_set():
            try:
                ser = port.open()
            except (serial.SerialException, OSError, ValueError) as exc:
                port.state = "waiting"
                port.last_error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                self.stop.wait(REOPEN_S)
                continue
            gen = port.gen
            q.put(("open", port, gen, time.time(), None))
            port.send([hello], gen)
            dec_feed = Decoder().feed
            try:
                while not self.stop.is_set():
                    n = ser.in_waiting
                    data = ser.read(n if n > 0 else 1)
                    if not data:
                        continue
                    got = dec_feed(data)
                    port.bytes += len(data)
                    if got.frames:
                        for fr in got.frames:
                            if fr.type == "H":
                                dev = fr.payload.get("device")
                                if isinstance(dev, str):
                                    port.device = dev
                                # A board that (re)booted listens only for maint_window_ms
                                # (docs/protocol.md "Handshake at wake"): hold it again.
                                if fr.payload.get("hold") is not True:
                                    port.send([hello], gen)
                            elif fr.type == "R" and port.device is None:
                                dev = fr.payload.get("device")
                                if isinstance(dev, str):
                                    port.device = dev
                    q.put(("data", port, gen, time.time(), got, len(data)))
            except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
                # Unplugged (EIO, disconnect) or closed under us; TypeError/AttributeError come
                # from pyserial reading a port that close() just released.
                if self.stop.is_set():
                    return
                port.close("gone", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
                q.put(("gone", port, gen, time.time(), None))
                self.stop.wait(REOPEN_S)
                continue
            return  # stop: the port stays open for the last acks and !bye

    # -- records: the one ingest path ------------------------------------------------------------

    def ingest(self, source: str, received_at: float, frames, bad=(), ack=None) -> None:
        """Hand decoded frames to the writer: records are committed in its next batch, and only
        after that COMMIT does it call `ack.send_acks(seqs)` with the seqs of this source's
        records (stored or duplicate). The one place records enter the database, for every
        transport: serial ports here, MQTT ingest (mqtt_ingest.py) too. `ack` must be hashable
        (equal targets are acked together) or None (nothing to ack). Safe from any thread."""
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
        store = self.store
        q = self.q
        first_pending: float | None = None
        while True:
            timeout = BATCH_S if first_pending is None else max(0.0, first_pending + BATCH_S - time.monotonic())
            try:
                item = q.get(timeout=timeout)
            except queue.Empty:
                item = None
            if item is not None:
                kind, port, gen, t = item[0], item[1], item[2], item[3]
                if kind == "data":
                    got: Decoded = item[4]
                    store.ingest(port.url, t, got.frames, got.bad, ack_to=SerialAck(port, gen))
                    port.bad_frames += len(got.bad)
                    port.log_lines += len(got.logs)
                    store.count_port(
                        port.url,
                        bytes=item[5],
                        frames=len(got.frames),
                        bad_frames=len(got.bad),
                        log_lines=len(got.logs),
                        last_seen=t,
                    )
                elif kind == "open":
                    store.count_port(port.url, opens=1, last_seen=t)
                elif kind == "ingest":  # ("ingest", source, received_at, (frames, bad, ack))
                    frames, bad, ack = item[3]
                    store.ingest(item[1], item[2], frames, bad, ack_to=ack)
                if first_pending is None:
                    first_pending = time.monotonic()
            stopping = self.stop.is_set()
            due = first_pending is not None and (
                store.pending >= BATCH_RECORDS or time.monotonic() - first_pending >= BATCH_S
            )
            if due or (stopping and item is None):
                self._flush()
                first_pending = None
            if stopping and item is None:
                return

    def _flush(self) -> None:
        res = self.store.flush()
        # Committed: now, and only now, the acks.
        for target, seqs in res.acks.items():
            if target is not None:
                target.send_acks(seqs)  # type: ignore[attr-defined]
        self.totals["received"] += len(res.records)
        self.totals["inserted"] += res.inserted
        self.totals["duplicates"] += res.duplicates
        self.totals["quarantined"] += res.quarantined
        if res.records:
            self._update_view(res.records)

    def _update_view(self, records: list[tuple[str, dict]]) -> None:
        now = time.time()
        with self.view_lock:
            per_dev: dict[str, int] = {}
            for port_url, p in records:
                dev = p["device"]
                v = self.devices.get(dev)
                if v is None:
                    v = self.devices[dev] = DeviceView()
                v.port = port_url
                v.last_seen = now
                v.latest.update(p["values"])
                v.received += 1
                per_dev[dev] = per_dev.get(dev, 0) + 1
            for dev, n in per_dev.items():
                self.devices[dev].arrivals.append((now, n))

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
        next_scan = 0.0
        try:
            while not self.stop.is_set():
                mono = time.monotonic()
                if deadline is not None and mono >= deadline:
                    break
                if self.scan and mono >= next_scan:
                    self.rescan()
                    next_scan = mono + RESCAN_S
                if live is not None:
                    from .dashboard import render

                    live.update(render(self), refresh=True)
                wait = 1.0 / DASHBOARD_HZ
                if deadline is not None:
                    wait = min(wait, max(0.0, deadline - mono))
                self.stop.wait(wait)
        finally:
            self.stop.set()
            self.writer_done.wait(30)
            for port in self.ports.values():
                port.send([encode_command("bye")])
            for port in self.ports.values():
                port.close()
            for port in self.ports.values():
                if port.thread is not None:
                    port.thread.join(1.0)
            if live is not None:
                from .dashboard import render

                live.update(render(self), refresh=True)
                live.stop()
        if self.writer_error is not None:
            raise MobiotError(f"writing {self.db_path} failed: {self.writer_error}") from self.writer_error
        summary = self.summary()
        self.store.close()
        return summary

    def summary(self) -> dict:
        db = self.store.db
        this_run = dict(
            db.execute(
                "SELECT device, count(*) FROM records WHERE received_at >= ? GROUP BY device",
                (self.started,),
            ).fetchall()
        )
        totals = dict(db.execute("SELECT device, count(*) FROM records GROUP BY device").fetchall())
        gaps = seq_gaps(db)
        devices = {}
        for dev in sorted(set(totals) | set(self.devices)):
            g = gaps.get(dev, [])
            devices[dev] = {
                "new_records": this_run.get(dev, 0),
                "received": self.devices[dev].received if dev in self.devices else 0,
                "total_records": totals.get(dev, 0),
                "missing_seqs": sum(b - a + 1 for a, b in g),
                "gaps": [list(x) for x in g[:20]],
            }
        ports = {
            url: {"bad_frames": p.bad_frames, "log_lines": p.log_lines, "bytes": p.bytes, "opens": p.opens}
            for url, p in self.ports.items()
        }
        return {
            "db": str(self.db_path),
            "duration_s": round(time.time() - self.started, 3),
            **self.totals,
            "devices": devices,
            "ports": ports,
        }


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
@click.option("--no-dashboard", is_flag=True, help="No live table (for scripts and logs).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@mqtt_options
def collect(
    ports: tuple[str, ...], db: str, baud: int, duration: float | None, no_dashboard: bool, as_json: bool,
    **mqtt_opts,
) -> int:
    """Collect records from boards into SQLite; ack each record after it is committed."""
    parent = Path(db).resolve().parent
    if not parent.is_dir():
        raise MobiotError(f"cannot create database {db}: directory {parent} does not exist")
    col = Collector(list(ports), db, baud, scan=not ports and not mqtt_opts["mqtt"])
    mq = start_mqtt(col, **mqtt_opts)
    if not ports and not no_dashboard:
        click.echo("no --port given: collecting from every board found by USB id", err=True)

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
        if mq is not None:
            mq.stop()
    if mq is not None:
        summary["ports"][mq.url] = mq.stats()
    print_summary(summary, as_json)
    return 0
