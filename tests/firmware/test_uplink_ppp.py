# uplink.transport "ppp" (uplink/ppp.py, wired by uplink/part.py): a BG95 terminal dials PPP over
# the modem simulator's UART (ATD*99***1# -> CONNECT, then RFC 1662 frames: sim/modem_sim.py data
# mode), network.PPP is sim/fake_network.py's (the unix port has no `network` module, so PPP can
# only be tested against a fake: its LCP/IPCP negotiation runs over the simulated UART, its IP
# traffic over the unix port's real sockets), and records reach a broker on loopback. While PPP
# is up the modem part sends no AT command (and its hang policy counts nothing); a drop (NO
# CARRIER) brings the link back to command mode, the modem part polls again, the link dials
# again, and every record arrives. Real time (real sockets), long deadlines.
import asyncio
import json

import fake_network
import fileblockdev as fb
import cutblockdev as cb
import sim_ppp
from fakebroker import Broker
from modem_sim import ModemSim
from test_uplink_terminal import DEV, DOWN, Out, Plat, records, until
from mobiot_fw import config
from mobiot_fw.app import Terminal
from mobiot_fw.link import proto

BOARD = {"name": "t-bg95", "modem": {"model": "BG95", "uart": 1, "pwrkey": 4}}


class PppPlat(Plat):
    """The test platform with network.PPP (hw.Platform.ppp), made by the fake."""

    def __init__(self, sim, has=True):
        super().__init__(sim)
        self.has = has
        self.made = []

    def ppp(self, stream=None):
        if stream is None:
            return self.has
        p = fake_network.PPP(stream)
        self.made.append(p)
        return p


def _cfg(port, **up):
    u = {"enabled": True, "transport": "ppp", "host": "127.0.0.1", "port": port, "encoding": "json",
         "backoff_s": 1, "backoff_max_s": 10, "keepalive_s": 30}
    u.update(up)
    cfg, errs = config.validate({"device_id": DEV, "interval_s": 2, "status_every": 1, "modem": {"apn": "iot"},
                                 "uplink": u})
    assert errs == [], errs
    return cfg


def _at_lines(sim, since_ms):
    # the command lines the simulator took (its log: "<" lines), from a time on
    return [ln for t, d, ln in sim.log if d == "<" and t >= since_ms]


def _events(broker, name):
    return [r["values"] for r in records(broker) if r["kind"] == "event" and r["values"].get("event") == name]


async def _ack_all(broker, t):
    got = records(broker)
    if got:
        last = max(r["seq"] for r in got)
        broker.send_down("mobiot-" + DEV, DOWN, proto.encode_command("ack", "1-%d" % last).encode())


async def test_records_over_ppp_polls_paused_drop_and_recovery():
    import time

    sim = ModemSim("BG95", {"modem": {"model": "BG95", "reg_delay_s": 1}})
    broker = Broker()
    srv, port = await broker.serve_tcp()
    fb.mount(cb.CutBlockDev(128), "/tp", mkfs=True)
    plat = PppPlat(sim)
    t = Terminal(plat, _cfg(port), BOARD, out=Out(), qroot="/tp/q", cfg_path="/tp/config.json")
    assert t.uplink is not None and t.uplink in t.outbox.transports
    mp = t.modem
    tasks = [asyncio.create_task(c) for c in (mp.run(), t.uplink.run(), t.cycle.run())]
    try:
        # 1. records over PPP: dialled once, the fake's LCP and IPCP acknowledged by the sim
        await until(lambda: _events(broker, "uplink_up"), 120)
        assert _events(broker, "uplink_up")[0] == {"event": "uplink_up", "transport": "ppp", "tls": False}
        assert sim_ppp.dials(sim) == 1 and sim.data and plat.made and plat.made[0].state == "up"
        assert ("rx", fake_network.LCP, fake_network.CONF_ACK) in plat.made[0].log
        assert ("rx", fake_network.IPCP, fake_network.CONF_ACK) in plat.made[0].log
        assert mp.held and mp.modem.held

        # 2. while PPP is up: no AT command reaches the modem for several report intervals
        # (interval_s 2; pauses counts the held seconds), the modem part only checks in, and the
        # hang policy counts nothing
        t_up = time.ticks_ms()
        p0 = mp.pauses
        await until(lambda: mp.pauses >= p0 + 7, 60)
        sent = (_at_lines(sim, t_up), sim_ppp.junk(sim))
        assert sim.data and sent == ([], 0), sent
        m = mp.modem
        assert m.at.timeouts_in_row == 0 and m.recoveries == 0 and not m.needs_attach
        n_conn = len([r for r in records(broker) if r["kind"] == "connectivity"])
        await until(lambda: len([r for r in records(broker) if r["kind"] == "connectivity"]) > n_conn, 60)
        await _ack_all(broker, t)
        await until(lambda: t.q.first_unacked(0) == 0 or t.q.first_unacked(0) > 2, 60)

        # 3. the network drops the call: NO CARRIER; the link goes back to command mode (ATH),
        # the modem part polls again (while dials fail for 8 s), then PPP comes back
        sim.events.append({"do": "no_carrier", "at_s": sim.now_s(), "for_s": 8})
        t_drop = time.ticks_ms()
        await until(lambda: _events(broker, "uplink_down") or not sim.call, 60)
        await until(lambda: any(ln.startswith("AT+CEREG?") for ln in _at_lines(sim, t_drop)), 60)
        assert "ATH" in _at_lines(sim, t_drop)
        await until(lambda: sim_ppp.dials(sim) >= 2 and sim.data, 120)
        await until(lambda: len(_events(broker, "uplink_up")) >= 2, 120)
        down = _events(broker, "uplink_down")
        assert down and down[0]["err"] == "network", down
        assert m.recoveries == 0 and len(plat.made) >= 2

        # 4. nothing lost: every record made reaches the broker (resends are allowed: the
        # collector deduplicates by seq), and acked they all leave the queue
        await asyncio.sleep_ms(3000)
        made = t.q.next_seq() - 1
        await until(lambda: set(range(1, made + 1)) <= set(r["seq"] for r in records(broker)), 120)
        await _ack_all(broker, t)
        await until(lambda: t.q.first_unacked(0) == 0 or t.q.first_unacked(0) > made, 60)
    finally:
        t.uplink.shutdown()
        for k in tasks:
            k.cancel()
        broker.drop()
        srv.close()
        sim.stop()


