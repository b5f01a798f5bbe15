# NMEA 0183 parsing: checksums, GGA/RMC fields, hemispheres, empty fields, bad input that
# must be counted and never raised, staleness, and the asyncio reader over a fake UART.
# Expected numbers are worked out by hand in the comments.
import asyncio
import errno

from fakebus import FakeUART
from mobiot_fw.drivers import nmea
from mobiot_fw.drivers.nmea import Gnss
from fwtest import raises, until


def cs(body):
    # XOR of every character between "$" and "*" (NMEA 0183), done here independently.
    x = 0
    for ch in body:
        x ^= ord(ch)
    return "$%s*%02X" % (body, x)


# The textbook sentences (NMEA 0183 reference examples), checksums as published.
GGA = "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47"
RMC = "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A"


def close(a, b, tol):
    return a is not None and abs(a - b) <= tol




def test_checksum_published_examples():
    assert cs(GGA[1:-3]) == GGA and cs(RMC[1:-3]) == RMC  # our XOR agrees with the examples
    assert nmea.checksum_ok(GGA)
    assert nmea.checksum_ok(RMC + "\r\n")
    assert nmea.checksum_ok(GGA.encode() + b"\r\n")
    assert not nmea.checksum_ok(GGA.replace("545.4", "545.5"))
    assert not nmea.checksum_ok(GGA[:-3])  # no checksum
    assert not nmea.checksum_ok("GPGGA,1*00")
    assert not nmea.checksum_ok("")
    assert not nmea.checksum_ok(GGA[:-2] + "ZZ")


def test_gga_northern_eastern():
    g = Gnss()
    assert g.feed(GGA, now_ms=1000)
    lat, lon, alt, spd, sats, fix = g.read(now_ms=1000)
    # 4807.038 N = 48 + 7.038/60 = 48.1173; 01131.000 E = 11 + 31/60 = 11.516667
    assert close(lat, 48.1173, 1e-5) and close(lon, 11.516667, 1e-5), (lat, lon)
    assert close(alt, 545.4, 0.01)
    assert spd is None  # no RMC yet
    assert sats == 8 and fix == 1


def test_rmc_speed_and_utc():
    g = Gnss()
    assert g.utc_epoch() is None
    g.feed(GGA, now_ms=5000)
    g.feed(RMC, now_ms=5020)
    # 22.4 kn * 1852/3600 = 11.5236 m/s
    assert close(g.read(now_ms=5020)[3], 11.52, 0.006)
    # 1994-03-23 12:35:19 UTC: 24 years of 365 days + 6 leap days (72..92) = 8766 days to
    # 1994-01-01, + 31 + 28 + 22 = 8847 days; 8847*86400 + 12*3600 + 35*60 + 19.
    assert g.utc_epoch() == 8847 * 86400 + 45319 == 764426119
    assert g.utc_ticks_ms == 5020


def test_rmc_date_after_2000():
    # 2025-11-26 08:46:40: 55 years + 14 leap days (1972..2024) = 20089 days to 2025-01-01,
    # + 304 (Jan..Oct) + 25 = 20418 days.
    g = Gnss()
    g.feed(cs("GNRMC,084640.00,A,5230.1234,N,01322.5678,E,0.012,,261125,,,A,V"), now_ms=1)
    assert g.utc_epoch() == 20418 * 86400 + 8 * 3600 + 46 * 60 + 40 == 1764146800


def test_southern_western_hemispheres():
    g = Gnss()
    # Santiago de Chile: 3326.6364 S = -(33 + 26.6364/60) = -33.44394
    #                    07039.4058 W = -(70 + 39.4058/60) = -70.656763
    assert g.feed(cs("GPGGA,150000.00,3326.6364,S,07039.4058,W,2,11,0.8,570.2,M,30.1,M,,"), now_ms=0)
    lat, lon, alt, spd, sats, fix = g.read(now_ms=0)
    assert close(lat, -33.443940, 2e-5) and close(lon, -70.656763, 2e-5), (lat, lon)
    assert fix == 2 and sats == 11  # DGPS passes through as GGA quality
    # Sydney: 3351.5100 S, 15112.5000 E -> -33.8585, 151.208333
    g.feed(cs("GNGGA,010203.00,3351.5100,S,15112.5000,E,1,07,1.1,40.0,M,22.0,M,,"), now_ms=10)
    lat, lon = g.read(now_ms=10)[:2]
    assert close(lat, -33.8585, 2e-5) and close(lon, 151.208333, 2e-5), (lat, lon)


def test_talkers():
    for talker in ("GP", "GN", "GL"):
        g = Gnss()
        assert g.feed(cs(talker + "GGA,120000,0100.000,N,00200.000,W,1,05,1.0,10.0,M,,M,,"), now_ms=0)
        lat, lon = g.read(now_ms=0)[:2]
        assert close(lat, 1 + 0 / 60, 1e-6) and close(lon, -2.0, 1e-6), (talker, lat, lon)


