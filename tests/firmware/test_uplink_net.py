# The uplink over MicroPython's own IP stack (uplink/net.py) against the fakes of
# sim/fake_network.py: the unix port has no `network` module, so network.WLAN and network.PPP
# can only be tested against fakes (docs/uplink.md). NetSock's TCP runs over real sockets on
# loopback; TLS with the right and a wrong CA to a real Mosquitto: tests/host/
# test_uplink_e2e_models.py.
import asyncio

import fake_network
from test_uplink_sim7080 import echo, echo_server
from mobiot_fw.uplink.mqtt import LinkError
from mobiot_fw.uplink.net import NetSock, WlanLink, ca_der
from mobiot_fw.uplink.ppp import PppLink, PppStream


class Clock:
    def __init__(self):
        self.t = 0

    def __call__(self):
        return self.t


def test_wlan_ready_asks_to_join_without_blocking():
    clk = Clock()
    nic = fake_network.WLAN(join_ms=5000, ssid="net", clock=clk)
    nic.active(True)
    link = WlanLink(nic, "net", "pw", clock=clk)
    assert not link.ready()
    assert nic.log[-1] == ("connect", "net")
    clk.t = 3000
    assert not link.ready()
    assert [e for e in nic.log if e[0] == "connect"] == [("connect", "net")]  # not asked again yet
    clk.t = 5000
    assert link.ready()
    nic.up = False  # the access point is gone: asked again, at most every 10 s
    clk.t = 20000
    assert not link.ready()
    assert len([e for e in nic.log if e[0] == "connect"]) == 2
    clk.t = 25000
    assert not link.ready() and len([e for e in nic.log if e[0] == "connect"]) == 2


def test_wlan_wrong_network_never_ready():
    clk = Clock()
    nic = fake_network.WLAN(join_ms=0, ssid="other", clock=clk)
    nic.active(True)
    link = WlanLink(nic, "net", "pw", clock=clk)
    for t in range(0, 60000, 1000):
        clk.t = t
        assert not link.ready()


class FakeAt:
    def __init__(self, final="CONNECT 150000000"):
        self.final = final
        self.log = []
        self.uart = FakeUart()

    async def cmd(self, line, timeout_ms=5000, expect=None):
        self.log.append(line)
        if self.final is None or line == "ATH":
            from mobiot_fw.cell.at import AtError

            raise AtError(line, "NO CARRIER")
        return [], self.final

    def stop(self):
        self.log.append("stop")

    def start(self):
        self.log.append("start")
        return self

    def reset(self):
        self.log.append("reset")


class FakeUart:
    def __init__(self):
        self.out = bytearray()

    def write(self, b):
        self.out.extend(b)

    def read(self):
        return None

    def readinto(self, buf):
        return None


class InstantPPP(fake_network.PPP):
    # no modem simulator on the other end here: up as soon as it is asked to connect
    def isconnected(self):
        return self.state in ("lcp", "ipcp", "up")


class FakePart:
    # cell/lifecycle.py ModemPart's side of a data call: hold() / release(), modem.at
    def __init__(self, at, grant=True):
        self.modem = self
        self.at = at
        self.grant = grant
        self.log = []

    async def hold(self):
        self.log.append("hold")
        return self.grant

    def release(self):
        self.log.append("release")


async def test_ppp_holds_the_modem_part_dials_then_hands_the_uart_to_ppp():
    at = FakeAt()
    part = FakePart(at)
    made = []

    def new_ppp(stream):
        assert at.log[-1] == "stop", at.log  # the AT engine let go of the UART first
        assert part.log == ["hold"]  # and the modem part's polls stopped before the dial
        p = InstantPPP(stream)
        made.append(p)
        return p

    link = PppLink(part, new_ppp, "ATD*99***1#", user="web", key="web")
    assert not link.ready()
    await link.up()
    assert at.log == ["ATD*99***1#", "stop"]
    assert made[0].stream is at.uart and made[0].log[1] == ("connect", fake_network.PPP.SEC_PAP, "web")
    assert link.ready() and link.dials == 1
    await link.up()  # up already: no second dial
    assert at.log.count("ATD*99***1#") == 1
    await link.down()
    assert made[0].log[-1] == ("disconnect",) and bytes(at.uart.out).endswith(b"+++\r")
    assert at.log[-3:] == ["reset", "start", "ATH"] and not link.ready()
    assert part.log == ["hold", "release"]  # polls resume once the AT engine has the UART


