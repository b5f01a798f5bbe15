"""`mobiot modem decode` on whole logs (tests/data/modem_logs), one per modem family.

The decoding runs in the MicroPython unix port on firmware/mobiot_fw/cell/parse.py; these tests
drive the CLI exactly as a user would and check values decoded by hand from 3GPP TS 27.007 /
TS 24.008 and the vendor manuals (formulas written out below, not copied from the parser).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from mobiot.cli import main

LOGS = Path(__file__).resolve().parents[1] / "data" / "modem_logs"


def run(capsys, *args: str) -> list[dict]:
    rc = main(["modem", "decode", *args])
    out = capsys.readouterr()
    assert rc == 0, out.err
    return [json.loads(line) for line in out.out.splitlines() if line.strip()]


def by_command(objs: list[dict], command: str) -> dict:
    hits = [o for o in objs if o["command"] == command]
    assert len(hits) == 1, (command, [o["command"] for o in objs])
    return hits[0]


def gprs_timer3(bits: str) -> int:
    # TS 24.008 10.5.7.4a: bits 8-6 unit (10 min, 1 h, 10 h, 2 s, 30 s, 1 min, 320 h), 5-1 value
    units = [600, 3600, 36000, 2, 30, 60, 320 * 3600]
    return int(bits[3:], 2) * units[int(bits[:3], 2)]


def gprs_timer2(bits: str) -> int:
    # TS 24.008 10.5.7.3: 2 s, 1 min, decihours (6 min)
    units = [2, 60, 360]
    return int(bits[3:], 2) * units[int(bits[:3], 2)]


def test_every_object_has_the_documented_keys(capsys):
    for log in sorted(LOGS.glob("*.log")):
        for obj in run(capsys, str(log)):
            assert list(obj) == ["command", "values", "urcs", "error", "errors"], log
            assert isinstance(obj["values"], dict) and isinstance(obj["errors"], list)


def test_sim7080g(capsys):
    objs = run(capsys, str(LOGS / "sim7080g.log"))
    # boot URCs before the first command come in a command-less object
    assert objs[0]["command"] is None
    assert [u["name"] for u in objs[0]["urcs"]] == ["RDY", "CFUN", "CPIN", "SMS Ready"]
    assert by_command(objs, "AT+CGMM")["values"] == {"model": "SIMCOM_SIM7080G"}
    assert by_command(objs, "AT+CGMR")["values"] == {"modem_fw": "1951B17SIM7080"}
    assert by_command(objs, "AT+CGSN")["values"] == {"imei": "866349041749536"}
    assert by_command(objs, "AT+CCID")["values"] == {"iccid": "89882280666027595366"}
    assert by_command(objs, "AT+CIMI")["values"] == {"imsi": "901405100012345"}

    cereg = by_command(objs, "AT+CEREG?")
    assert cereg["values"] == {
        "reg": "home",
        "tac": 0x1A2B,
        "cell": 0x01A2B3C4,
        "rat": "LTE-M",  # AcT 7 on a Cat-M/NB-only SIM7080 (model taken from AT+CGMM above)
        "t3324_s": gprs_timer2("00100100"),
        "t3412_s": gprs_timer3("01000111"),
    }
    assert cereg["values"]["t3412_s"] == 70 * 3600
    # the URC after OK is not the read answer: stat 5 = roaming, AcT 9 = NB-IoT
    assert cereg["urcs"][0]["name"] == "CEREG"
    assert cereg["urcs"][0]["values"] == {
        "reg": "roaming",
        "tac": 0x1A2B,
        "cell": 0x01A2B3C4,
        "rat": "NB-IoT",
    }

    cpsi = by_command(objs, "AT+CPSI?")["values"]
    assert cpsi["rat"] == "NB-IoT" and cpsi["band"] == 5 and cpsi["earfcn"] == 2506
    assert (cpsi["mcc"], cpsi["mnc"], cpsi["tac"], cpsi["pci"]) == (460, "11", 0x5AE1, 82)
    # SIM7080 manual AT+CPSI: SINR = 2 * <RSSNR> - 20 (manual example RSSNR 13)
    assert (cpsi["rsrq"], cpsi["rsrp"], cpsi["rssi"], cpsi["sinr"]) == (-7, -115, -110, 2 * 13 - 20)
    assert by_command(objs, "AT+CNSMOD?")["values"] == {"rat": "NB-IoT"}
    act = by_command(objs, "AT+CNACT=0,1")
    assert act["urcs"][0]["values"] == {"cid": 0, "active": True}
    cnact = by_command(objs, "AT+CNACT?")
    assert cnact["values"] == {"ip": "10.94.36.44"}
    assert cnact["urcs"][0]["name"] == "PSUTTZ"
    psm = by_command(objs, "AT+CPSMS?")["values"]
    assert psm == {"psm": True, "t3412_s": gprs_timer3("10100101"), "t3324_s": gprs_timer2("00100011")}
    assert psm["t3412_s"] == 5 * 60 and psm["t3324_s"] == 3 * 60
    # NB-S1 eDRX "1001" = 163.84 s (Table 10.5.5.32), PTW "0011" = (3+1) x 2.56 s
    edrx = by_command(objs, "AT+CEDRXRDP")["values"]
    assert edrx["edrx"] is True
    assert edrx["edrx_s"] == pytest.approx(163.84) and edrx["ptw_s"] == pytest.approx(4 * 2.56)
    assert by_command(objs, "AT+CPSMSTATUS=1")["urcs"][0]["name"] == "CPSMSTATUS"
    assert by_command(objs, "AT+CSQ")["values"] == {}  # 99 = unknown: omitted, not reported
    assert by_command(objs, "AT+CGDCONT?")["error"] == "CME 3 (operation not allowed)"


def test_sim7000g_crlf_log(capsys):
    objs = run(capsys, str(LOGS / "sim7000g.log"))
    assert by_command(objs, "AT+CSQ")["values"] == {"rssi": -113 + 2 * 17}
    cpsi = by_command(objs, "AT+CPSI?")
    assert cpsi["values"]["rat"] == "LTE-M" and cpsi["values"]["rsrp"] == -112
    assert cpsi["urcs"][0]["values"]["reg"] == "home"
    assert by_command(objs, "AT+COPS?")["values"] == {"oper": "AT&T", "rat": "LTE-M"}
    assert by_command(objs, "AT+CGNAPN")["values"] == {"apn": "m2m.com.attz"}
    assert by_command(objs, "AT+CNACT?")["values"] == {"ip": "100.68.7.9"}
    # WB-S1 eDRX "0101" = 81.92 s
    assert by_command(objs, "AT+CEDRXS?")["values"] == {"edrx": True, "edrx_s": pytest.approx(81.92)}
    pin = by_command(objs, "AT+CPIN?")
    assert pin["error"] == "CME 10 (SIM not inserted)"
    assert pin["urcs"][0]["name"] == "NORMAL POWER DOWN"


def test_a7670e_timestamped_log(capsys):
    objs = run(capsys, str(LOGS / "a7670e.log"))
    assert by_command(objs, "ATI")["values"] == {
        "model": "A7670E-LASE",
        "modem_fw": "A7670M7_V1.11.1",
        "imei": "866349041749536",
    }
    assert by_command(objs, "AT+CICCID")["values"] == {"iccid": "89860318760225370000"}
    cpsi = by_command(objs, "AT+CPSI?")["values"]
    # A76XX reports tenths: -1143 -> -114.3 dBm, -147 -> -14.7 dB, -764 -> -76.4 dBm
    assert cpsi["rsrp"] == pytest.approx(-114.3) and cpsi["rsrq"] == pytest.approx(-14.7)
    assert cpsi["rssi"] == pytest.approx(-76.4) and cpsi["rat"] == "LTE" and cpsi["band"] == 3
    assert by_command(objs, "AT+CNSMOD?")["values"] == {"rat": "LTE"}  # A76XX: 8 = LTE
    # a compound line: one object per answer
    for part in ("AT+CREG?", "AT+CGREG?"):
        assert by_command(objs, part)["values"] == {"reg": "home", "lac": 0xC3, "cell": 0x10, "rat": "LTE"}
    assert by_command(objs, "AT+CGPADDR=1")["values"] == {"ip": "10.64.12.7"}
    # CESQ rsrq 20 -> -20 + 20/2 = -10 dB, rsrp 50 -> -141 + 50 = -91 dBm
    assert by_command(objs, "AT+CESQ")["values"] == {"rsrq": -10.0, "rsrp": -91}
    bad = by_command(objs, "AT+CSQ")
    assert bad["values"] == {} and len(bad["errors"]) == 1 and bad["error"] is None


def test_bg95_echo_and_prompts(capsys):
    objs = run(capsys, str(LOGS / "bg95.log"))
    boot = objs[0]
    assert boot["command"] is None
    assert [u["name"] for u in boot["urcs"]] == ["RDY", "APP RDY", "CPIN", "QUSIM", "QIND"]
    # echoed commands (ATE1) are not decoded twice
    assert [o["command"] for o in objs[1:4]] == ["ATE1", "ATI", "AT+QCCID"]
    assert by_command(objs, "ATI")["values"] == {"model": "BG95-M3", "modem_fw": "BG95M3LAR02A03"}
    assert by_command(objs, "AT+QCCID")["values"] == {"iccid": "8944500102198304826"}
    cops = by_command(objs, "AT+COPS?")
    assert cops["values"] == {"mcc": 247, "mnc": "01", "rat": "LTE-M"}
    assert cops["urcs"][0]["values"] == {"reg": "home", "tac": 0x5003, "cell": 0xB0DD811, "rat": "LTE-M"}
    assert by_command(objs, "AT+QNWINFO")["values"] == {
        "rat": "LTE-M",
        "mcc": 247,
        "mnc": "01",
        "band": 20,
        "earfcn": 6300,
    }
    qcsq = by_command(objs, "AT+QCSQ")["values"]
    assert qcsq["sinr"] == pytest.approx(111 / 5 - 20)  # 1/5 dB steps from -20 dB
    assert (qcsq["rssi"], qcsq["rsrp"], qcsq["rsrq"]) == (-62, -87, -12)
    qeng = by_command(objs, 'AT+QENG="servingcell"')["values"]
    assert qeng["cell"] == 0xB0DD811 and qeng["tac"] == 0x5003 and qeng["pci"] == 152
    assert qeng["sinr"] == 11  # BG95 +QENG SINR is already dB
    qiact = by_command(objs, "AT+QIACT?")
    assert qiact["values"] == {"ip": "10.225.154.84"}
    assert qiact["urcs"][0]["values"] == {"t3412_s": 3600, "t3324_s": 60}
    assert by_command(objs, "AT+CPSMS?")["values"] == {
        "psm": True,
        "t3412_s": gprs_timer3("00100001"),
        "t3324_s": gprs_timer2("00000011"),
    }
    last = by_command(objs, "AT+QICSGP=1")
    assert last["error"] == "CME 50 (incorrect parameters)"
    assert [u["name"] for u in last["urcs"]] == ["CGEV", "POWERED DOWN"]


def test_model_option_changes_vendor_decoding(tmp_path, capsys):
    log = tmp_path / "m.log"
    log.write_text(
        'AT+QENG="servingcell"\n+QENG: "servingcell","NOCONN","eMTC","FDD",262,01,1A2D001,'
        "33,6290,20,3,3,D5A1,-101,-9,-80,160,20\nOK\n"
    )
    # no model in the log: a Quectel LTE line whose <SINR> scale is unknown is reported raw
    assert run(capsys, str(log))[0]["values"]["sinr_raw"] == 160
    assert run(capsys, "--model", "BG95", str(log))[0]["values"]["sinr"] == 160  # BG95: dB
    # BG96 reports SINR in 1/5 dB: 160 / 5 - 20 = 12 dB
    assert run(capsys, "--model", "BG96", str(log))[0]["values"]["sinr"] == pytest.approx(12.0)


def test_stdin_and_truncated_log(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("AT+CSQ\r\n+CSQ: 31,0\r\n"))
    objs = run(capsys, "-")
    assert objs[0]["values"] == {"rssi": -51, "ber": 0}  # <ber> 0: RXQUAL 0 (TS 45.008 8.2.4)
    assert objs[0]["error"] is None and any("no final result" in e for e in objs[0]["errors"])


def test_missing_file_is_one_line_error(capsys):
    rc = main(["modem", "decode", "/nonexistent/modem.log"])
    err = capsys.readouterr().err
    assert rc == 1
    assert err.count("\n") == 1 and "/nonexistent/modem.log" in err


def test_runs_in_micropython_not_cpython(monkeypatch, tmp_path, capsys):
    # The decoder is the MicroPython port running the firmware parsers: point MICROPYTHON at a
    # fake interpreter and the command must use it (and fail cleanly when it is broken).
    fake = tmp_path / "micropython"
    fake.write_text(
        '#!/bin/sh\necho \'{"command": "AT+FAKE", "values": {}, "urcs": [], "error": null, "errors": []}\'\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("MICROPYTHON", str(fake))
    objs = run(capsys, str(LOGS / "bg95.log"))
    assert [o["command"] for o in objs] == ["AT+FAKE"]
    monkeypatch.setenv("MICROPYTHON", str(tmp_path / "missing"))
    rc = main(["modem", "decode", str(LOGS / "bg95.log")])
    assert rc == 1 and "MICROPYTHON" in capsys.readouterr().err


# --- field logs (tests/data/modem_logs/field/SOURCES.md cites each) ----------------------------

FIELD = LOGS / "field"


def test_field_compound_line_one_object_per_answer(capsys):
    # botletics SIM7000-LTE-Shield issue 129: six read commands on one line, one final OK
    objs = run(capsys, "--model", "SIM7000G", str(FIELD / "sim7000-botletics-129.log"))
    first = [o["command"] for o in objs[:6]]
    assert first == ["AT+CNMP?", "AT+CFUN?", "AT+CREG?", "AT+CMNB?", "AT+COPS?", "AT+CPSI?"], objs
    assert objs[2]["values"] == {"reg": "roaming", "lac": 0xE2D1, "cell": 0x22DE, "rat": "GSM"}
    assert objs[4]["values"] == {"mcc": 262, "mnc": "03", "rat": "GSM"}  # numeric +COPS
    assert objs[5]["values"]["rssi"] == -88 and objs[5]["values"]["cell"] == 8926
    assert all(o["errors"] == [] for o in objs), objs
    # the +COPS=? test answer that follows is not decoded
    assert objs[6]["command"] == "AT+COPS=?" and objs[6]["values"] == {}


def test_field_set_and_read_parts_and_answers_out_of_order(capsys):
    for name in ("dw5811e-3ginfo-lite-37.log", "ec200a-3ginfo-lite-135.log"):
        objs = run(capsys, str(FIELD / name))
        cmds = [o["command"] for o in objs]
        assert cmds == ["AT+CPIN?", "AT+CSQ", "AT+COPS?", "AT+COPS?", "AT+CREG?"], (name, cmds)
        assert "oper" in objs[2]["values"] and "mcc" in objs[3]["values"], objs
        assert objs[4]["values"]["reg"] == "home" and objs[4]["values"]["rat"] == "LTE"
        assert objs[4]["urcs"] == [], objs  # the +CREG read answer is not taken for a URC


def test_field_arduino_serial_monitor_log(capsys):
    # LilyGO-T-SIM7000G issue 145: Arduino IDE timestamps and "->", echoes, blank lines
    objs = run(capsys, str(FIELD / "sim7000g-lilygo-t-sim7000g-145.log"))
    cmds = [o["command"] for o in objs]
    assert cmds[:3] == ["AT", "ATE0", "AT+CMEE=0"] and cmds[-1] == "AT+CMNB=2", cmds
    assert by_command(objs, "AT+GMM")["values"] == {"model": "SIMCOM_SIM7000G"}
    assert by_command(objs, "ATI")["values"] == {"model": "SIM7000G", "modem_fw": "R1529"}
    assert all(o["errors"] == [] and o["urcs"] == [] for o in objs), objs


def test_field_zephyr_modem_chat_logs(capsys):
    # Zephyr modem_cellular: "sending: <command>", matched lines logged with their arguments
    # space-separated ("+CEREG:  1 1" is "+CEREG: 1,1"), other log lines ignored
    objs = run(capsys, str(FIELD / "bg9x-zephyr-98812.log"))
    assert [(o["command"], o["values"]) for o in objs] == [
        ("AT+CEREG?", {"reg": "home"}),
        ("AT+CGREG?", {"reg": "home"}),
    ], objs
    objs = run(capsys, str(FIELD / "sara-r4-zephyr-81678.log"))
    assert [o["command"] for o in objs[1:]] == ["ATE0", "AT+CFUN=4", "AT+CMEE=1"], objs
    assert all(o["errors"] == [] for o in objs), objs
    objs = run(capsys, str(FIELD / "bg95-zephyr-88686.log"))
    assert [(o["command"], o["values"], o["errors"]) for o in objs] == [("AT+CSQ", {}, [])], objs


def test_field_a7670_logs(capsys):
    # LilyGo-Modem-Series issue 294: AT+SIMCOMATI is ATI's answer; lower-case commands; the
    # post leaves out most OKs
    objs = run(capsys, str(FIELD / "a7670e-lilygo-modem-series-294.log"))
    assert [u["name"] for u in objs[0]["urcs"]] == ["ATREADY", "CPIN", "CGEV"]
    assert by_command(objs, "at+cgdcont?")["values"] == {"apn": "online.telia.se.mnc001.mcc240.gprs"}
    assert by_command(objs, "AT+CGPADDR=1")["values"] == {"ip": "10.35.123.95"}
    assert by_command(objs, "AT+SIMCOMATI")["values"] == {
        "model": "A7670E-LNXY-UBL",
        "modem_fw": "23110B01A7670M4A_CUS_UBIA_91530228",
        "imei": "862771076563850",
    }
    assert by_command(objs, "at+netopen")["error"] == "ERROR"
    # issue 332: verbose +CME ERROR results, STK URCs, the SIM coming up after two tries
    objs = run(capsys, str(FIELD / "a7670-lilygo-modem-series-332.log"))
    pins = [o for o in objs if o["command"] == "AT+CPIN?"]
    assert [o["error"] for o in pins] == ["CME 13 (SIM failure)"] * 2
    assert [u["name"] for u in pins[1]["urcs"]] == ["MSTK", "CPIN", "MSTK", "MSTK", "SMS DONE"]
    assert pins[1]["urcs"][1]["values"] == {"state": "READY"}


def test_field_sim7000_sinr_from_rssnr(capsys):
    objs = run(capsys, str(FIELD / "sim7000g-lilygo-t-sim7000g-16.log"), "--model", "SIM7000G")
    v = objs[0]["values"]
    # SIM7000 AT Command Manual, AT+CPSI: SINR = 2 * <RSSNR> - 20, RSSNR 10 -> 0 dB
    assert v["sinr"] == 2 * 10 - 20 and v["rat"] == "LTE-M"


def test_field_generic_5g_and_umts_act(capsys):
    objs = run(capsys, str(FIELD / "fm150-3ginfo-lite-pr32.log"))
    assert {o["values"].get("rat") for o in objs if o["command"] in ("AT+COPS?", "AT+CREG?")} == {"EN-DC"}
    objs = run(capsys, "--model", "generic", str(FIELD / "umts-gammu-150.log"))
    assert objs[0]["values"]["rat"] == "UMTS"


def test_field_csq_ber_from_mbed_traces(capsys):
    # Mbed OS traces: the UART bytes with <cr>/<ln> spelled out, one character per line or whole
    # answers; +CSQ: 25,0 -> -113 + 2 x 25 dBm, <ber> 0
    objs = run(capsys, str(FIELD / "ec21-mbed-os-11192.log"))
    assert [o["command"] for o in objs] == ["AT+CSQ", "AT+CEREG?"], objs
    assert objs[0]["values"] == {"rssi": -63, "ber": 0} and objs[0]["errors"] == []
    assert objs[1]["values"] == {"reg": "unknown"}
    objs = run(capsys, str(FIELD / "ec21-mbed-os-12412.log"))
    assert [o["command"] for o in objs] == ["AT+CSQ", "AT+CEREG?", "AT+CGREG?", "AT+COPS?"], objs
    assert objs[0]["values"] == {"rssi": -53} and objs[1]["values"] == {"reg": "not_registered"}
    assert all(o["errors"] == [] and o["urcs"] == [] for o in objs), objs


def test_every_field_log_decodes_without_parser_errors(capsys):
    # errors allowed: only the missing final result codes the posts did not show
    for path in sorted(FIELD.glob("*.log")):
        for obj in run(capsys, str(path)):
            bad = [e for e in obj["errors"] if "no final result" not in e]
            assert bad == [], (path.name, obj)


# --- models: generic, detection, unknown -------------------------------------------------------


def test_generic_model_and_fallback(tmp_path, capsys):
    log = tmp_path / "g.log"
    log.write_text('AT+COPS?\n+COPS: 0,0,"Op",8\nOK\n')
    # TS 27.007 7.3: AcT 8 = EC-GSM-IoT for a generic modem, with --model generic or no model
    assert run(capsys, "--model", "generic", str(log))[0]["values"]["rat"] == "EC-GSM-IoT"
    assert run(capsys, str(log))[0]["values"]["rat"] == "EC-GSM-IoT"
    # Quectel BG95 uses 8 for eMTC: detected from ATI in the log, or given
    log.write_text('ATI\nQuectel\nBG95-M3\nRevision: BG95M3LAR02A03\nOK\nAT+COPS?\n+COPS: 0,0,"Op",8\nOK\n')
    assert run(capsys, str(log))[1]["values"]["rat"] == "LTE-M"
    log.write_text('AT+COPS?\n+COPS: 0,0,"Op",8\nOK\n')
    assert run(capsys, "--model", "BG95-M3", str(log))[0]["values"]["rat"] == "LTE-M"


def test_unknown_model_is_an_error_listing_models(tmp_path, capsys):
    log = tmp_path / "m.log"
    log.write_text("AT\nOK\n")
    rc = main(["modem", "decode", "--model", "FOO123", str(log)])
    err = capsys.readouterr().err
    assert rc != 0 and err.count("\n") == 1 and "FOO123" in err, err
    for name in ("SIM7080G", "SIM7000G", "A7670", "A7670E", "BG95", "BG95-M3", "BG96", "A7680C", "EC200U", "generic"):
        assert name in err, (name, err)


def test_cat1_models_accepted(tmp_path, capsys):
    log = tmp_path / "m.log"
    # cnblogs "learning at commad AT+CPSI" (SIM7600-family answer, A76XX layout and tenths)
    cpsi = "+CPSI: LTE,Online,460-00,0x5140,86233862,50,EUTRAN-BAND38,37900,5,5,-70,-848,-578,17"
    log.write_text("AT+CPSI?\n" + cpsi + "\nOK\n")
    v = run(capsys, "--model", "A7680C", str(log))[0]["values"]
    assert v["rat"] == "LTE" and v["sinr_raw"] == 17 and "sinr" not in v
    assert v["rsrp"] == pytest.approx(-84.8) and v["band"] == 38


def test_binary_file_is_an_error(tmp_path, capsys):
    blob = tmp_path / "fw.bin"
    blob.write_bytes(bytes(range(256)) * 4)
    rc = main(["modem", "decode", str(blob)])
    err = capsys.readouterr().err
    assert rc != 0 and err.count("\n") == 1 and "fw.bin" in err and "binary" in err, err


def test_platformio_time_filter_and_data_prompt(tmp_path, capsys):
    # PlatformIO monitor's time filter prefixes "hh:mm:ss.mmm > " to every line; a bare "> " is
    # the modem's data prompt (AT+CMGS), whose text is not an answer
    log = tmp_path / "pio.log"
    log.write_text('10:52:47.125 > AT+CSQ\n10:52:47.130 > +CSQ: 20,3\n10:52:47.131 > \n10:52:47.132 > OK\n'
                   'AT+CMGS="+4912345"\n> hello\n+CMGS: 42\nOK\n')
    objs = run(capsys, str(log))
    assert objs[0] == {"command": "AT+CSQ", "values": {"rssi": -73, "ber": 3}, "urcs": [], "error": None, "errors": []}
    assert objs[1]["command"] == 'AT+CMGS="+4912345"' and objs[1]["errors"] == [], objs


def test_uart_noise_at_power_up_is_not_a_binary_file(tmp_path, capsys):
    # a real capture often starts with a byte or two of noise as the modem powers up
    log = tmp_path / "boot.log"
    log.write_bytes(b"\x00\xff\r\nRDY\r\n\x00AT+CSQ\r\n+CSQ: 20,99\r\nOK\r\n")
    objs = run(capsys, str(log))
    assert [u["name"] for u in objs[0]["urcs"]] == ["RDY"]
    assert objs[1]["command"] == "AT+CSQ" and objs[1]["values"] == {"rssi": -73}


def test_no_at_traffic_is_an_error(tmp_path, capsys):
    for text in ("", "hello world\nthis is a shopping list\n"):
        log = tmp_path / "empty.log"
        log.write_text(text)
        rc = main(["modem", "decode", str(log)])
        err = capsys.readouterr().err
        assert rc != 0 and "no AT traffic" in err and str(log) in err, err
    rc = main(["modem", "decode", "/dev/null"])
    err = capsys.readouterr().err
    assert rc != 0 and "no AT traffic" in err and "not found" not in err, err
