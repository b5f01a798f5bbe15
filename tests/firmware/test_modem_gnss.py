# GNSS through the cellular module (firmware/mobiot_fw/cell/gnss.py): the pure parsers on
# lines in each vendor's documented format, then ModemGnss against the modem simulator
# (sim/modem_sim.py, "modem.gnss" in docs/scenario.md) for SIM7080G, SIM7000G, A7670 and
# BG95 in virtual time. Expected values are worked out here from the formats (ddmm.mmmm ->
# degrees, km/h or knots -> m/s, calendar -> Unix seconds by plain day counting), never from
# the module's output.
import asyncio
import errno
import json

from fwtest import raises
from mobiot_fw.cell.at import At, AtTimeout
from mobiot_fw.cell.gnss import (
    ModemGnss,
    parse_cgnsinf,
    parse_cgnssinfo,
    parse_cgpsinfo,
    parse_qgpsloc,
)
from modem_sim import ModemSim, VirtualTime

_BOARDS = __file__.rpartition("/")[0] + "/../../boards/"
_MDAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def unix(y, mo, d, h, mi, s):
    # Plain day counting from 1970 (Gregorian leap rule), independent of the firmware's
    # days_from_civil. Cross-checks: 2017-05-20 19:03:55 = 1495307035 (date -u +%s).
    days = 0
    for yy in range(1970, y):
        days += 366 if (yy % 4 == 0 and yy % 100 != 0) or yy % 400 == 0 else 365
    for mm in range(1, mo):
        days += _MDAYS[mm - 1]
        if mm == 2 and ((y % 4 == 0 and y % 100 != 0) or y % 400 == 0):
            days += 1
    return ((days + d - 1) * 24 + h) * 3600 + mi * 60 + s


def near(a, b, tol):
    return a is not None and abs(a - b) <= tol


# ---- parsers -----------------------------------------------------------------------------


def test_unix_reference():
    assert unix(2017, 5, 20, 19, 3, 55) == 1495307035
    assert unix(2024, 9, 2, 9, 41, 45) == 1725270105


def test_cgnsinf_fix():
    # SIM7000/SIM7080 manual field order; speed in km/h
    r = parse_cgnsinf(
        "+CGNSINF: 1,1,20170520190355.000,50.837443,4.367987,94.900,0.11,313.2,1,,0.8,1.2,1.0,,14,11,,,39,,"
    )
    fix, lat, lon, alt, spd, sats, epoch = r
    assert fix == 1
    assert near(lat, 50.837443, 1e-9) and near(lon, 4.367987, 1e-9)
    assert near(alt, 94.9, 1e-9)
    assert near(spd, 0.11 / 3.6, 1e-9)
    assert sats == 11  # field 16, GNSS satellites used (15 is "in view")
    assert epoch == unix(2017, 5, 20, 19, 3, 55)


def test_cgnsinf_no_fix_and_off():
    assert parse_cgnsinf("+CGNSINF: 1,0,19800106000349.000,,,,0.00,0.0,0,,,,,,0,0,,,,,")[0] == 0
    assert parse_cgnsinf("+CGNSINF: 0,,,,,,,,,,,,,,,,,,,,") == (0, None, None, None, None, None, None)
    try:
        parse_cgnsinf("+CGNSINF: 1,1,2017")
    except ValueError:
        pass
    else:
        raise AssertionError("short line accepted")


def test_cgnssinfo_manual_example_ddmm():
    # A76XX AT Command Manual example (ddmm.mmmmmm, three SV counts, speed in knots)
    r = parse_cgnssinfo(
        "+CGNSSINFO: 2,09,05,00,3113.330650,N,12121.262554,E,131117,091918.0,32.9,0.0,255.0,1.1,0.8,0.7"
    )
    fix, lat, lon, alt, spd, sats, epoch = r
    assert fix == 1
    assert near(lat, 31 + 13.330650 / 60, 1e-9)
    assert near(lon, 121 + 21.262554 / 60, 1e-9)
    assert near(alt, 32.9, 1e-9) and near(spd, 0.0, 1e-9)
    assert sats == 9 + 5 + 0
    assert epoch == unix(2017, 11, 13, 9, 19, 18)


def test_cgnssinfo_decimal_degrees_and_south_west():
    # newer A76xx firmware: decimal degrees, two SV counts (shape of LilyGO's A7608 sample)
    r = parse_cgnssinfo("+CGNSSINFO: 2,04,00,21.123456,N,114.123456,E,020924,094145.00,-34.0,1.403,,6.9,6.8,1.0,03")
    assert r[0] == 1 and near(r[1], 21.123456, 1e-9) and near(r[2], 114.123456, 1e-9)
    assert near(r[3], -34.0, 1e-9) and near(r[4], 1.403 * 1852 / 3600, 1e-6) and r[5] == 4
    assert r[6] == unix(2024, 9, 2, 9, 41, 45)
    # four SV counts (GALILEO too), southern and western hemisphere in ddmm
    r = parse_cgnssinfo(
        "+CGNSSINFO: 3,06,02,01,00,3352.123400,S,07037.654300,W,300926,120000.0,150.5,12.3,45.6,1.2,0.9,0.8"
    )
    assert near(r[1], -(33 + 52.1234 / 60), 1e-9) and near(r[2], -(70 + 37.6543 / 60), 1e-9)
    assert r[5] == 9 and near(r[4], 12.3 * 1852 / 3600, 1e-6)
    assert r[6] == unix(2026, 9, 30, 12, 0, 0)
    assert parse_cgnssinfo("+CGNSSINFO: ,,,,,,,,,,,,,,,")[0] == 0


