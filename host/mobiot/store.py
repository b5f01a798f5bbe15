"""SQLite store of the collector (schema and behaviour: docs/collector.md).

The store batches: `ingest()` only queues rows in memory, `flush()` writes them in one
transaction, commits, and only then returns the acks that the caller may send. That ordering
is the whole exactly-once argument: a record is acked only once it is durable, the board keeps
and resends what was not acked, and UNIQUE(device, seq) makes a resend a no-op.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .codec import BadFrame, Frame, record_problem
from .errors import MobiotError

SCHEMA_VERSION = 2

# transport of a record or device: how it reached the collector. The port column holds the serial
# port (or pyserial URL) or the broker URL (mqtt://host:port) it came through.
TRANSPORTS = ("serial", "mqtt")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    id          INTEGER PRIMARY KEY,
    device      TEXT    NOT NULL,
    boot        INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    t           REAL    NOT NULL,
    clock       TEXT    NOT NULL CHECK (clock IN ('utc', 'uptime')),
    kind        TEXT    NOT NULL,
    vals        TEXT    NOT NULL,           -- the record's "values" object, compact JSON
    received_at REAL    NOT NULL,           -- host clock, Unix seconds, first reception
    port        TEXT    NOT NULL,
    transport   TEXT    NOT NULL DEFAULT 'serial' CHECK (transport IN ('serial', 'mqtt')),
    UNIQUE (device, seq)
);
CREATE INDEX IF NOT EXISTS records_device_t ON records (device, t);
CREATE VIEW IF NOT EXISTS record_values AS
    SELECT r.id AS record_id, r.device, r.boot, r.seq, r.t, r.clock, r.kind,
           j.key AS name, j.value AS value, j.type AS type, r.received_at, r.port, r.transport
    FROM records AS r, json_each(r.vals) AS j;
CREATE TABLE IF NOT EXISTS devices (
    device     TEXT PRIMARY KEY,
    fw         TEXT,
    board      TEXT,
    boot       INTEGER,
    port       TEXT,
    transport  TEXT,                       -- of the last record or hello
    first_seen REAL NOT NULL,
    last_seen  REAL NOT NULL,
    records    INTEGER NOT NULL DEFAULT 0  -- records received (resends included)
);
CREATE TABLE IF NOT EXISTS quarantine (
    id          INTEGER PRIMARY KEY,
    port        TEXT NOT NULL,
    received_at REAL NOT NULL,
    raw         BLOB NOT NULL,
    reason      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS port_stats (
    port       TEXT PRIMARY KEY,
    bytes      INTEGER NOT NULL DEFAULT 0,
    frames     INTEGER NOT NULL DEFAULT 0,
    records    INTEGER NOT NULL DEFAULT 0,
    duplicates INTEGER NOT NULL DEFAULT 0,
    bad_frames INTEGER NOT NULL DEFAULT 0,
    log_lines  INTEGER NOT NULL DEFAULT 0,
    opens      INTEGER NOT NULL DEFAULT 0,
    last_seen  REAL
);
"""

_INSERT_RECORD = (
    "INSERT OR IGNORE INTO records (device, boot, seq, t, clock, kind, vals, received_at, port, transport)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_QUARANTINE = "INSERT INTO quarantine (port, received_at, raw, reason) VALUES (?, ?, ?, ?)"
_UPSERT_DEVICE_SEEN = """
INSERT INTO devices (device, port, transport, first_seen, last_seen, records) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (device) DO UPDATE SET port = excluded.port, transport = excluded.transport, last_seen = excluded.last_seen,
    records = records + excluded.records
"""
_UPSERT_DEVICE_HELLO = """
INSERT INTO devices (device, fw, board, boot, port, transport, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (device) DO UPDATE SET fw = excluded.fw, board = excluded.board, boot = excluded.boot,
    port = excluded.port, transport = excluded.transport, last_seen = excluded.last_seen
"""
_UPSERT_PORT = """
INSERT INTO port_stats (port, bytes, frames, records, duplicates, bad_frames, log_lines, opens, last_seen)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (port) DO UPDATE SET bytes = bytes + excluded.bytes, frames = frames + excluded.frames,
    records = records + excluded.records, duplicates = duplicates + excluded.duplicates,
    bad_frames = bad_frames + excluded.bad_frames, log_lines = log_lines + excluded.log_lines,
    opens = opens + excluded.opens, last_seen = coalesce(excluded.last_seen, last_seen)
"""

# Schema migrations: MIGRATIONS[v] takes a version-v database to v + 1, in one transaction, before
# SCHEMA runs (which then creates what a migration dropped, such as a view, in its new form).
MIGRATIONS: dict[int, tuple[str, ...]] = {
    # 1 -> 2 (cellular uplink): each record's and device's transport; records from before were serial.
    1: (
        "ALTER TABLE records ADD COLUMN transport TEXT NOT NULL DEFAULT 'serial'"
        " CHECK (transport IN ('serial', 'mqtt'))",
        "ALTER TABLE devices ADD COLUMN transport TEXT",
        "UPDATE devices SET transport = 'serial'",
        "DROP VIEW IF EXISTS record_values",
    ),
}


def transport_of(port: str) -> str:
    """The transport of a record from `port`: "mqtt" for a broker URL (mqtt://, mqtts://), else "serial"."""
    return "mqtt" if port.startswith(("mqtt://", "mqtts://")) else "serial"


def _schema_version(db: sqlite3.Connection) -> int | None:
    if db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone() is None:
        return None
    row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    return None if row is None else int(row[0])


def migrate(db: sqlite3.Connection) -> int | None:
    """Bring an older collector database up to SCHEMA_VERSION (a no-op on a new or current one);
    returns the version it found."""
    db.execute("BEGIN IMMEDIATE")  # a second collector opening the same file waits, then sees v2
    try:
        found = v = _schema_version(db)
        while v is not None and v < SCHEMA_VERSION:
            for sql in MIGRATIONS[v]:
                db.execute(sql)
            v += 1
            db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(v),))
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return found


