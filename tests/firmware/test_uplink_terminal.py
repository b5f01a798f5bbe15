# The uplink wired into the terminal (app.py, uplink/part.py): a SIM7080G board whose records go
# over the modem simulator's real TCP sockets to a broker on a loopback port, acked by !ack on
# the down topic through the terminal's one command dispatcher, which also answers !interval and
# !status sent down. Real time (real sockets), long deadlines.
import asyncio
import json
import time

import fileblockdev as fb

import cutblockdev as cb
from fakebroker import Broker
from modem_sim import ModemSim
from mobiot_fw import config
from mobiot_fw.app import Terminal
from mobiot_fw.link import proto

DEV = "868822040061234"
UP = "mobiot/%s/up" % DEV
DOWN = "mobiot/%s/down" % DEV
REPLY = "mobiot/%s/reply" % DEV


class Plat:
    def __init__(self, sim):
        self.sim = sim

    def uart(self, part):
        return self.sim.uart()

    def pin_out(self, n, value=0):
        return self.sim.pwrkey

    def pin_in(self, n, on_fall=None):
        pass

    def reset_cause(self):
        return "hard"

    def unique_id(self):
        return "aabbccddeeff"


class Out:
    def write(self, b):
        return len(b)


async def until(cond, s=120):
    t0 = time.ticks_ms()
    while not cond():
        if time.ticks_diff(time.ticks_ms(), t0) > s * 1000:
            raise AssertionError("condition not met in %d s" % s)
        await asyncio.sleep_ms(50)


def records(broker):
    return [r for p in broker.payloads(UP) for r in json.loads(p)]


async def test_terminal_reports_over_the_uplink_and_obeys_commands_down():
    sim = ModemSim("SIM7080G", {"modem": {"model": "SIM7080G", "reg_delay_s": 1}})
    broker = Broker()
    srv, port = await broker.serve_tcp()
    fb.mount(cb.CutBlockDev(128), "/tt", mkfs=True)
    cfg, errs = config.validate({"device_id": DEV, "interval_s": 5, "status_every": 1, "modem": {"apn": "iot"},
                                 "uplink": {"enabled": True, "host": "127.0.0.1", "port": port, "encoding": "json",
                                            "backoff_s": 1, "backoff_max_s": 10}})
    assert errs == [], errs
    board = {"name": "t-sim7080g", "modem": {"model": "SIM7080G", "uart": 1, "pwrkey": 4}}
    t = Terminal(Plat(sim), cfg, board, out=Out(), qroot="/tt/q", cfg_path="/tt/config.json")
    assert t.uplink is not None and t.uplink in t.outbox.transports
    tasks = [asyncio.create_task(c) for c in (t.modem.run(), t.uplink.run(), t.cycle.run())]
    try:
        await until(lambda: any(r["kind"] == "connectivity" for r in records(broker)))
        got = records(broker)
        assert [r["seq"] for r in got] == sorted(set(r["seq"] for r in got))
        hello = broker.payloads(REPLY)[0]
        assert hello.startswith(b"H ") and json.loads(hello[2:])["board"] == "t-sim7080g"
        # the collector acks what it has: those records leave the queue, by the one dispatcher
        last = max(r["seq"] for r in got)
        broker.send_down("mobiot-" + DEV, DOWN, proto.encode_command("ack", "1-%d" % last).encode())
        await until(lambda: t.q.first_unacked(0) == 0 or t.q.first_unacked(0) > last)
        broker.send_down("mobiot-" + DEV, DOWN, proto.encode_command("interval", "7").encode())
        await until(lambda: any(p.startswith(b"K ") for p in broker.payloads(REPLY)))
        k = [json.loads(p[2:]) for p in broker.payloads(REPLY) if p.startswith(b"K ")][0]
        assert k == {"cmd": "interval", "ok": True, "interval_s": 7} and t.cfg["interval_s"] == 7
        with open("/tt/config.json") as f:
            assert json.load(f)["interval_s"] == 7
        n = len([r for r in records(broker) if r["kind"] == "status"])
        broker.send_down("mobiot-" + DEV, DOWN, proto.encode_command("status").encode())
        await until(lambda: len([r for r in records(broker) if r["kind"] == "status"]) > n)
        # the uplink's own event, queued like any record: on a loaded machine it can still be in
        # the window behind the status record, so wait for it rather than look once
        up = {"event": "uplink_up", "transport": "simcom-ca", "tls": False}
        await until(lambda: up in [r["values"] for r in records(broker) if r["kind"] == "event"])
    finally:
        t.uplink.shutdown()
        for k in tasks:
            k.cancel()
        broker.drop()
        srv.close()
        sim.stop()


def test_the_uplink_keeps_nothing_of_part_py():
    # uplink/part.py is loaded with once() to build the Uplink and dropped: a callable it hands
    # the Uplink must not be a function of part.py, whose globals (its module dict, and with
    # it all its code) the function would keep in RAM (docs/memory.md "The uplink")
    import gc
    import sys

    sim = ModemSim("SIM7080G", {"modem": {"model": "SIM7080G"}})
    try:
        fb.mount(cb.CutBlockDev(16), "/tk", mkfs=True)
        cfg, errs = config.validate({"device_id": DEV, "modem": {"apn": "iot"},
                                     "uplink": {"enabled": True, "host": "127.0.0.1", "tls": True}})
        assert errs == [], errs
        board = {"name": "t-sim7080g", "modem": {"model": "SIM7080G", "uart": 1, "pwrkey": 4}}
        t = Terminal(Plat(sim), cfg, board, out=Out(), qroot="/tk/q", cfg_path="/tk/config.json")
        up = t.uplink
        assert up is not None
        assert "mobiot_fw.uplink.part" not in sys.modules
        gc.collect()
        for name in ("stream_factory", "ready", "have_time"):
            f = getattr(up, name)
            assert f.__globals__["__name__"] != "mobiot_fw.uplink.part", name
        assert up.have_time() is False  # no UTC fix yet
        t.outbox.clock.set_utc(1764146800)
        assert up.have_time() is True
        assert up.ready() is False  # the modem has not registered
    finally:
        sim.stop()