def test_empty_fields_no_fix():
    g = Gnss()
    # What a u-blox receiver sends before its first fix.
    assert g.feed(cs("GPGGA,092725.00,,,,,0,00,99.99,,,,,,"), now_ms=0)
    assert g.feed(cs("GPRMC,092725.00,V,,,,,,,,,,N"), now_ms=0)
    assert g.read(now_ms=0) == (None, None, None, None, None, 0)
    assert g.utc_epoch() is None  # time without a fix is not trusted
    assert g.bad_lines == 0
    # A fix then a loss of fix.
    g.feed(GGA, now_ms=100)
    assert g.read(now_ms=100)[5] == 1
    g.feed(cs("GPGGA,123520,,,,,0,03,,,,,,,"), now_ms=200)
    assert g.read(now_ms=200) == (None, None, None, None, None, 0)


def test_bad_lines_counted_never_raised():
    g = Gnss()
    bad = (
        GGA.replace("*47", "*48"),  # wrong checksum
        GGA[:-3],  # checksum missing
        b"\xff\xfe\x00garbage\r\n",  # wrong baud rate
        "$GPGGA," + "9" * 200 + "*00",  # far too long
        cs("GPGGA,123519,48x7.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,"),  # bad number
        cs("GPGGA,123519,,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,"),  # fix without lat
        cs("GPGGA,123519,4807.038,X,01131.000,E,1,08,0.9,545.4,M,46.9,M,,"),  # hemisphere
        cs("GPGGA,123519,4807.038,N"),  # truncated
        cs("GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,321394,003.1,W"),  # month 13
        cs("GPRMC,123519,Q,4807.038,N"),  # truncated, bad status
        "",
        "$",
        GGA[:30] + GGA,  # two lines run together after a lost CR LF
    )
    for line in bad:
        assert g.feed(line, now_ms=0) is False, line
    assert g.bad_lines == len(bad), g.bad_lines
    assert g.good_lines == 0
    raises(errno.ETIMEDOUT, g.read, 0)  # nothing valid ever arrived


def test_other_sentences_keep_receiver_alive():
    g = Gnss()
    assert g.feed(cs("GPGSV,1,1,01,05,40,083,46"), now_ms=0)
    assert g.bad_lines == 0 and g.good_lines == 1
    assert g.read(now_ms=100) == (None, None, None, None, None, 0)


def test_staleness():
    g = Gnss(stale_ms=3000)
    raises(errno.ETIMEDOUT, g.read, 0)
    g.feed(GGA, now_ms=1000)
    g.feed(RMC, now_ms=1000)
    assert g.read(now_ms=4000)[5] == 1
    raises(errno.ETIMEDOUT, g.read, 4001)  # receiver silent for more than 3 s
    # Only RMC keeps coming (GGA disabled): alive, but no fresh fix quality.
    g.feed(RMC, now_ms=5000)
    assert g.read(now_ms=5000) == (None, None, None, None, None, 0)


def test_pure_parsers():
    f = nmea.fields(GGA)
    assert f[0] == "GPGGA" and len(f) == 15
    assert nmea.fields(GGA.replace("*47", "*00")) is None
    q, sats, lat, lon, alt = nmea.parse_gga(f)
    assert (q, sats) == (1, 8) and close(alt, 545.4, 1e-3)
    valid, spd, epoch = nmea.parse_rmc(nmea.fields(RMC))
    assert valid and epoch == 764426119
    assert nmea.parse_latlon("", "N") is None
    assert close(nmea.parse_latlon("00030.000", "W"), -0.5, 1e-9)
    assert nmea.days_from_civil(1970, 1, 1) == 0
    assert nmea.days_from_civil(2000, 3, 1) == 11017  # 30 years*365 + 7 leap + 31 + 29


async def test_run_reads_fake_uart():
    uart = FakeUART()
    g = Gnss(uart)
    task = asyncio.create_task(g.run())
    uart.inject(b"noise\r\n")
    uart.inject(GGA.encode() + b"\r\n" + RMC[:20].encode())
    await until(lambda: g.good_lines + g.bad_lines == 2 and uart.any() == 0, what="noise and GGA read")
    uart.inject(RMC[20:].encode() + b"\r\n")  # a sentence split across two UART reads
    await until(lambda: g.good_lines + g.bad_lines == 3, what="RMC read")
    task.cancel()
    assert g.good_lines == 2 and g.bad_lines == 1, (g.good_lines, g.bad_lines)
    assert g.read()[5] == 1
    assert g.utc_epoch() == 764426119
