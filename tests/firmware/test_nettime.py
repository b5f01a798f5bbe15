# Network time parsing (firmware/mobiot_fw/nettime.py). Expected epochs come from an
# independent calendar count in the test, not from the code.
from mobiot_fw.nettime import parse_cclk


def _days(y, m, d):
    # independent: count days year by year and month by month
    n = 0
    for yy in range(1970, y):
        n += 366 if (yy % 4 == 0 and yy % 100 != 0) or yy % 400 == 0 else 365
    mdays = [31, 29 if (y % 4 == 0 and y % 100 != 0) or y % 400 == 0 else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    for mm in range(1, m):
        n += mdays[mm - 1]
    return n + d - 1


def test_cclk_local_time_with_quarter_hour_offset_to_utc():
    # 09:30:12 at UTC+1h (+04 quarters) is 08:30:12 UTC (TS 27.007 §8.15)
    want = _days(2026, 11, 26) * 86400 + 8 * 3600 + 30 * 60 + 12
    assert parse_cclk('+CCLK: "26/11/26,09:30:12+04"') == want
    # negative offset: 01:00:00 at UTC-5h (-20) on 1 March 2028 is 06:00 UTC
    assert parse_cclk('+CCLK: "28/03/01,01:00:00-20"') == _days(2028, 3, 1) * 86400 + 6 * 3600


def test_unsynchronised_clock_and_garbage_are_unknown():
    assert parse_cclk('+CCLK: "80/01/06,00:01:12+00"') is None  # SIMCom power-on default
    assert parse_cclk('+CCLK: "04/01/01,00:00:00+00"') is None
    assert parse_cclk("+CCLK: garbage") is None
    assert parse_cclk('+CCLK: "26/13/26,09:30:12+04"') is None
    assert parse_cclk('+CCLK: "26/11/26 09:30:12+04"') is None
