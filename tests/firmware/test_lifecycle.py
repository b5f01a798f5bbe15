# The modem part (firmware/mobiot_fw/cell/lifecycle.py) against the modem simulator in virtual
# time: one hang policy (the driver's: one power cycle per hang, not two), connectivity and
# registration records, the model's NITZ command, network time, the GNSS radio swap.
import asyncio
import json

from mobiot_fw import config
from mobiot_fw.cell.lifecycle import ModemPart
from mobiot_fw.clock import Clock
from modem_sim import ModemSim, VirtualTime

_DIR = __file__.rpartition("/")[0] + "/../data/scenarios/"


def load(name):
    with open(_DIR + name + ".json") as f:
        return json.load(f)


class Outbox:
    def __init__(self):
        self.got = []
        self.clock = Clock()

    def emit(self, kind, values):
        self.got.append((kind, dict(values)))

    def event(self, name, *pairs):
        self.emit("event", (("event", name),) + pairs)

    def events(self, name=None):
        return [v for k, v in self.got if k == "event" and (name is None or v["event"] == name)]


class Sensors:
    def __init__(self, gnss=False):
        self.gnss = gnss
        self.mgnss = None

    def wants(self, name):
        return self.gnss and name == "gnss"

    def use_modem_gnss(self, g):
        self.mgnss = g


class Pin:
    def __init__(self, value):
        self.levels = [value]

    def value(self, v=None):
        if v is None:
            return self.levels[-1]
        self.levels.append(v)


class Plat:
    def __init__(self, sim):
        self.sim = sim
        self.pins = {}
        self.irqs = {}

    def uart(self, part):
        assert part == "modem"
        return self.sim.uart()

    def pin_out(self, n, value=0):
        if n == 4:
            return self.sim.pwrkey
        if n == 5:
            return self.sim.reset_line
        self.pins[n] = Pin(value)
        return self.pins[n]

    def pin_in(self, n, on_fall=None):
        self.irqs[n] = on_fall

    def reset_cause(self):
        return "hard"


class Rig:
    def __init__(self, scenario, board_extra=None, sensors=None, raw=None):
        self.vt = VirtualTime()
        mc = scenario["modem"]
        self.sim = ModemSim(mc["model"], scenario, 1, clock=self.vt.ticks_ms)
        board = {"modem": {"model": mc["model"], "uart": 1, "pwrkey": 4}}
        board.update(board_extra or {})
        cfg, errs = config.validate(raw or {"interval_s": 30, "modem": {"apn": "iot.test"}})
        assert errs == [], errs
        self.out = Outbox()
        self.plat = Plat(self.sim)
        self.part = ModemPart(self.plat, board, cfg, self.out, sensors or Sensors(), None,
                              clock=self.vt.ticks_ms)

    def run_for(self, s, during=None):
        async def main():
            t = asyncio.create_task(self.part.run())
            if during is not None:
                await during()
            await asyncio.sleep(s)
            t.cancel()

        self.vt.run(main())

    def sent(self):
        return [line for _, d, line in self.sim.log if d == "<"]


def test_a_hang_is_one_recovery_by_the_driver():
    sc = load("sim7080g")
    sc["modem"]["events"] = [{"at_s": 120, "do": "hang"}]
    rig = Rig(sc)
    rig.run_for(600)
    m = rig.part.modem
    assert m.recoveries == 1 and rig.sim.power_cycles == 1, (m.recoveries, rig.sim.power_cycles)
    assert len(rig.out.events("modem_recovered")) == 1, rig.out.events()
    # it attached again and reports: the last connectivity says registered
    assert rig.part.conn.get("reg") in ("home", "roaming"), rig.part.conn
    assert rig.part.reports >= 5


def test_connectivity_record_and_registration_events():
    rig = Rig(load("bg95"))
    rig.run_for(200)
    rig.part.record()
    kinds = [k for k, _ in rig.out.got]
    assert "connectivity" in kinds, kinds
    conn = [v for k, v in rig.out.got if k == "connectivity"][-1]
    assert conn["model"] == "BG95" and conn["reg"] in ("home", "roaming") and "cell" in conn, conn
    assert rig.out.events("reg_change"), rig.out.events()


def test_nitz_command_comes_from_the_model_table():
    for name, line, other in (("sim7080g", "AT+CLTS=1", "AT+CTZU=1"), ("bg95", "AT+CTZU=1", "AT+CLTS=1")):
        rig = Rig(load(name))
        rig.run_for(120)
        sent = rig.sent()
        assert line in sent and other not in sent, (name, [s for s in sent if "CLTS" in s or "CTZU" in s])
        i = sent.index(line)
        assert "AT+CEREG?" in sent[i:], name  # before the attach waits for registration


def test_network_time_sets_the_clock_once():
    sc = load("sim7080g")
    sc["modem"]["events"] = []
    # the modem's clock as NITZ set it: local 2025-11-26 09:46:40, zone +04 quarter hours
    sc["modem"]["responses"] = {"AT+CCLK?": ['+CCLK: "25/11/26,09:46:40+04"', "OK"]}
    rig = Rig(sc)
    rig.run_for(300)
    ev = rig.out.events("time_set")
    assert len(ev) == 1 and ev[0]["source"] == "network", ev
    t, clk = rig.out.clock.now()
    assert clk == "utc" and 1764146800 <= t <= 1764146800 + 400, t  # 08:46:40 UTC, plus the run


