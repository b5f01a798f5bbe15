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


def _outage_db(tmp_path):
    """dev-o: registered, an outage from seq 20 to 30 (reg_change to searching, connectivity
    records saying searching with a stale rsrp), registered again; a modem error, a recovery and
    a reboot; a route eastwards."""
    recs = []
    for seq in range(1, 51):
        t = T0 + 10 * seq
        out = 20 <= seq < 30
        if seq == 20:
            recs.append(_rec("dev-o", seq, "event", {"event": "reg_change", "old": "home", "new": "searching"}, t=t))
            continue
        if seq == 30:
            recs.append(_rec("dev-o", seq, "event", {"event": "reg_change", "old": "searching", "new": "home"}, t=t))
            continue
        if seq in (24, 33, 40):
            name = {24: "modem_error", 33: "modem_recovered", 40: "boot"}[seq]
            recs.append(_rec("dev-o", seq, "event", {"event": name}, t=t))
            continue
        if seq % 2:
            recs.append(_rec("dev-o", seq, "connectivity", {
                "reg": "searching" if out else "home", "rat": "LTE-M", "oper": "Telekom.de", "model": "BG95",
                "rsrp": -80.0 - seq, "rsrq": -9, "sinr": 12}, t=t))  # fmt: skip
        else:
            recs.append(_rec("dev-o", seq, "reading", {"press": 94930 + seq, "lat": 48.1, "lon": 11.5 + seq / 1000},
                             t=t))  # fmt: skip
    path = tmp_path / "o.sqlite"
    store = Store(path, durable=False)
    store.ingest("p", T0, [Frame("R", r, b"") for r in recs])
    store.ingest("p", T0, [Frame("H", {"device": "dev-o", "board": "esp32-devkitc-bg95", "fw": "0.3", "boot": 1},
                                 b"")])  # fmt: skip
    store.flush()
    store.close()
    return path


def test_signal_breaks_at_the_outage_and_the_outage_is_shaded(tmp_path):
    import math

    from mobiot.plot import signal_data, signal_figure

    db = _outage_db(tmp_path)
    d = signal_data(db)["dev-o"]
    start, end = datetime.fromtimestamp(T0 + 200, tz=timezone.utc), datetime.fromtimestamp(T0 + 300, tz=timezone.utc)
    assert d["outages"] == [(start, end)]
    xs, ys = d["rsrp"]
    # No value drawn inside the outage; one NaN at its start breaks the line.
    inside = [y for x, y in zip(xs, ys, strict=True) if start < x < end]
    assert inside == []
    nan_at = [x for x, y in zip(xs, ys, strict=True) if math.isnan(y)]
    assert nan_at == [start]
    assert ys[xs.index(start) - 1] == -80.0 - 19 and ys[xs.index(start) + 1] == -80.0 - 31
    assert [r for _, r, _ in d["reg"]] == ["home", "searching", "home"]
    assert [e for _, e in d["events"]] == ["modem_error", "modem_recovered", "boot"]
    assert (d["model"], d["oper"]) == ("BG95", "Telekom.de")
    fig = signal_figure("dev-o", d, "esp32-devkitc-bg95")
    try:
        rsrp_ax = fig.axes[0]
        line = rsrp_ax.lines[0]
        assert any(math.isnan(y) for y in line.get_ydata())
        spans = [p for p in rsrp_ax.patches]
        assert len(spans) == 1  # the one outage, shaded
        x0, x1 = spans[0].get_x(), spans[0].get_x() + spans[0].get_width()
        import matplotlib.dates as mdates

        assert abs(x0 - mdates.date2num(start)) < 1e-9 and abs(x1 - mdates.date2num(end)) < 1e-9
        assert "esp32-devkitc-bg95" in fig._suptitle.get_text() and "BG95" in fig._suptitle.get_text()
        assert "Telekom.de" in fig._suptitle.get_text()
        track = fig.axes[-1]
        assert {t.get_text() for t in track.get_yticklabels()} >= {"home", "searching", "events"}
        labels = set(track.get_legend_handles_labels()[1])
        assert {"modem error", "modem recovered", "reboot", "no service"} <= labels
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def test_pressure_in_hpa_and_a_coverage_map_for_a_moving_board(tmp_path, capsys):
    from mobiot.plot import collect_series

    db = _outage_db(tmp_path)
    ys = collect_series(db)["dev-o"]["press"]["press"][1]
    assert ys[0] == pytest.approx((94930 + 2) / 100)
    out = tmp_path / "charts"
    assert main(["plot", "--db", str(db), "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["dev-o-coverage.png", "dev-o-sensors.png", "dev-o-signal.png"]
    w, h = png_size(out / "dev-o-coverage.png")
    assert w >= 600 and h >= 600


def test_coverage_figure_marks_outages_with_ground_aspect(tmp_path):
    import math

    import matplotlib.pyplot as plt

    from mobiot.export import iter_records
    from mobiot.geo import track_points
    from mobiot.plot import coverage_figure
    from mobiot.store import open_readonly

    db = open_readonly(_outage_db(tmp_path))
    pts = list(track_points(iter_records(db)))
    db.close()
    assert len(pts) == 21
    outage = [p for p in pts if p.outage]
    # Readings at seq 22, 26, 28 fall in the outage (20 <= seq < 30; seq 24 is an event).
    assert [round((p.lon - 11.5) * 1000) for p in outage] == [22, 26, 28]
    assert all(p.rsrp is None for p in outage) and all(p.rsrp is not None for p in pts if not p.outage)
    fig = coverage_figure("dev-o", pts, "esp32-devkitc-bg95", "BG95")
    try:
        ax = fig.axes[0]
        assert ax.get_aspect() == pytest.approx(1 / math.cos(math.radians(48.1)))
        offsets = [c.get_offsets() for c in ax.collections]
        marked = [c for c in ax.collections if c.get_label() == "no service"]
        assert len(marked) == 1 and len(marked[0].get_offsets()) == 3
        assert sum(len(o) for o in offsets) == 21
    finally:
        plt.close(fig)


def test_geojson_export_of_the_track(tmp_path, capsys):
    import json

    db = _outage_db(tmp_path)
    assert main(["export", "--db", str(db), "--format", "geojson"]) == 0
    gj = json.loads(capsys.readouterr().out)
    assert gj["type"] == "FeatureCollection"
    points = [f for f in gj["features"] if f["geometry"]["type"] == "Point"]
    lines = [f for f in gj["features"] if f["geometry"]["type"] == "LineString"]
    assert len(points) == 21 and len(lines) == 1
    lon, lat = points[0]["geometry"]["coordinates"]  # RFC 7946: [lon, lat]
    assert lat == 48.1 and lon == pytest.approx(11.502)
    assert sum(f["properties"]["outage"] for f in points) == 3
    assert points[0]["properties"]["rsrp"] == -81.0 and points[0]["properties"]["time"].endswith("Z")
