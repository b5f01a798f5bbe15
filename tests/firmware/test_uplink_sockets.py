# The socket dialects of the Cat 1 models and of old SIM7000G firmware (cell/vendor/sock_a76xx.py,
# sock_simcom.py SimcomCIP / SimcomAuto, sock_quectel.py on EC200U) over the modem simulator's
# socket commands (sim/sim_sockets.py), which open REAL TCP connections on loopback: binary data
# both ways with CR, LF, NUL and '>' in it, segmenting at 1460 bytes, errors as LinkError, TLS
# refused without a CA (never plain TCP), and the per-model choice of cell/sockets.py. Real time
# with long deadlines: real sockets cannot run in virtual time. TLS to Mosquitto with the right
# and a wrong CA: tests/host/test_uplink_e2e.py.
import asyncio

from test_uplink_sim7080 import echo, echo_server, modem, until
from mobiot_fw.cell import sockets
from mobiot_fw.uplink.mqtt import LinkError


def data(n, k):
    return bytes((i * k + (i >> 8)) & 0xFF for i in range(n))


def sent(sim, head):
    return [ln for _, d, ln in sim.log if d == "<" and ln.startswith(head)]


async def refused(coro):
    try:
        await coro
    except LinkError as e:
        return e
    raise AssertionError("no LinkError")


def done(sim, at, *servers):
    for s in servers:
        s.close()
    sim.stop()
    at.stop()


async def test_a7670_tcp_round_trip_and_close():
    sim, at = await modem("A7670", "AT+CGACT=1,1")
    srv, port = await echo_server()
    st = sockets.stream(at, "A7670")
    assert st.NAME == "a76xx"
    await st.open("127.0.0.1", port, False, "")
    await echo(st, data(3000, 7), 700)
    assert sent(sim, "AT+CIPSEND") == ["AT+CIPSEND=0,1460", "AT+CIPSEND=0,1460", "AT+CIPSEND=0,80"]
    assert sent(sim, "AT+CIPRXGET=1") and sent(sim, "AT+NETOPEN")
    assert sent(sim, "AT+CIPRXGET=2,0,1460")  # manual receive: the data waited in the modem
    # a second open on the same modem: the socket service is already up, no second AT+NETOPEN
    st.close()
    await until(lambda: not sim.sockets.conns)
    await st.open("127.0.0.1", port, False, "")
    assert sent(sim, "AT+NETOPEN") == ["AT+NETOPEN?", "AT+NETOPEN", "AT+NETOPEN?"], sent(sim, "AT+NETOPEN")
    await echo(st, b"\r\n>\x00OK\r\n", 64)
    st.close()
    await until(lambda: not sim.sockets.conns)
    done(sim, at, srv)


async def test_a7680c_peer_close_ends_the_stream():
    # the server closes: +IPCLOSE: 0,1, and read_into returns 0 (the MQTT client's end of stream)
    sim, at = await modem("A7680C", "AT+CGACT=1,1")

    async def bye(r, w):
        w.write(b"bye")
        await w.drain()
        w.close()
        await w.wait_closed()  # MicroPython's asyncio closes the socket here

    port = 0
    srv = None
    for p in range(23000, 23100):
        try:
            srv = await asyncio.start_server(bye, "127.0.0.1", p)
            port = p
            break
        except OSError:
            pass
    st = sockets.stream(at, "A7680C")
    await st.open("127.0.0.1", port, False, "")
    buf = bytearray(16)
    got = bytearray()
    while True:
        n = await asyncio.wait_for(st.read_into(memoryview(buf)), 30)
        if not n:
            break
        got.extend(buf[:n])
    assert bytes(got) == b"bye" and st.closed
    assert any(ln.startswith("+IPCLOSE: 0,") for _, d, ln in sim.log if d == ">")
    done(sim, at, srv)


async def test_a7670_open_errors():
    sim, at = await modem("A7670", "AT+CGACT=1,1")
    srv, port = await echo_server()
    srv.close()
    await srv.wait_closed()
    st = sockets.stream(at, "A7670")
    e = await refused(st.open("no-such-host.invalid", 1883, False, ""))
    assert (e.what, e.code) == ("dns", 11)
    e = await refused(st.open("127.0.0.1", port, False, ""))
    assert e.what == "connect" and e.code == 12
    # TLS with a CA the module does not have: AT+CSSLCFG="cacert" fails -> tls, nothing opened
    e = await refused(st.open("127.0.0.1", port, True, "ca.pem"))
    assert e.what == "tls"
    assert not sent(sim, "AT+CCHOPEN") and not sent(sim, "AT+CIPOPEN=0,\"TCP\",\"127.0.0.1\",%d" % port)[1:]
    assert sim.sockets.opened == 0
    done(sim, at)


