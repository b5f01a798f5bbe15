"""Schema migration 1 -> 2 (transport of each record), on a database that the schema-1 code made.

The old database is made by the store.py of commit OLD_STORE_COMMIT (the last schema-1 version,
taken from git in the test), through its own Store.ingest/flush, exactly as a collector of that
version would have left it.
"""

from __future__ import annotations

import importlib.util
import sqlite3
import subprocess
import sys
import types
from pathlib import Path

import pytest

from mobiot import store as store_mod
from mobiot.codec import Frame, encode_frame

ROOT = Path(__file__).resolve().parents[2]
OLD_STORE_COMMIT = "afd61f5"  # main before the uplink: SCHEMA_VERSION = 1


def _old_store_module(tmp_path: Path) -> types.ModuleType:
    try:
        src = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{OLD_STORE_COMMIT}:host/mobiot/store.py"],
            check=True, capture_output=True, text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:  # a source tree without git history
        pytest.fail(f"cannot read the schema-1 store.py from git: {exc}")
    assert "SCHEMA_VERSION = 1" in src
    # Load it as a module of the mobiot package, so its relative imports (codec) resolve.
    path = tmp_path / "store_v1.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("mobiot._store_v1", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["mobiot._store_v1"] = mod
    try:
        spec.loader.exec_module(mod)
    finally:
        del sys.modules["mobiot._store_v1"]
    return mod


def _rec(dev: str, seq: int, **values) -> Frame:
    p = {"device": dev, "boot": 1, "seq": seq, "t": 1764000000.0 + seq, "clock": "utc", "kind": "reading",
         "values": values or {"temp": 21.5}}
    return Frame("R", p, encode_frame("R", p).strip())


def test_schema1_database_migrates_and_keeps_every_record(tmp_path):
    old = _old_store_module(tmp_path)
    db_path = tmp_path / "old.sqlite"
    s1 = old.Store(db_path)
    s1.ingest("/dev/ttyUSB0", 1764000100.0, [_rec("dev-a", i) for i in range(1, 6)], ack_to="a")
    s1.ingest("/dev/ttyUSB1", 1764000101.0, [Frame("H", {"device": "dev-b", "fw": "0.1", "board": "sim", "boot": 3},
                                                   b"@H {}")] + [_rec("dev-b", 1)])
    assert s1.flush().inserted == 6
    s1.close()
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("1",)
        cols = [r[1] for r in raw.execute("PRAGMA table_info(records)")]
        assert "transport" not in cols

    s2 = store_mod.Store(db_path)  # today's code opens it: migrates in place
    db = s2.db
    version = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    assert version == (str(store_mod.SCHEMA_VERSION),)
    assert db.execute("SELECT device, seq, port, transport FROM records ORDER BY device, seq").fetchall() == [
        *[("dev-a", i, "/dev/ttyUSB0", "serial") for i in range(1, 6)],
        ("dev-b", 1, "/dev/ttyUSB1", "serial"),
    ]
    assert db.execute("SELECT device, fw, transport FROM devices ORDER BY device").fetchall() == [
        ("dev-a", None, "serial"), ("dev-b", "0.1", "serial")]
    # The view is there again, in its new form.
    assert db.execute("SELECT DISTINCT transport FROM record_values").fetchall() == [("serial",)]

    # Old records still dedupe, and a record over MQTT lands with its broker and transport.
    s2.ingest("/dev/ttyUSB0", 1764000200.0, [_rec("dev-a", 5)])
    s2.ingest("mqtt://127.0.0.1:1883", 1764000201.0, [_rec("dev-a", 6)])
    res = s2.flush()
    assert (res.inserted, res.duplicates) == (1, 1)
    assert db.execute("SELECT port, transport FROM records WHERE device='dev-a' AND seq=6").fetchone() == (
        "mqtt://127.0.0.1:1883", "mqtt")
    assert db.execute("SELECT transport, port FROM devices WHERE device='dev-a'").fetchone() == (
        "mqtt", "mqtt://127.0.0.1:1883")
    s2.close()

    # Opening it again is a no-op (already version 2), and a fresh database is born at version 2.
    assert store_mod.Store(db_path).db.execute("SELECT count(*) FROM records").fetchone() == (7,)
    fresh = store_mod.Store(tmp_path / "new.sqlite")
    assert store_mod.migrate(fresh.db) == store_mod.SCHEMA_VERSION
    cols = [r[1] for r in fresh.db.execute("PRAGMA table_info(records)")]
    assert "transport" in cols


def test_migrated_transport_column_refuses_unknown_transport(tmp_path):
    old = _old_store_module(tmp_path)
    old.Store(tmp_path / "old.sqlite").close()
    s = store_mod.Store(tmp_path / "old.sqlite")
    with pytest.raises(sqlite3.IntegrityError):
        s.db.execute(
            "INSERT INTO records (device, boot, seq, t, clock, kind, vals, received_at, port, transport)"
            " VALUES ('d', 0, 1, 0, 'utc', 'reading', '{}', 0, 'p', 'carrier-pigeon')"
        )