def test_ppp_not_available_is_config_fallback():
    # a platform without network.PPP, and a board without a modem: no uplink, one event naming why
    fb.mount(cb.CutBlockDev(64), "/tf", mkfs=True)
    sim = ModemSim("BG95", {"modem": {"model": "BG95"}})
    cases = ((PppPlat(sim, has=False), BOARD, "no network.PPP"), (PppPlat(sim), {"name": "t-none"}, "no modem"))
    for i, (plat, board, why) in enumerate(cases):
        t = Terminal(plat, _cfg(1883), board, out=Out(), qroot="/tf/q%d" % i, cfg_path="/tf/config.json")
        assert t.uplink is None and not plat.made
        evs = [json.loads(bytes(b))["values"] for _, b in t.q.unacked()]
        fb_ev = [e for e in evs if e.get("event") == "config_fallback"]
        assert len(fb_ev) == 1 and fb_ev[0]["key"] == "uplink.transport" and why in fb_ev[0]["reason"], evs
    sim.stop()


def test_every_model_dials_ppp():
    # cell/models.py "ppp": every model of the table documents PPP dial-up (sources there)
    from mobiot_fw.cell import models

    for name in models.names():
        _, lines = models.row(name)
        assert "\nppp ATD*99***{cid}#\n" in lines, name


def test_platform_has_ppp_only_with_network_ppp():
    # hw.Platform.ppp() without a stream: part.py asks it before it wires PPP (the unix port has
    # no `network`)
    import sys

    from mobiot_fw import hw

    p = hw.Platform({})
    sys.modules.pop("network", None)
    assert not p.ppp()

    class Net:
        pass

    sys.modules["network"] = Net  # a build without PPP support
    try:
        assert not p.ppp()
        Net.PPP = fake_network.PPP
        assert p.ppp()
    finally:
        del sys.modules["network"]


async def test_half_a_client_pair_is_a_tls_error_before_any_connection():
    # NetSock (WLAN, PPP): tls.cert without tls.key (or the reverse) is never TLS without the
    # certificate the terminal was given half of: LinkError("tls", certs.HALF_PAIR), as the modem
    # transports do (cell/certs.py), and no connection is made
    from mobiot_fw.cell.certs import HALF_PAIR
    from mobiot_fw.uplink.mqtt import LinkError
    from mobiot_fw.uplink.net import NetSock

    pem = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    for have in ({"ca": pem, "cert": pem}, {"ca": pem, "key": pem}):
        st = NetSock("wlan", have.get, resolve=lambda h, p: "no connection may be made")
        try:
            await st.open("localhost", 8883, True, "ca.crt")
            raise AssertionError("no error")
        except LinkError as e:
            assert e.what == "tls" and e.code == HALF_PAIR, (e.what, e.code)
        assert st.closed and st.w is None
