# TLS material into the modem's file system (cell/certs.py and each dialect's put_file) through
# the modem simulator's file commands (sim/sim_sockets.py): the exact bytes arrive under the
# name, with each model's own commands (SIM7080G AT+CFSWFILE, A76XX AT+CCERTDOWN, Quectel
# AT+QFUPL with its checksum checked), and a TLS open writes the CA of the board's secrets.json
# (tls.ca, as provisioning leaves it) into the modem before it configures TLS, once per boot.
# TLS with the installed CA to a real Mosquitto: tests/host/test_uplink_e2e_models.py.
import json

import fileblockdev as fb

import cutblockdev as cb
from test_uplink_sockets import modem, refused, sent
from mobiot_fw.cell import certs, sockets

PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\x00\r\n>OK\r\n" + bytes(range(256)) + b"\n-----END CERTIFICATE-----\n"
_mounted = []


def secrets(**tls):
    if not _mounted:
        fb.mount(cb.CutBlockDev(64), "/sec", mkfs=True)
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


# ---- mutual TLS: the client certificate and key of secrets.json into the modem -----------------
CA_TEXT = "-----BEGIN CERTIFICATE-----\nQ0FDQQ==\n-----END CERTIFICATE-----\n"
CERT_TEXT = "-----BEGIN CERTIFICATE-----\nQ0VSVA==" + "Q" * 300 + "\n-----END CERTIFICATE-----\n"
KEY_TEXT = "-----BEGIN EC PRIVATE KEY-----\nS0VZ" + "K" * 120 + "\n-----END EC PRIVATE KEY-----\n"
# each model's TLS context commands with a client pair (the manuals cited in cell/vendor/sock_*.py),
# written out here by hand, not taken from the code
MUTUAL = {
    "SIM7080G": ("AT+CNACT=0,1", "ca.crt", ("AT+CSSLCFG", "AT+CASSLCFG"), [
        'AT+CSSLCFG="sslversion",0,3', 'AT+CSSLCFG="convert",2,"ca.crt"', 'AT+CASSLCFG=0,"ssl",1',
        'AT+CASSLCFG=0,"crindex",0', 'AT+CASSLCFG=0,"cacert","ca.crt"', 'AT+CSSLCFG="sni",0,"127.0.0.1"',
        'AT+CSSLCFG="convert",1,"client.pem","clientkey.pem"', 'AT+CASSLCFG=0,"cert","client.pem"'],
        "AT+CFSWFILE", "AT+CAOPEN"),
    "A7670": ("AT+CGACT=1,1", "ca.pem", ("AT+CSSLCFG",), [
        'AT+CSSLCFG="sslversion",0,4', 'AT+CSSLCFG="authmode",0,2', 'AT+CSSLCFG="cacert",0,"ca.pem"',
        'AT+CSSLCFG="enableSNI",0,1', 'AT+CSSLCFG="clientcert",0,"client.pem"',
        'AT+CSSLCFG="clientkey",0,"clientkey.pem"'], "AT+CCERTDOWN", "AT+CCHOPEN"),
    "BG95": ("AT+QIACT=1", "ca.pem", ("AT+QSSLCFG",), [
        'AT+QSSLCFG="sslversion",1,3', 'AT+QSSLCFG="seclevel",1,2', 'AT+QSSLCFG="cacert",1,"ca.pem"',
        'AT+QSSLCFG="sni",1,1', 'AT+QSSLCFG="clientcert",1,"client.pem"',
        'AT+QSSLCFG="clientkey",1,"clientkey.pem"'], "AT+QFUPL", "AT+QSSLOPEN"),
}


async def test_client_cert_and_key_go_into_the_modem_and_the_tls_context():
    for model, (act, ca, heads, want, put, opencmd) in MUTUAL.items():
        certs.forget()
        secrets(ca=CA_TEXT, cert=CERT_TEXT, key=KEY_TEXT)
        sim, at = await modem(model, act)
        st = sockets.stream(at, model)
        await refused(st.open("127.0.0.1", 1, True, ca))  # nobody listens; the setup is what counts
        fs = sim.sockets.fs
        assert fs[ca] == CA_TEXT.encode() and fs["client.pem"] == CERT_TEXT.encode(), model
        assert fs["clientkey.pem"] == KEY_TEXT.encode(), model
        cfg = [ln for _, d, ln in sim.log if d == "<" and any(ln.startswith(h) for h in heads)]
        assert cfg == want, (model, cfg)
        # every file was written before the context names it, and the open comes last
        log = [ln for _, d, ln in sim.log if d == "<"]
        writes = [i for i, ln in enumerate(log) if ln.startswith(put)]
        assert len(writes) == 3 and max(writes) < log.index(want[0]), (model, log)
        assert log.index(want[-1]) < [i for i, ln in enumerate(log) if ln.startswith(opencmd)][0], model
        sim.stop()
        at.stop()


async def test_server_only_tls_names_no_client_cert():
    for model, (act, ca, heads, want, put, opencmd) in MUTUAL.items():
        certs.forget()
        secrets(ca=CA_TEXT)
        sim, at = await modem(model, act)
        st = sockets.stream(at, model)
        await refused(st.open("127.0.0.1", 1, True, ca))
        cfg = [ln for _, d, ln in sim.log if d == "<" and any(ln.startswith(h) for h in heads)]
        assert not [c for c in cfg if "client" in c.lower() or '"CONVERT",1' in c], (model, cfg)
        assert 'AT+CSSLCFG="authmode",0,1' in cfg or 'AT+QSSLCFG="seclevel",1,1' in cfg or model == "SIM7080G"
        assert "client.pem" not in sim.sockets.fs
        sim.stop()
        at.stop()


async def test_half_a_client_pair_is_a_tls_error_never_a_fallback():
    for half in ({"cert": CERT_TEXT}, {"key": KEY_TEXT}):
        for model, (act, ca, heads, want, put, opencmd) in MUTUAL.items():
            certs.forget()
            secrets(ca=CA_TEXT, **half)
            sim, at = await modem(model, act)
            st = sockets.stream(at, model)
            e = await refused(st.open("127.0.0.1", 1, True, ca))
            assert (e.what, e.code) == ("tls", certs.HALF_PAIR), (model, half, e.what, e.code)
            # nothing opened, no TLS context set up without the client certificate
            log = [ln for _, d, ln in sim.log if d == "<"]
            assert not [ln for ln in log if ln.startswith(opencmd) or any(ln.startswith(h) for h in heads)], log
            assert sim.sockets.opened == 0 and "client.pem" not in sim.sockets.fs
            assert "clientkey.pem" not in sim.sockets.fs
            sim.stop()
            at.stop()
    certs.forget()
    secrets(cert=CERT_TEXT)
    try:
        await certs.client(None)
        raise AssertionError("half pair accepted")
    except certs.HalfPair as e:
        assert str(e) == "/sec/secrets.json: tls.cert without tls.key", str(e)
