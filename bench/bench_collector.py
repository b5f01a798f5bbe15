"""Collector throughput: decoder + SQLite store + ack generation on one core.

`run()` returns a flat dict for bench/results.json:

- collector_records_per_s: records/s from a synthetic framed stream (record frames of the four
  kinds from several devices, with log lines, a traceback and broken frames mixed in) fed in
  4 KiB chunks through codec.Decoder, store.Store (WAL, synchronous=FULL, one transaction per
  batch of 2000 records, as the collector batches) and codec.encode_acks for what each commit
  made ackable. Goal >= 50,000.
- collector_naive_records_per_s: the same stream read the naive way: readline, CRC check,
  json.loads, one INSERT and one COMMIT per record (same pragmas).
- collector_cpu_per_board_at_115200: the fraction of one core the fast path needs for one
  board streaming at line rate: 11,520 bytes/s (115200 baud, 8N1 = 10 bits per byte) divided
  by the measured bytes/s of the fast path.
- collector_cpu_per_board_at_115200_pty: the same, measured end to end: CPU time of a real
  `mobiot collect` process reading a pty fed at 11,520 bytes/s for 6 s, minus its CPU time on
  an idle pty for 6 s (start-up, polling), divided by 6 s. Includes threads, small reads,
  the queue, commits every 50 ms and acks.

Run: `.venv/bin/python bench/bench_collector.py` (prints JSON).
"""

from __future__ import annotations

import io
import json
import os
import random
import sys
import tempfile
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "host"))

from mobiot.codec import Decoder, encode_acks, encode_frame  # noqa: E402
from mobiot.store import Store  # noqa: E402

LINE_RATE_BYTES_S = 115200 / 10  # 8N1: start + 8 data + stop bits per byte
N_RECORDS = 100_000
N_NAIVE = 3_000
BATCH = 2000
CHUNK = 4096

_NOISE = [
    b"I (12345) mobiot: sampling sensors",
    b"W (23456) modem: AT+CSQ timeout, retrying",
    b"Traceback (most recent call last):",
    b'  File "main.py", line 42, in <module>',
    b"OSError: [Errno 110] ETIMEDOUT",
    b"ets Jun  8 2016 00:22:57\r\rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)",
    b"\xff\xfe\x80garbage at the wrong baud \x00\x13",
    b"MicroPython v1.24.0 on 2024-10-25; Generic ESP32 module with ESP32",
    b">>> ",
]


def make_stream(n: int, devices: int = 4, seed: int = 1) -> tuple[bytes, int]:
    """A byte stream with `n` record frames plus noise; returns (stream, records)."""
    rnd = random.Random(seed)
    ids = [f"35693803564{3800 + i:04d}" for i in range(devices)]
    seqs = [0] * devices
    out = io.BytesIO()
    t0 = 1764146800
    for i in range(n):
        d = i % devices
        seqs[d] += 1
        kind_pick = i % 10
        if kind_pick < 6:
            kind, values = (
                "reading",
                {
                    "temp": round(rnd.uniform(-10, 40), 2),
                    "hum": round(rnd.uniform(10, 90), 1),
                    "press": rnd.randint(95000, 105000),
                    "bat": round(rnd.uniform(3.3, 4.2), 3),
                },
            )
        elif kind_pick < 9:
            kind, values = (
                "connectivity",
                {
                    "rat": "LTE-M",
                    "oper": "26201",
                    "rsrp": rnd.randint(-120, -70),
                    "rsrq": rnd.randint(-20, -3),
                    "sinr": rnd.randint(-5, 25),
                    "attached": True,
                },
            )
        else:
            kind, values = "status", {"qdepth": rnd.randint(0, 50), "heap": rnd.randint(20000, 90000)}
        out.write(
            encode_frame(
                "R",
                {
                    "device": ids[d],
                    "boot": 3,
                    "seq": seqs[d],
                    "t": t0 + i,
                    "clock": "utc",
                    "kind": kind,
                    "values": values,
                },
            )
        )
        if i % 10 == 0:
            out.write(rnd.choice(_NOISE) + b"\r\n")
        if i % 1000 == 500:  # a broken frame now and then: counted, quarantined, not data
            out.write(b'@R {"device":"x","seq":1*DEADBEEF\r\n')
    return out.getvalue(), n


def _fresh_db(tmp: str, name: str) -> str:
    path = os.path.join(tmp, name)
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    return path


