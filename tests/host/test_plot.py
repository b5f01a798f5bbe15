"""`mobiot plot`: PNG charts per device, from the series the database holds."""

from __future__ import annotations

import struct
from datetime import datetime, timezone

import pytest

from mobiot.cli import main
from mobiot.codec import Frame
from mobiot.plot import collect_series
from mobiot.store import Store

T0 = 1764146800
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"  # PNG specification, section 5.2


def _rec(device, seq, kind, values, t=None, clock="utc"):
    return {"device": device, "boot": 1, "seq": seq, "t": T0 + 60 * seq if t is None else t, "clock": clock,
            "kind": kind, "values": values}  # fmt: skip


@pytest.fixture
def db(tmp_path):
    recs = []
    for i in range(1, 41):
        reading = {"temp": 20 + i / 10, "hum": 50 - i / 4, "press": 101000 + i, "bat": 4.1 - i / 1000}
        reading["sht_temp"] = 19 + i / 10
        recs.append(_rec("dev-a", 2 * i, "reading", reading))
        recs.append(
            _rec(
                "dev-a",
                2 * i + 1,
                "connectivity",
                {"rsrp": -90 - i % 5, "rsrq": -10, "sinr": 5, "rat": "lte-m"},
            )
        )
    recs.append(_rec("dev-b", 1, "reading", {"temp": 5.0}))
    recs.append(_rec("dev-b", 2, "reading", {"temp": None}))
    path = tmp_path / "c.sqlite"
    store = Store(path, durable=False)
    store.ingest("p", T0, [Frame("R", r, b"") for r in recs])
    store.flush()
    store.close()
    return path


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_plot_writes_pngs_per_device(db, tmp_path, capsys):
    out = tmp_path / "charts"
    assert main(["plot", "--db", str(db), "--out", str(out)]) == 0
    files = sorted(p.name for p in out.iterdir())
    # dev-b has no signal values: no empty chart for it.
    assert files == ["dev-a-sensors.png", "dev-a-signal.png", "dev-b-sensors.png"]
    for name in files:
        w, h = png_size(out / name)
        assert w >= 600 and h >= 200
        assert (out / name).stat().st_size > 5000
    printed = capsys.readouterr().out.split()
    assert sorted(printed) == sorted(str(out / f) for f in files)


def test_series_are_the_stored_values(db):
    s = collect_series(db)
    temp = s["dev-a"]["temp"]
    assert set(temp) == {"temp", "sht_temp"}  # prefixed instance on the temp axes
    xs, ys = temp["temp"]
    assert ys == [20 + i / 10 for i in range(1, 41)]
    assert xs[0] == datetime.fromtimestamp(T0 + 120, tz=timezone.utc)
    assert s["dev-a"]["rsrp"]["rsrp"][1] == [float(-90 - i % 5) for i in range(1, 41)]
    assert "rat" not in s["dev-a"]  # strings are not plotted
    assert s["dev-b"]["temp"]["temp"][1] == [5.0]  # null skipped


def test_nothing_to_plot_is_an_error(db, tmp_path, capsys):
    rc = main(["plot", "--db", str(db), "--out", str(tmp_path / "x"), "--device", "nobody"])
    assert rc == 1
    assert "nothing to plot" in capsys.readouterr().err


def test_missing_database(tmp_path, capsys):
    rc = main(["plot", "--db", str(tmp_path / "none.sqlite"), "--out", str(tmp_path / "x")])
    assert rc == 1
    assert str(tmp_path / "none.sqlite") in capsys.readouterr().err