async def test_a7670_without_bearer_is_a_network_error():
    sim, at = await modem("A7670", None)  # no AT+CGACT: AT+NETOPEN reports failure
    st = sockets.stream(at, "A7670")
    e = await refused(st.open("127.0.0.1", 1883, False, ""))
    assert e.what == "network"
    done(sim, at)


async def test_sim7000g_old_firmware_uses_the_cip_stack():
    # no CA* commands (scenario ca_stack false): AT+CAOPEN=? is ERROR -> CIPSTART stack
    sim, at = await modem("SIM7000G", 'AT+CNACT=1,"internet"')
    srv, port = await echo_server()
    st = sockets.stream(at, "SIM7000G", "internet")
    await st.open("127.0.0.1", port, False, "")
    assert st.NAME == "simcom-cip"
    assert sent(sim, "AT+CAOPEN") == ["AT+CAOPEN=?"]
    assert sent(sim, 'AT+CSTT="internet"') and sent(sim, "AT+CIICR") and sent(sim, "AT+CIFSR;E0")
    await echo(st, data(2000, 13), 300)
    assert sent(sim, "AT+CIPSEND=") == ["AT+CIPSEND=1460", "AT+CIPSEND=540"]
    # TLS on this stack: refused, never a plain connection
    st.close()
    await until(lambda: not sim.sockets.conns)
    n = sim.sockets.opened
    e = await refused(st.open("127.0.0.1", port, True, "ca.crt"))
    assert e.what == "tls" and sim.sockets.opened == n
    # reconnect after a close: CIPSHUT brings the stack back to IP INITIAL
    await st.open("127.0.0.1", port, False, "")
    await echo(st, b"again\r\n", 8)
    assert sent(sim, "AT+CAOPEN") == ["AT+CAOPEN=?"]  # asked once
    st.close()
    done(sim, at, srv)


async def test_sim7000g_new_firmware_uses_the_ca_stack():
    sim, at = await modem("SIM7000G", 'AT+CNACT=1,"internet"', ca_stack=True)
    srv, port = await echo_server()
    st = sockets.stream(at, "SIM7000G", "internet")
    await st.open("127.0.0.1", port, False, "")
    assert st.NAME == "simcom-ca"
    await echo(st, data(1500, 3), 500)
    assert not sent(sim, "AT+CIPSTART") and sent(sim, "AT+CASEND=0,1460")
    st.close()
    await until(lambda: not sim.sockets.conns)
    done(sim, at, srv)


async def test_ec200u_uses_the_quectel_dialect():
    sim, at = await modem("EC200U", "AT+QIACT=1")
    srv, port = await echo_server()
    st = sockets.stream(at, "EC200U")
    assert st.NAME == "quectel"
    await st.open("127.0.0.1", port, False, "")
    await echo(st, data(1600, 11), 400)
    assert sent(sim, "AT+QISEND") == ["AT+QISEND=0,1460", "AT+QISEND=0,140"]
    st.close()
    await until(lambda: not sim.sockets.conns)
    e = await refused(st.open("127.0.0.1", port, True, "ca.pem"))  # no CA file in the modem
    assert e.what == "tls"
    done(sim, at, srv)


def test_every_model_has_a_socket_dialect():
    from mobiot_fw.cell import models

    for name in models.names():
        assert sockets.row(name) is not None, name
    assert sockets.row("NOPE") is None


def test_sim_socket_io_takes_eagain_as_not_yet():
    # MicroPython's errno has no EWOULDBLOCK: the simulator named it, and the first EAGAIN (a
    # loaded machine) raised AttributeError and killed its socket task (test_uplink_e2e).
    import errno

    import sim_sockets

    class Busy:
        def __init__(self):
            self.n = 0

        def readinto(self, b):
            raise OSError(errno.EAGAIN)

        def write(self, mv):
            self.n += 1
            if self.n == 1:
                raise OSError(errno.EAGAIN)
            return len(mv)

    s = Busy()
    assert sim_sockets._recv(s) is None
    assert sim_sockets._sendall(s, b"abc") and s.n == 2