_PORT_FIELDS = ("bytes", "frames", "records", "duplicates", "bad_frames", "log_lines", "opens")

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode


@dataclass
class FlushResult:
    """What one committed batch did. `acks` maps each ack target to the seqs it may now ack."""

    acks: dict[Hashable, list[int]] = field(default_factory=dict)
    inserted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    records: list[tuple[str, dict]] = field(default_factory=list)  # (port, payload) of this batch


def connect(path: str | Path) -> sqlite3.Connection:
    """Open (or create) the collector database for writing: the collector's one writer."""
    return sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)


def open_readonly(path: str | Path) -> sqlite3.Connection:
    """The one read-only opener of a collector database (export, plot, geo, tests).

    Never creates a file: MobiotError naming the file when it is missing or not a collector
    database. Safe while a collector writes (WAL readers do not block the writer)."""
    p = Path(path)
    if not p.is_file():
        raise MobiotError(f"no collector database at {p}")
    try:
        db = sqlite3.connect(f"file:{p.resolve()}?mode=ro", uri=True, timeout=10)
        db.execute("SELECT 1 FROM records LIMIT 1").fetchall()
    except sqlite3.Error as exc:
        raise MobiotError(f"{p} is not a collector database ({exc})") from exc
    return db


class Store:
    """The collector's database. One writer: use it from one thread."""

    def __init__(self, path: str | Path, *, durable: bool = True) -> None:
        self.path = Path(path)
        self.db = connect(self.path)
        db = self.db
        db.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is fsynced before flush() returns, so an acked record survives a host
        # power cut too, not only a killed collector (WAL + NORMAL would only survive the latter).
        db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        migrate(db)
        db.executescript("BEGIN IMMEDIATE;" + SCHEMA + "COMMIT;")
        db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if int(row[0]) != SCHEMA_VERSION:
            raise ValueError(f"{self.path}: schema version {row[0]}, expected {SCHEMA_VERSION}")
        self._rec_rows: list[tuple] = []
        self._rec_acks: list[tuple[Hashable, int]] = []
        self._rec_payloads: list[tuple[str, dict]] = []
        self._q_rows: list[tuple] = []
        self._q_acks: list[tuple[Hashable, int]] = []
        self._hello_rows: dict[str, tuple] = {}
        self._seen: dict[str, list] = {}
        self._port_delta: dict[str, list[Any]] = {}

    # -- queueing (no I/O) ----------------------------------------------------------------------

    def ingest(
        self,
        port: str,
        received_at: float,
        frames: Iterable[Frame],
        bad: Iterable[BadFrame] = (),
        ack_to: Hashable | None = None,
    ) -> None:
        """Queue decoded frames from `port` for the next flush.

        Valid records are acked after commit; so are CRC-valid records that fail validation but
        carry a usable seq (kept raw in quarantine), so one malformed record cannot block the
        board's queue forever. Bad frames (CRC/JSON) are quarantined and never acked.
        """
        target = port if ack_to is None else ack_to
        transport = transport_of(port)
        rec_rows = self._rec_rows
        rec_acks = self._rec_acks
        for fr in frames:
            p = fr.payload
            if fr.type == "R":
                why = record_problem(p)
                if why is None:
                    dev = p["device"]
                    seq = p["seq"]
                    rec_rows.append(
                        (
                            dev,
                            p["boot"],
                            seq,
                            p["t"],
                            p["clock"],
                            p["kind"],
                            _dumps(p["values"]),
                            received_at,
                            port,
                            transport,
                        )
                    )
                    rec_acks.append((target, seq))
                    self._rec_payloads.append((port, p))
                    s = self._seen.get(dev)
                    if s is None:
                        self._seen[dev] = [port, received_at, received_at, 1]
                    else:
                        s[0] = port
                        s[2] = received_at
                        s[3] += 1
                else:
                    self._q_rows.append((port, received_at, fr.raw, "record: " + why))
                    seq = p.get("seq")
                    if type(seq) is int and seq >= 1:
                        self._q_acks.append((target, seq))
            elif fr.type == "H":
                dev = p.get("device")
                if isinstance(dev, str) and dev:
                    self._hello_rows[dev] = (
                        dev,
                        str(p.get("fw", "")),
                        str(p.get("board", "")),
                        p.get("boot") if type(p.get("boot")) is int else None,
                        port,
                        transport,
                        received_at,
                        received_at,
                    )
                else:
                    self._q_rows.append((port, received_at, fr.raw, "hello: device"))
            # K frames are replies to our own commands; nothing to store.
        for b in bad:
            self._q_rows.append((port, received_at, b.raw, b.reason))

    def count_port(self, port: str, **delta: float) -> None:
        """Add to the port's counters (bytes, frames, records, bad_frames, log_lines, opens)."""
        d = self._port_delta.get(port)
        if d is None:
            d = self._port_delta[port] = [0] * len(_PORT_FIELDS) + [None]  # counters, last_seen
        for k, v in delta.items():
            if k == "last_seen":
                d[-1] = v
            else:
                d[_PORT_FIELDS.index(k)] += v

    @property
    def pending(self) -> int:
        return len(self._rec_rows) + len(self._q_rows)

    # -- the one transaction --------------------------------------------------------------------

    def flush(self) -> FlushResult:
        """Write everything queued in one transaction; after COMMIT, return the acks."""
        res = FlushResult()
        rec_rows, self._rec_rows = self._rec_rows, []
        rec_acks, self._rec_acks = self._rec_acks, []
        q_rows, self._q_rows = self._q_rows, []
        q_acks, self._q_acks = self._q_acks, []
        hello, self._hello_rows = self._hello_rows, {}
        seen, self._seen = self._seen, {}
        pdelta, self._port_delta = self._port_delta, {}
        res.records, self._rec_payloads = self._rec_payloads, []
        if not (rec_rows or q_rows or hello or seen or pdelta):
            return res
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            if rec_rows:
                cur = db.executemany(_INSERT_RECORD, rec_rows)
                res.inserted = cur.rowcount
                res.duplicates = len(rec_rows) - cur.rowcount
            if q_rows:
                db.executemany(_INSERT_QUARANTINE, q_rows)
                res.quarantined = len(q_rows)
            if hello:
                db.executemany(_UPSERT_DEVICE_HELLO, hello.values())
            if seen:
                db.executemany(
                    _UPSERT_DEVICE_SEEN,
                    [(dev, s[0], transport_of(s[0]), s[1], s[2], s[3]) for dev, s in seen.items()],
                )
            if pdelta:
                db.executemany(_UPSERT_PORT, [(port, *d) for port, d in pdelta.items()])
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        acks: dict[Hashable, list[int]] = {}
        for target, seq in rec_acks:
            lst = acks.get(target)
            if lst is None:
                lst = acks[target] = []
            lst.append(seq)
        for target, seq in q_acks:
            acks.setdefault(target, []).append(seq)
        res.acks = acks
        return res

    def close(self) -> None:
        self.db.close()


# ---- queries shared by collect (summary), export and plot --------------------------------------


def seq_gaps(db: sqlite3.Connection, device: str | None = None) -> dict[str, list[tuple[int, int]]]:
    """Missing seq ranges (first, last) between each device's lowest and highest stored seq."""
    sql = (
        "SELECT device, seq, nxt FROM (SELECT device, seq, "
        "LEAD(seq) OVER (PARTITION BY device ORDER BY seq) AS nxt FROM records"
        + (" WHERE device = ?" if device else "")
        + ") WHERE nxt > seq + 1 ORDER BY device, seq"
    )
    out: dict[str, list[tuple[int, int]]] = {}
    for dev, seq, nxt in db.execute(sql, (device,) if device else ()):
        out.setdefault(dev, []).append((seq + 1, nxt - 1))
    return out


def now() -> float:
    return time.time()
