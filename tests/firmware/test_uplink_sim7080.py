# The SIM7080G socket transport (cell/vendor/sock_simcom.py) over the modem simulator's socket
# commands (sim/sim_sockets.py), which open REAL TCP connections on loopback: binary data both
# ways, segmenting at 1460 bytes, errors as LinkError, and the whole uplink (MQTT session) to a
# broker on a real TCP port. Real time with long deadlines: real sockets cannot run in virtual
# time. TLS is tested against Mosquitto in tests/host/test_uplink_e2e.py.
import asyncio
import json
import random
import time

from fakebroker import Broker
from modem_sim import ModemSim
from mobiot_fw.cell.at import At
from mobiot_fw.cell.vendor.sock_simcom import SimcomCA
from mobiot_fw.link import proto
from mobiot_fw.uplink.mqtt import LinkError

DEV = "868822040061234"


async def until(cond, s=60):
    t0 = time.ticks_ms()
    while not cond():
        if time.ticks_diff(time.ticks_ms(), t0) > s * 1000:
            raise AssertionError("condition not met in %d s" % s)
        await asyncio.sleep_ms(20)


async def modem(model="SIM7080G", act="AT+CNACT=0,1", **sc):
    # a registered simulated modem with its bearer up (act: the model's command, None: none)
    m = {"model": model, "reg_delay_s": 0}
    m.update(sc)
    sim = ModemSim(model, {"modem": m})
    at = At(sim.uart()).start()
    await until(lambda: sim.state == "on" and sim._registered())
    await at.cmd("ATE0")
    if act:
        await at.cmd(act)
    return sim, at


async def echo_server():
    async def cb(r, w):
        while True:
            d = await r.read(512)
            if not d:
                break
            w.write(d)
            await w.drain()
        w.close()

    for _ in range(50):
        port = 20000 + random.getrandbits(14)
        try:
            return await asyncio.start_server(cb, "127.0.0.1", port), port
        except OSError:
            pass
    raise OSError("no free port")


async def echo(st, data, chunk):
    # data out through the transport, back from the echo server in reads of at most chunk
    await st.write(memoryview(data))
    got = bytearray()
    buf = bytearray(chunk)
    mv = memoryview(buf)
    while len(got) < len(data):
        n = await asyncio.wait_for(st.read_into(mv), 30)
        assert n > 0
        got.extend(buf[:n])
    assert bytes(got) == data


async def test_binary_round_trip_over_real_tcp():
    sim, at = await modem()
    srv, port = await echo_server()
    st = SimcomCA(at)
    await st.open("127.0.0.1", port, False, "")
    data = bytes((i * 7 + (i >> 8)) & 0xFF for i in range(3000))  # CR, LF, NUL, '>' included
    await echo(st, data, 700)
    sends = [ln for _, d, ln in sim.log if d == "<" and ln.startswith("AT+CASEND")]
    assert sends == ["AT+CASEND=0,1460", "AT+CASEND=0,1460", "AT+CASEND=0,80"], sends
    assert sim.sockets.opened == 1
    st.close()
    await until(lambda: not sim.sockets.conns)
    srv.close()
    sim.stop()
    at.stop()


async def test_open_errors_are_link_errors():
    sim, at = await modem()
    st = SimcomCA(at)
    srv, port = await echo_server()
    srv.close()
    await srv.wait_closed()
    try:
        await st.open("127.0.0.1", port, False, "")
        raise AssertionError("no error")
    except LinkError as e:
        assert e.what == "refused" and e.code == 23, (e.what, e.code)
    try:
        await st.open("no-such-host.invalid", 1883, False, "")
        raise AssertionError("no error")
    except LinkError as e:
        assert e.what == "dns" and e.code == 20
    # TLS without the CA in the modem's file system: an error, never plain TCP
    try:
        await st.open("127.0.0.1", port, True, "ca.crt")
        raise AssertionError("no error")
    except LinkError as e:
        assert e.what == "tls"
    assert sim.sockets.opened == 0
    sim.stop()
    at.stop()


