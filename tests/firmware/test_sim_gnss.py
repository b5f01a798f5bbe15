# The simulated GNSS receiver read through the real NMEA driver: valid sentences, route
# movement, UTC, cold start, scenario replay, the self-feeding UART under asyncio.
# Time is a virtual ticks_ms clock so minutes pass in milliseconds.

# The biggest module first, compiled on the emptiest heap: keeps the -X heapsize=96k run alive.
import sim_sensors
from sim_sensors import make_sensors

# isort: split
import sim_gnss
from mobiot_fw.drivers import nmea
from mobiot_fw.drivers.nmea import Gnss

from fwtest import Clock, until

T0 = 1764146800  # 2025-11-26 08:46:40 UTC


class Board:
    def __init__(self, seed=3, scenario=None):
        sc = {"start_utc": T0}
        sc.update(scenario or {})
        self.clk = Clock()
        self.s = make_sensors(seed, scenario=sc, clock=self.clk)


def test_gnss_lines_valid_and_route_moves():
    b = Board()
    src = b.s["gnss_lines"]
    g = Gnss()
    lines = next(src)
    assert len(lines) == 2 and lines[0].endswith(b"\r\n")
    for ln in lines:
        assert nmea.checksum_ok(ln), ln
        g.feed(ln, now_ms=0)
    assert next(src) == []  # nothing new within the same second
    lat0, lon0, alt, spd, sats, fix = g.read(now_ms=0)
    assert fix == 1 and 5 <= sats <= 12
    assert abs(lat0 - 48.137) < 0.02 and abs(lon0 - 11.576) < 0.03, (lat0, lon0)
    assert abs(spd - 8.0) < 0.01 and abs(alt - 520) < 5
    assert g.utc_epoch() == T0
    b.clk.advance(10000)
    lines = next(src)
    assert len(lines) == 2 * 3  # backlog capped at 3 s
    for ln in lines:
        assert g.feed(ln, now_ms=10000)
    lat1, lon1 = g.read(now_ms=10000)[:2]
    assert g.utc_epoch() == T0 + 10
    # 10 s at 8 m/s = 80 m (less on a curve); 1 deg lat = 111 km.
    dy = (lat1 - lat0) * 111195
    dx = (lon1 - lon0) * 111195 * 0.667  # cos(48.14 deg)
    d = (dx * dx + dy * dy) ** 0.5
    assert 60 < d < 81, d


def test_gnss_cold_start_and_absent():
    b = Board(scenario={"gnss": {"ttff_s": 30}})
    g = Gnss()
    for ln in next(b.s["gnss_lines"]):
        assert nmea.checksum_ok(ln)
        g.feed(ln, now_ms=0)
    assert g.read(now_ms=0) == (None, None, None, None, None, 0) and g.bad_lines == 0
    b.clk.advance(31000)
    for ln in next(b.s["gnss_lines"]):
        g.feed(ln, now_ms=1)
    assert g.read(now_ms=1)[5] == 1
    nb = Board(scenario={"gnss": {"absent": True}})
    assert nb.s["gnss_lines"] is None and nb.s["uart"] is None


def test_scenario_nmea_replay():
    gga = "GPGGA,120000,3351.5100,S,15112.5000,E,1,07,1.1,40.0,M,22.0,M,,"  # no checksum
    bad = "$GPRMC,120000,A,3351.5100,S,15112.5000,E,0.0,,261125,,,A*00"  # wrong on purpose
    b = Board(scenario={"gnss": {"nmea": [gga, bad], "per_second": 1, "loop": False}})
    src = b.s["gnss_lines"]
    g = Gnss()
    (l1,) = next(src)
    assert nmea.checksum_ok(l1) and l1.startswith(b"$GPGGA,")
    g.feed(l1, now_ms=0)
    b.clk.advance(1000)
    (l2,) = next(src)
    assert l2 == bad.encode() + b"\r\n"
    g.feed(l2, now_ms=0)
    assert g.bad_lines == 1
    lat, lon = g.read(now_ms=0)[:2]
    assert abs(lat - -33.8585) < 1e-4 and abs(lon - 151.208333) < 1e-4
    b.clk.advance(1000)
    assert next(src) == []  # loop false: the replay is over


def test_simworld_builders_share_one_world():
    sc = {"start_utc": T0}
    i2c = sim_sensors.make_i2c(4242, sc)
    adc = sim_sensors.make_adc(4242, sc)
    uart = sim_sensors.make_gnss_uart(4242, sc)
    assert sim_sensors.world_for(4242) is sim_sensors._worlds[4242]
    assert i2c.scan() == [0x44, 0x76]
    assert 1.6e6 < adc.read_uv() < 2.1e6
    assert uart.any() > 0  # the first epoch is due at once
    assert sim_sensors.make_gnss_uart(4243, {"gnss": {"absent": True}}) is None


def test_civil_from_days_inverts_nmea_days():
    for y, m, d in ((1970, 1, 1), (2000, 2, 29), (2024, 12, 31), (2025, 11, 26), (2100, 3, 1)):
        assert sim_gnss.civil_from_days(nmea.days_from_civil(y, m, d)) == (y, m, d)


async def test_gnss_run_over_sim_uart():
    import asyncio  # here, not at the top: keeps the import-time peak under 96k

    b = Board()
    uart = b.s["uart"]
    g = Gnss(uart)
    task = asyncio.create_task(g.run())
    for _ in range(5):
        b.clk.advance(1000)
        # every line the receiver has sent by now is read before the clock moves on
        await until(lambda: uart.any() == 0 and g.good_lines + g.bad_lines >= uart.gnss.emitted, what="NMEA read")
    task.cancel()
    assert g.bad_lines == 0 and g.good_lines >= 10, (g.good_lines, g.bad_lines)
    assert g.read()[5] == 1
    assert g.utc_epoch() == T0 + 5