async def test_ppp_dial_refused_is_a_network_error_and_releases():
    for final in (None, "OK"):
        part = FakePart(FakeAt(final))
        link = PppLink(part, lambda s: fake_network.PPP(s), "ATD*99***1#")
        try:
            await link.up()
            raise AssertionError("no error")
        except LinkError as e:
            assert e.what == "network"
        assert part.log == ["hold", "release"]
    part = FakePart(FakeAt(), grant=False)  # the modem part did not come to rest: no dial
    try:
        await PppLink(part, lambda s: fake_network.PPP(s), "ATD*99***1#").up()
        raise AssertionError("no error")
    except LinkError as e:
        assert e.what == "modem" and part.at.log == []


async def test_ppp_stream_and_netsock_carry_bytes_over_real_tcp():
    srv, port = await echo_server()
    link = PppLink(FakePart(FakeAt()), InstantPPP, "ATD*99***1#")
    st = PppStream(link)
    await st.open("127.0.0.1", port, False, "")
    assert link.ready() and st.NAME == "ppp"
    await echo(st, bytes(range(256)) * 8, 300)
    st.close()
    st = NetSock("wlan")
    await st.open("127.0.0.1", port, False, "")
    await echo(st, b"\r\n\x00>" * 100, 64)
    st.close()
    srv.close()
    try:
        await NetSock().open("no-such-host.invalid", 1883, False, "")
        raise AssertionError("no error")
    except LinkError as e:
        assert e.what == "dns"
    try:
        await NetSock().open("127.0.0.1", port, True, "ca.pem")  # TLS without a CA: refused
        raise AssertionError("no error")
    except LinkError as e:
        assert e.what == "tls"


def test_ca_der_is_the_base64_body():
    import binascii

    der = bytes(range(200))
    b64 = binascii.b2a_base64(der).strip()
    pem = b"junk\n-----BEGIN CERTIFICATE-----\n" + b64[:64] + b"\n" + b64[64:] + b"\n-----END CERTIFICATE-----\n"
    assert ca_der(pem) == der


async def test_terminal_without_modem_reports_over_wlan():
    # uplink.transport "wlan" wired by uplink/part.py: the station from the platform (hw.py's
    # wlan(), here the fake), credentials from secrets.json, records to a broker on loopback
    import json
    import time

    import fileblockdev as fb

    import cutblockdev as cb
    from fakebroker import Broker
    from test_uplink_terminal import DEV, UP, Out, Plat, until
    from mobiot_fw import config
    from mobiot_fw.app import Terminal
    from mobiot_fw.cell import certs

    nics = []

    class WlanPlat(Plat):
        def wlan(self):
            nic = fake_network.WLAN(ssid="field-ap")
            nic.active(True)
            nics.append(nic)
            return nic

    broker = Broker()
    srv, port = await broker.serve_tcp()
    fb.mount(cb.CutBlockDev(128), "/tw", mkfs=True)
    old = certs.SECRETS
    certs.SECRETS = "/tw/secrets.json"
    cfg, errs = config.validate({"device_id": DEV, "interval_s": 2, "status_every": 1, "modem": {"enabled": False},
                                 "uplink": {"enabled": True, "transport": "wlan", "host": "127.0.0.1", "port": port,
                                            "encoding": "json", "backoff_s": 1, "backoff_max_s": 10}})
    assert errs == [], errs
    try:
        # no credentials: refused with config_fallback, as before
        t = Terminal(WlanPlat(None), cfg, {"name": "t-wlan"}, out=Out(), qroot="/tw/q0", cfg_path="/tw/config.json")
        assert t.uplink is None and not nics
        with open(certs.SECRETS, "w") as f:
            json.dump({"wlan": {"ssid": "field-ap", "password": "pw"}}, f)
        t = Terminal(WlanPlat(None), cfg, {"name": "t-wlan"}, out=Out(), qroot="/tw/q", cfg_path="/tw/config.json")
        assert t.uplink is not None and len(nics) == 1
        tasks = [asyncio.create_task(c) for c in (t.uplink.run(), t.cycle.run())]
        try:
            await until(lambda: broker.payloads(UP), 60)
            ev = [r["values"] for p in broker.payloads(UP) for r in json.loads(p) if r["kind"] == "event"]
            t0 = time.ticks_ms()
            while not any(v.get("event") == "uplink_up" for v in ev) and time.ticks_diff(time.ticks_ms(), t0) < 60000:
                await asyncio.sleep_ms(100)
                ev = [r["values"] for p in broker.payloads(UP) for r in json.loads(p) if r["kind"] == "event"]
            assert {"event": "uplink_up", "transport": "wlan", "tls": False} in ev, ev
            assert ("connect", "field-ap") in nics[0].log
        finally:
            t.uplink.shutdown()
            for k in tasks:
                k.cancel()
    finally:
        certs.SECRETS = old
        broker.drop()
        srv.close()