def test_a_denied_attach_is_retried_after_a_pause():
    sc = load("sim7080g")
    sc["modem"]["events"] = [{"at_s": 0, "do": "denied", "for_s": 100000}]
    rig = Rig(sc)
    rig.run_for(300)
    t = [ms for ms, d, line in rig.sim.log if d == "<" and line == "AT+CEREG=4"]  # one per attempt
    assert len(t) >= 2, t
    gaps = [t[i + 1] - t[i] for i in range(len(t) - 1)]
    assert min(gaps) >= 10000, gaps


def test_gnss_in_an_exclusive_modem_swaps_the_radio():
    sc = load("sim7080g")
    board = {"gnss": {"source": "modem", "exclusive": True}}
    rig = Rig(sc, board, Sensors(gnss=True), {"interval_s": 30, "modem": {"apn": "iot.test", "gnss_every": 2}})
    rig.run_for(400)
    sent = rig.sent()
    assert rig.part.mgnss is not None
    assert "AT+CFUN=0" in sent and "AT+CFUN=1" in sent, [s for s in sent if "CFUN" in s]
    i = sent.index("AT+CFUN=0")
    j = sent.index("AT+CFUN=1", i)
    # radio off, a fix, radio on, then attach again
    assert any("GNS" in s for s in sent[i:j]), sent[i:j]
    assert "AT+CEREG?" in sent[j:], sent[j:]


def _dtr_rig(dtr):
    sc = load("sim7080g")
    sc["modem"]["events"] = []
    sc["modem"]["responses"] = {"AT+CSCLK=1": ["OK"]}  # the simulator's dialect lacks it
    extra = {"modem": {"model": "SIM7080G", "uart": 1, "pwrkey": 4}}
    if dtr is not None:
        extra["modem"]["dtr"] = dtr
    rig = Rig(sc, extra, raw={"interval_s": 60, "modem": {"apn": "iot.test"}})
    rig.run_for(400)
    return rig


def test_modem_dtr_sleeps_the_modem_between_reports():
    rig = _dtr_rig(42)
    assert "AT+CSCLK=1" in rig.sent()
    levels = rig.plat.pins[42].levels
    assert levels[0] == 0, levels  # awake from the start
    # high while waiting, low again for every report: 1, 0, 1, 0, ...
    assert levels.count(1) >= 3 and all(levels[i] != levels[i + 1] for i in range(1, len(levels) - 1)), levels
    assert rig.part.reports >= 4
    rig2 = _dtr_rig(None)  # no DTR on the board: never asked to sleep
    assert "AT+CSCLK=1" not in rig2.sent() and rig2.plat.pins == {}


def test_modem_ri_wakes_the_report_loop():
    sc = load("bg95")
    sc["modem"]["events"] = []
    extra = {"modem": {"model": "BG95", "uart": 1, "pwrkey": 4, "ri": 3}}
    rig = Rig(sc, extra, raw={"interval_s": 600, "modem": {"apn": "iot.test"}})
    seen = []

    async def ring():
        while rig.part.reports < 1:
            await asyncio.sleep(1)
        seen.append(rig.part.reports)
        await asyncio.sleep(30)
        rig.plat.irqs[3]()  # the modem pulls RI low: a URC is waiting
        await asyncio.sleep(30)
        seen.append(rig.part.reports)

    rig.run_for(1, ring)
    assert seen == [1, 2], seen  # reported again at the ring, not 600 s later
    rig2 = Rig(sc, {"modem": {"model": "BG95", "uart": 1, "pwrkey": 4}},
               raw={"interval_s": 600, "modem": {"apn": "iot.test"}})
    rig2.run_for(200)
    assert rig2.plat.irqs == {} and rig2.part.reports == 1


def _hang_rig(extra_modem):
    sc = load("sim7080g")
    sc["modem"]["events"] = [{"at_s": 120, "do": "hang"}]  # hangs for good: only a restart helps
    board = {"modem": dict({"model": "SIM7080G", "uart": 1, "pwrkey": 4}, **extra_modem)}
    rig = Rig(sc, board)
    rig.run_for(400)
    return rig


def test_modem_reset_line_recovers_a_hung_modem_without_a_power_cycle():
    # board file modem.reset / reset_ms: a hang is recovered through RESET, not PWRKEY
    rig = _hang_rig({"reset": 5, "reset_ms": 300})
    assert rig.sim.resets == 1 and rig.sim.power_cycles == 0, (rig.sim.resets, rig.sim.power_cycles)
    assert [e["event"] for e in rig.out.events("modem_recovered")] == ["modem_recovered"]
    assert rig.part.modem.reset_ms == 300
    # without the line: the power key cycles the modem instead
    rig2 = _hang_rig({})
    assert rig2.sim.resets == 0 and rig2.sim.power_cycles == 1, (rig2.sim.resets, rig2.sim.power_cycles)


def test_modem_power_en_switches_the_supply_on():
    # board file modem.power_en: that GPIO driven high before the modem is used
    for pin in (12, 13):
        rig = _hang_rig({"power_en": pin})
        assert rig.plat.pins[pin].levels == [1], rig.plat.pins
        assert rig.part.power_en is rig.plat.pins[pin]
    assert _hang_rig({}).plat.pins == {}
