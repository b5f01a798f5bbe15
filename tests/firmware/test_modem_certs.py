# TLS material into the modem's file system (cell/certs.py and each dialect's put_file) through
# the modem simulator's file commands (sim/sim_sockets.py): the exact bytes arrive under the
# name, with each model's own commands (SIM7080G AT+CFSWFILE, A76XX AT+CCERTDOWN, Quectel
# AT+QFUPL with its checksum checked), and a TLS open writes the CA of the board's secrets.json
# (tls.ca, as provisioning leaves it) into the modem before it configures TLS, once per boot.
# TLS with the installed CA to a real Mosquitto: tests/host/test_uplink_e2e_models.py.
import json

import fileblockdev as fb
from test_uplink_sockets import modem, refused, sent
from mobiot_fw.cell import certs, sockets

PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\x00\r\n>OK\r\n" + bytes(range(256)) + b"\n-----END CERTIFICATE-----\n"
_mounted = []


def secrets(**tls):
    if not _mounted:
        fb.mount(fb.CutBlockDev(64), "/sec", mkfs=True)
        _mounted.append(1)
    certs.SECRETS = "/sec/secrets.json"
    with open(certs.SECRETS, "w") as f:
        json.dump({"mqtt": {"username": "u"}, "tls": tls}, f)


def xor16(data):
    # the Quectel FILE Application Note's checksum, computed here on its own: 16-bit big-endian
    # words XORed, an odd last byte padded with a zero low byte
    b = bytes(data) + (b"\x00" if len(data) % 2 else b"")
    x = 0
    for i in range(0, len(b), 2):
        x ^= b[i] * 256 + b[i + 1]
    return x


def test_qfupl_checksum():
    from mobiot_fw.cell.vendor.sock_quectel import qfupl_sum

    for d in (b"", b"A", b"AB", b"ABC", PEM, bytes(range(255))):
        assert qfupl_sum(d) == xor16(d), d
    assert qfupl_sum(b"\x12\x34\x56\x78") == 0x1234 ^ 0x5678


async def test_sim7080g_cfswfile():
    sim, at = await modem("SIM7080G", "AT+CNACT=0,1")
    st = sockets.stream(at, "SIM7080G")
    await st.put_file("ca.crt", PEM)
    assert sim.sockets.fs["ca.crt"] == PEM
    cmds = [ln for _, d, ln in sim.log if d == "<" and ln.startswith("AT+CFS")]
    assert cmds == ["AT+CFSINIT", 'AT+CFSDFILE=3,"ca.crt"', 'AT+CFSWFILE=3,"ca.crt",0,%d,10000' % len(PEM),
                    "AT+CFSTERM"], cmds
    # again: the old file is deleted first, the new bytes replace it whole
    await st.put_file("ca.crt", b"short")
    assert sim.sockets.fs["ca.crt"] == b"short"
    # AT+CSSLCFG="CONVERT" now finds it in the modem (no scenario files at all)
    await at.cmd('AT+CSSLCFG="CONVERT",2,"ca.crt"')
    sim.stop()
    at.stop()


async def test_a7670_ccertdown():
    sim, at = await modem("A7670", "AT+CGACT=1,1")
    st = sockets.stream(at, "A7670")
    await st.put_file("ca.pem", PEM)
    assert sim.sockets.fs["ca.pem"] == PEM
    assert sent(sim, "AT+CCERTDOWN") == ['AT+CCERTDOWN="ca.pem",%d' % len(PEM)]
    lines, _ = await at.cmd("AT+CCERTLIST")
    assert lines == ['+CCERTLIST: "ca.pem"']
    await at.cmd('AT+CSSLCFG="cacert",0,"ca.pem"')  # the module knows the file now
    try:
        await st.put_file("ca.crt", PEM)  # the A76XX takes only .pem / .der names
        raise AssertionError("accepted")
    except OSError:
        pass
    sim.stop()
    at.stop()


async def test_quectel_qfupl_checks_the_checksum():
    for model, act in (("BG95", "AT+QIACT=1"), ("EC200U", "AT+QIACT=1")):
        sim, at = await modem(model, act)
        st = sockets.stream(at, model)
        await st.put_file("ca.pem", PEM)
        assert sim.sockets.fs["ca.pem"] == PEM
        assert sent(sim, "AT+QFUPL") == ['AT+QFUPL="UFS:ca.pem",%d,30' % len(PEM)]
        await st.put_file("ca.pem", PEM + b"x")  # AT+QFDEL first, else the upload is refused
        assert sim.sockets.fs["ca.pem"] == PEM + b"x"
        sim.stop()
        at.stop()
    # a modem that got other bytes (its checksum differs): an error, not a silent bad CA
    sim, at = await modem("BG95", "AT+QIACT=1", responses={})
    import sim_sockets

    real = sim_sockets.qfupl_sum
    sim_sockets.qfupl_sum = lambda d: real(d) ^ 1
    st = sockets.stream(at, "BG95")
    try:
        await st.put_file("ca.pem", PEM)
        raise AssertionError("a wrong checksum was accepted")
    except OSError:
        pass
    finally:
        sim_sockets.qfupl_sum = real
    sim.stop()
    at.stop()


async def test_tls_open_installs_the_secrets_ca_once_per_boot():
    text = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n" + "QUJD" * 40 + "\n-----END CERTIFICATE-----\n"
    secrets(ca=text)
    data = text.encode()
    certs.forget()
    sim, at = await modem("A7670", "AT+CGACT=1,1")
    st = sockets.stream(at, "A7670")
    # no server listens: the open fails, but the CA went into the module before AT+CSSLCFG
    await refused(st.open("127.0.0.1", 1, True, "ca.pem"))
    assert sim.sockets.fs["ca.pem"] == data
    order = [ln for _, d, ln in sim.log if d == "<" and (ln.startswith("AT+CCERTDOWN") or ln.startswith("AT+CSSLCFG"))]
    assert order[0].startswith("AT+CCERTDOWN") and order[1].startswith("AT+CSSLCFG"), order
    await refused(st.open("127.0.0.1", 1, True, "ca.pem"))
    assert len(sent(sim, "AT+CCERTDOWN")) == 1  # once per boot
    # a CA larger than the modems take: a tls error, no connection without TLS
    certs.forget()
    secrets(ca="x" * (certs.MAX_BYTES + 1))
    e = await refused(st.open("127.0.0.1", 1, True, "big.pem"))
    assert e.what == "tls" and sim.sockets.opened == 0 and "big.pem" not in sim.sockets.fs
    # no tls secret: nothing written, the modem's own file is used (here: none -> tls error)
    certs.forget()
    secrets()
    e = await refused(st.open("127.0.0.1", 1, True, "other.pem"))
    assert e.what == "tls" and len(sent(sim, "AT+CCERTDOWN")) == 1
    sim.stop()
    at.stop()