def test_cgpsinfo():
    r = parse_cgpsinfo("+CGPSINFO: 3113.343286,N,12121.234064,E,131117,091918.0,32.9,1.5,255.0")
    assert r[0] == 1 and near(r[1], 31 + 13.343286 / 60, 1e-9) and near(r[2], 121 + 21.234064 / 60, 1e-9)
    assert near(r[4], 1.5 * 1852 / 3600, 1e-6) and r[5] is None
    assert r[6] == unix(2017, 11, 13, 9, 19, 18)
    assert parse_cgpsinfo("+CGPSINFO: ,,,,,,,,")[0] == 0


def test_qgpsloc_mode2_and_mode0():
    # BG95 GNSS Application Note format; mode 2 decimal degrees, spkm in km/h
    r = parse_qgpsloc("+QGPSLOC: 022137.000,37.87512,-122.29062,0.8,11.8,3,0.00,7.2,3.9,280821,09")
    fix, lat, lon, alt, spd, sats, epoch = r
    assert fix == 1 and near(lat, 37.87512, 1e-9) and near(lon, -122.29062, 1e-9)
    assert near(alt, 11.8, 1e-9) and near(spd, 2.0, 1e-9) and sats == 9
    assert epoch == unix(2021, 8, 28, 2, 21, 37)
    # mode 0: ddmm.mmmmN / dddmm.mmmmE
    r = parse_qgpsloc("+QGPSLOC: 070807.000,3858.1866N,11713.5805E,2.0,2.4,3,000.00,0.7,0.4,301021,07")
    assert near(r[1], 38 + 58.1866 / 60, 1e-9) and near(r[2], 117 + 13.5805 / 60, 1e-9) and r[5] == 7


# ---- against the simulator ---------------------------------------------------------------

POS = {
    "SIM7080G": {"lat": 48.137412, "lon": 11.575512, "alt": 521.3, "speed_kmh": 36.0, "sats": 8},
    "SIM7000G": {"lat": -33.868820, "lon": 151.209290, "alt": 39.0, "speed_kmh": 0.0, "sats": 6},
    "A7670": {"lat": -22.906847, "lon": -43.172897, "alt": 11.4, "speed_kmh": 36.0, "sats": 11},
    "BG95": {"lat": 40.712776, "lon": -74.005974, "alt": 10.2, "speed_kmh": 18.0, "sats": 7},
}
# tolerances from each format's printed precision: CGNSINF 6 decimals / km/h .2f;
# CGNSSINFO ddmm.mmmmmm / knots .1f; QGPSLOC=2 5 decimals / km/h .1f
TOL = {
    "SIM7080G": (1e-6, 0.01),
    "SIM7000G": (1e-6, 0.01),
    "A7670": (1e-6, 0.05 * 0.514444 + 0.01),
    "BG95": (1e-5, 0.05 / 3.6 + 0.01),
}
TTFF = 40
UTC0 = 1750000000


class Rig:
    def __init__(self, model, gnss=None, modem=None):
        self.vt = VirtualTime()
        g = dict(POS[model], ttff_s=TTFF, utc0=UTC0)
        g.update(gnss or {})
        mc = {"model": model, "gnss": g}
        mc.update(modem or {})
        self.g = g
        self.sim = ModemSim(model, {"modem": mc}, 1, clock=self.vt.ticks_ms)
        self.at = At(self.sim.uart(), clock=self.vt.ticks_ms)

    async def boot(self):
        for _ in range(60):
            try:
                await self.at.cmd("AT", 500)
                return
            except AtTimeout:
                await asyncio.sleep_ms(500)
        raise AssertionError("modem did not boot")


def _check_fix(model, rig, gn):
    lat, lon, alt, spd, sats, fix = gn.read()
    g = rig.g
    tpos, tspd = TOL[model]
    assert fix == 1
    assert near(lat, g["lat"], tpos), (lat, g["lat"])
    assert near(lon, g["lon"], tpos), (lon, g["lon"])
    assert near(alt, g["alt"], 0.06)
    assert near(spd, g["speed_kmh"] / 3.6, tspd), (spd, g["speed_kmh"] / 3.6)
    assert sats == g["sats"]
    # the fix's UTC is the scenario's utc0 + simulator time when it was answered
    e = gn.utc_epoch()
    assert e is not None and abs(e - (UTC0 + rig.sim.now_s())) <= 2