def bench_fast(stream: bytes, tmp: str) -> tuple[float, int, int]:
    """(seconds, records stored, ack lines) through the collector's own path."""
    store = Store(_fresh_db(tmp, "fast.sqlite"))
    dec = Decoder()
    ack_lines = 0
    cpu0 = time.process_time()
    for off in range(0, len(stream), CHUNK):
        got = dec.feed(stream[off : off + CHUNK])
        store.ingest("bench", time.time(), got.frames, got.bad)
        if store.pending >= BATCH:
            for seqs in store.flush().acks.values():
                ack_lines += len(encode_acks(seqs))
    for seqs in store.flush().acks.values():
        ack_lines += len(encode_acks(seqs))
    cpu = time.process_time() - cpu0
    stored = store.db.execute("SELECT count(*) FROM records").fetchone()[0]
    store.close()
    return cpu, stored, ack_lines


def bench_naive(stream: bytes, tmp: str, limit: int) -> tuple[float, int]:
    """readline + CRC + json.loads + INSERT + COMMIT per record."""
    path = _fresh_db(tmp, "naive.sqlite")
    store = Store(path)  # same schema and pragmas
    db = store.db
    f = io.BytesIO(stream)
    n = 0
    cpu0 = time.process_time()
    while n < limit:
        line = f.readline()
        if not line:
            break
        line = line.rstrip(b"\r\n")
        if not line.startswith(b"@R ") or len(line) < 12:
            continue
        body, crc = line[1:-9], line[-8:]
        if b"%08X" % zlib.crc32(body) != crc:
            continue
        try:
            p = json.loads(body[2:])
        except ValueError:
            continue
        db.execute(
            "INSERT OR IGNORE INTO records (device, boot, seq, t, clock, kind, vals, received_at, port)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                p["device"],
                p["boot"],
                p["seq"],
                p["t"],
                p["clock"],
                p["kind"],
                json.dumps(p["values"]),
                time.time(),
                "bench",
            ),
        )
        n += 1  # the connection autocommits: one COMMIT (and fsync) per INSERT
    cpu = time.process_time() - cpu0
    store.close()
    return cpu, n


def _collector_cpu_s(tmp: str, name: str, seconds: float, feed: bytes | None) -> float:
    """CPU seconds (user + system) of a `mobiot collect` process on a pty for `seconds`,
    fed `feed` paced at line rate (None: an idle port)."""
    import select
    import subprocess
    import threading
    import tty

    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    db = _fresh_db(tmp, name)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mobiot", "collect", "--port", os.ttyname(slave), "--db", db,
         "--no-dashboard", "--duration", str(seconds)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    done = threading.Event()

    def board() -> None:
        # Wait for !hello like a board would, then stream at 11,520 bytes/s; drain the acks.
        sent = 0
        t0 = None
        while not done.is_set():
            r, _, _ = select.select([master], [], [], 0.005)
            if r:
                try:
                    if b"!hello" in os.read(master, 65536) and t0 is None:
                        t0 = time.monotonic()
                except OSError:
                    pass
            if feed is not None and t0 is not None and sent < len(feed):
                due = int((time.monotonic() - t0) * LINE_RATE_BYTES_S)
                if due > sent:
                    sent += os.write(master, feed[sent:due])

    th = threading.Thread(target=board, daemon=True)
    th.start()
    _, _, ru = os.wait4(proc.pid, 0)
    done.set()
    th.join(2)
    os.close(master)
    os.close(slave)
    return ru.ru_utime + ru.ru_stime


def bench_pty(tmp: str, seconds: float = 6.0) -> float:
    """Fraction of a core: (CPU with a board at line rate - CPU idle) / seconds."""
    feed, _ = make_stream(int(LINE_RATE_BYTES_S * seconds / 150) + 100, devices=1, seed=2)
    busy = _collector_cpu_s(tmp, "pty_busy.sqlite", seconds, feed)
    idle = _collector_cpu_s(tmp, "pty_idle.sqlite", seconds, None)
    return max(0.0, busy - idle) / seconds


def run() -> dict:
    stream, n = make_stream(N_RECORDS)
    with tempfile.TemporaryDirectory(prefix="mobiot-bench-") as tmp:
        wall0 = time.perf_counter()
        cpu, stored, _acks = bench_fast(stream, tmp)
        wall = time.perf_counter() - wall0
        if stored != n:
            raise RuntimeError(f"fast path stored {stored} of {n} records")
        naive_wall0 = time.perf_counter()
        _ncpu, nn = bench_naive(stream, tmp, N_NAIVE)
        naive_wall = time.perf_counter() - naive_wall0
        pty_fraction = bench_pty(tmp)
    # Wall time (it includes the fsync of each commit); the process is single-threaded.
    bytes_per_s = len(stream) / wall
    return {
        "collector_records_per_s": round(n / wall),
        "collector_naive_records_per_s": round(nn / naive_wall),
        "collector_cpu_per_board_at_115200": round(LINE_RATE_BYTES_S / bytes_per_s, 4),
        "collector_cpu_per_board_at_115200_pty": round(pty_fraction, 4),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
