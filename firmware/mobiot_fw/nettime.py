# Network time from the modem: UTC epoch seconds from +CCLK (3GPP TS 27.007 §8.15), the
# network's NITZ as the modem's clock shows it once synchronised (SIMCom: AT+CLTS=1, SIM7080
# Series AT Command Manual §4.2.x "AT+CLTS"; Quectel: AT+CTZU=1, BG95 AT Commands Manual
# "AT+CTZU"). Pure functions: no I/O.
#
# +CCLK: "yy/MM/dd,hh:mm:ss±zz"  local time, zz = offset from UTC in quarters of an hour.
# A modem that has not synchronised answers its power-on default (e.g. "80/01/06,00:01:12+00"
# on SIMCom, "04/01/01,..." on older parts): any year before 2024 is "not known".

_MIN_YEAR = 2024


def days_from_civil(y, m, d):
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def parse_cclk(line):
    """'+CCLK: "26/11/26,09:30:12+04"' -> UTC epoch seconds, or None when the modem's clock is
    not set (default date) or the line is malformed."""
    i = line.find('"')
    j = line.find('"', i + 1)
    if i < 0 or j < 0:
        return None
    s = line[i + 1 : j]
    # yy/MM/dd,hh:mm:ss±zz
    if len(s) < 20 or s[2] != "/" or s[5] != "/" or s[8] != "," or s[11] != ":" or s[14] != ":":
        return None
    try:
        yy, mo, dd = int(s[0:2]), int(s[3:5]), int(s[6:8])
        hh, mi, ss = int(s[9:11]), int(s[12:14]), int(s[15:17])
        sign = s[17]
        qh = int(s[18:])
    except ValueError:
        return None
    if sign not in "+-" or not (1 <= mo <= 12 and 1 <= dd <= 31 and hh < 24 and mi < 60 and ss < 61):
        return None
    year = (1900 if yy >= 80 else 2000) + yy  # "80/01/06" is 1980 (the GPS epoch), as NMEA dates
    if year < _MIN_YEAR:
        return None
    local = days_from_civil(year, mo, dd) * 86400 + hh * 3600 + mi * 60 + ss
    off = qh * 900
    return local - off if sign == "+" else local + off