def _model_test(model):
    rig = Rig(model)

    async def body():
        await rig.boot()
        if model == "SIM7080G":
            await rig.at.cmd("AT+CFUN=0")  # GNSS shares the RF chain: LTE off first
        gn = ModemGnss(rig.at, model)
        raises(errno.ETIMEDOUT, gn.read)  # nothing answered yet
        assert not await gn.update()  # powers GNSS on; TTFF starts now
        assert gn.powered
        assert gn.read() == (None, None, None, None, None, 0)
        assert gn.utc_epoch() is None
        await asyncio.sleep(TTFF - 8)
        assert not await gn.update()
        assert gn.read()[5] == 0
        await asyncio.sleep(10)
        assert await gn.update()
        _check_fix(model, rig, gn)

    rig.vt.run(body())


def test_sim7080g_no_fix_before_ttff_then_scenario_position():
    _model_test("SIM7080G")


def test_sim7000g_no_fix_before_ttff_then_scenario_position():
    _model_test("SIM7000G")


def test_a7670_no_fix_before_ttff_then_scenario_position():
    _model_test("A7670")


def test_bg95_no_fix_before_ttff_then_scenario_position():
    _model_test("BG95")


def test_a7670_cgpsinfo_from_board_override():
    rig = Rig("A7670")

    async def body():
        await rig.boot()
        gn = ModemGnss(rig.at, "A7670", read_at="AT+CGPSINFO")
        assert not await gn.update()
        await asyncio.sleep(TTFF + 2)
        assert await gn.update()
        lat, lon, alt, spd, sats, fix = gn.read()
        assert near(lat, rig.g["lat"], 1e-6) and near(lon, rig.g["lon"], 1e-6) and sats is None

    rig.vt.run(body())


def test_sim7080g_no_fix_while_lte_registered_then_acquire():
    rig = Rig("SIM7080G")

    async def body():
        await rig.boot()
        gn = ModemGnss(rig.at, "SIM7080G")
        assert gn.exclusive
        await gn.update()
        await asyncio.sleep(TTFF + 5)  # registered by now (reg_delay_s 6)
        assert rig.sim._registered()
        assert not await gn.update()
        # the scheduling the main loop must do: radio off, acquire, GNSS off, radio on
        await rig.at.cmd("AT+CFUN=0")
        assert await gn.acquire(60)
        assert rig.sim.gnss_on_s is None and not gn.powered  # powered off for LTE
        _check_fix("SIM7080G", rig, gn)

    rig.vt.run(body())


def test_sim7000g_board_antenna_command_first():
    with open(_BOARDS + "lilygo-t-sim7000g.json") as f:
        gc = json.load(f)["gnss"]
    rig = Rig("SIM7000G")

    async def body():
        await rig.boot()
        gn = ModemGnss(rig.at, "SIM7000G", on_at=gc["on_at"], read_at=gc["at"])
        assert await gn.power_on()
        sent = [l for (_, d, l) in rig.sim.log if d == "<"]
        assert sent.index("AT+CGPIO=0,48,1,1") < sent.index("AT+CGNSPWR=1")
        assert sent.count("AT+CGNSPWR=1") == 1

    rig.vt.run(body())


def test_bg95_session_errors():
    rig = Rig("BG95")

    async def body():
        await rig.boot()
        gn = ModemGnss(rig.at, "BG95")
        assert await gn.power_on()
        assert await gn.power_on()  # +CME ERROR: 504 (session ongoing) is success
        assert not await gn.update()  # +CME ERROR: 516 before TTFF: answered, no fix
        assert gn.read()[5] == 0
        await rig.at.cmd("AT+QGPSEND")  # someone stopped the session
        assert not await gn.update()  # 505: not active
        assert not gn.powered
        await asyncio.sleep(TTFF + 2)
        assert not await gn.update()  # powered again, TTFF restarts
        assert gn.powered
        await asyncio.sleep(TTFF + 2)
        assert await gn.update()
        _check_fix("BG95", rig, gn)

    rig.vt.run(body())


def test_stale_answer_times_out():
    rig = Rig("SIM7000G")

    async def body():
        await rig.boot()
        gn = ModemGnss(rig.at, "SIM7000G", stale_ms=10000)
        await asyncio.sleep(TTFF + 2)
        await gn.update()
        await asyncio.sleep(TTFF + 2)
        assert await gn.update()
        gn.read()
        await asyncio.sleep(11)
        raises(errno.ETIMEDOUT, gn.read)

    rig.vt.run(body())


def test_sim7000g_gnss_off_after_modem_restart_is_powered_again():
    rig = Rig("SIM7000G")

    async def body():
        await rig.boot()
        gn = ModemGnss(rig.at, "SIM7000G")
        await gn.update()
        await asyncio.sleep(TTFF + 2)
        assert await gn.update()
        await rig.at.cmd("AT+CGNSPWR=0")  # what a modem reboot leaves behind
        assert not await gn.update()  # <GNSS run status> 0
        assert not gn.powered
        assert rig.sim.gnss_on_s is None
        assert not await gn.update()  # powers GNSS again; TTFF restarts
        assert rig.sim.gnss_on_s is not None
        await asyncio.sleep(TTFF + 2)
        assert await gn.update()

    rig.vt.run(body())