async def test_bg95_binary_round_trip_and_errors():
    from mobiot_fw.cell.vendor.sock_quectel import QuectelSock

    sim = ModemSim("BG95", {"modem": {"model": "BG95", "reg_delay_s": 0}})
    at = At(sim.uart()).start()
    await until(lambda: sim.state == "on" and sim._registered())
    await at.cmd("ATE0")
    await at.cmd("AT+QIACT=1")
    srv, port = await echo_server()
    st = QuectelSock(at)
    await st.open("127.0.0.1", port, False, "")
    await echo(st, bytes((i * 13 + (i >> 7)) & 0xFF for i in range(2000)), 300)
    sends = [ln for _, d, ln in sim.log if d == "<" and ln.startswith("AT+QISEND")]
    assert sends == ["AT+QISEND=0,1460", "AT+QISEND=0,540"], sends
    st.close()
    await until(lambda: not sim.sockets.conns)
    try:
        await st.open("no-such-host.invalid", 1883, False, "")
        raise AssertionError("no error")
    except LinkError as e:
        assert e.what == "dns" and e.code == 565
    try:
        await st.open("127.0.0.1", port, True, "ca.crt")  # no such CA file in the modem
        raise AssertionError("no error")
    except LinkError as e:
        assert e.what == "tls"
    srv.close()
    sim.stop()
    at.stop()


async def test_uplink_session_over_the_modem_to_a_real_tcp_broker():
    from fakebroker import End  # noqa: F401 - the broker module's server side
    import fileblockdev as fb
    import cutblockdev as cb
    from mobiot_fw.store.flashq import Queue
    from mobiot_fw.uplink.session import Uplink

    sim, at = await modem()
    broker = Broker()
    srv, port = await broker.serve_tcp()
    fb.mount(cb.CutBlockDev(64), "/ts", mkfs=True)
    q = Queue("/ts/q", max_records=500, max_bytes=64 * 1024, seg_records=8, seg_bytes=2048, log_max=256)
    buf = bytearray(300)
    for _ in range(6):
        seq = q.next_seq()
        end = proto.encode_record(buf, 0, DEV, 1, seq, 1764146800 + seq, "utc", "reading", (("temp", 21.5),))
        q.append(seq, memoryview(buf)[:end])
    cfg = {"enabled": True, "host": "127.0.0.1", "port": port, "tls": False, "ca": "", "user": "", "password": "",
           "keepalive_s": 60, "clean": False, "encoding": "json", "batch": 2, "batch_wait_s": 5, "max_bytes": 1024,
           "window": 4, "resend_s": 300, "backoff_s": 1, "backoff_max_s": 10, "transport": "modem"}
    st = SimcomCA(at)
    events = []

    def dispatch(line, link):
        verb, args = proto.parse_command(line)
        if verb == "ack":
            q.ack_ranges(proto.iter_ack_ranges(args))

    up = Uplink(q, cfg, DEV, lambda: st, dispatch, lambda n, *p: events.append(n))
    task = asyncio.create_task(up.run())
    topic = "mobiot/%s/up" % DEV
    await until(lambda: len(broker.payloads(topic)) == 3)
    got = [r["seq"] for p in broker.payloads(topic) for r in json.loads(p)]
    assert got == [1, 2, 3, 4, 5, 6]
    broker.send_down("mobiot-" + DEV, "mobiot/%s/down" % DEV, proto.encode_command("ack", "1-6").encode())
    await until(lambda: q.depth == 0)
    # the modem resets: its sockets are gone; the uplink reconnects by itself
    sim._power_on(sim.now_s())
    await until(lambda: "uplink_down" in events, 90)
    await until(lambda: sim.state == "on" and sim._registered(), 60)
    await at.cmd("AT+CNACT=0,1")
    await until(lambda: events.count("uplink_up") == 2, 90)
    up.shutdown()
    await asyncio.wait_for(task, 30)
    broker.drop()
    srv.close()
    sim.stop()
    at.stop()
