# mobiot_fw.cell.parse: 3GPP TS 27.007 responses, classification, URCs, timers. Runs under the
# MicroPython unix port (tests/firmware/run.py). Expected values are computed here from the
# spec formulas, never copied from the parser's output.
from mobiot_fw.cell import parse as c


def close(a, b, tol=0.01):
    return a is not None and abs(a - b) <= tol


# --- +CSQ (TS 27.007 8.5) ---------------------------------------------------------------------


def csq_dbm(n):
    # 8.5: 0 -> -113 dBm or less, 1 -> -111, 2..30 -> -109..-53 in 2 dB steps, 31 -> -51 or more
    if n == 0:
        return -113
    if n == 1:
        return -111
    if n == 31:
        return -51
    return -109 + (n - 2) * 2


def test_csq_all_indices():
    for n in range(32):
        v, e = c.parse_response("AT+CSQ", ["+CSQ: %d,99" % n, "OK"])
        assert e == [], e
        assert v == {"rssi": csq_dbm(n)}, (n, v)


def test_csq_unknown_is_omitted():
    v, e = c.parse_response("AT+CSQ", ["+CSQ: 99,99"])
    assert v == {} and e == []


def test_csq_garbled_goes_to_errors():
    v, e = c.parse_response("AT+CSQ", ["+CSQ: 4x,99"])
    assert v == {} and len(e) == 1 and "CSQ" in e[0]
    v, e = c.parse_response("AT+CSQ", ["+CSQ: 45,99"])
    assert "rssi" not in v and len(e) == 1
    v, e = c.parse_response("AT+CSQ", ["+CSQ: 20,9"])
    assert v == {"rssi": csq_dbm(20)} and len(e) == 1  # ber 9 is not 0..7/99


# --- +CESQ (TS 27.007 8.69, TS 36.133 9.1.4/9.1.7, TS 45.008 8.1.4) ------------------------


def test_cesq_lte():
    # rsrq index 20: -20 + 20/2 = -10 dB; rsrp index 50: -141 + 50 = -91 dBm
    v, e = c.parse_response("AT+CESQ", ["+CESQ: 99,99,255,255,20,50"])
    assert e == [], e
    assert close(v["rsrq"], -10.0) and v["rsrp"] == -91 and "rssi" not in v


def test_cesq_range_ends_and_gsm():
    # rsrq 34 -> -3 dB (>= -3), rsrq 1 -> -19.5; rsrp 97 -> -44, rsrp 0 -> -141 (< -140)
    v, e = c.parse_response("AT+CESQ", ["+CESQ: 99,99,255,255,34,97"])
    assert close(v["rsrq"], -3.0) and v["rsrp"] == -44
    v, e = c.parse_response("AT+CESQ", ["+CESQ: 99,99,255,255,1,0"])
    assert close(v["rsrq"], -19.5) and v["rsrp"] == -141
    # GSM rxlev 40: -110 + (40 - 1) = -71 dBm lower bound of the 1 dB bin -> -111 + 40
    v, e = c.parse_response("AT+CESQ", ["+CESQ: 40,0,255,255,255,255"])
    assert v == {"rssi": -111 + 40}, v


def test_cesq_all_unknown_and_bad():
    v, e = c.parse_response("AT+CESQ", ["+CESQ: 99,99,255,255,255,255"])
    assert v == {} and e == []
    v, e = c.parse_response("AT+CESQ", ["+CESQ: 99,99,255,255,35,50"])
    assert "rsrq" not in v and v["rsrp"] == -91 and len(e) == 1
    v, e = c.parse_response("AT+CESQ", ["+CESQ: 1,2"])
    assert v == {} and len(e) == 1


# --- registration (TS 27.007 10.1.22 / 10.1.20 / 7.2) --------------------------------------


def test_cereg_read_full_with_psm_timers():
    line = '+CEREG: 4,1,"1A2B","01A2B3C4",7,,,"00100100","01000111"'
    v, e = c.parse_response("AT+CEREG?", [line, "OK"])
    assert e == [], e
    # Active-Time "00100100": GPRS Timer 2 unit 001 = 1 min, value 00100 = 4 -> 240 s
    # Periodic-TAU "01000111": GPRS Timer 3 unit 010 = 10 h, value 00111 = 7 -> 70 h
    assert v == {
        "reg": "home",
        "tac": 0x1A2B,
        "cell": 0x01A2B3C4,
        "rat": "LTE",
        "t3324_s": 4 * 60,
        "t3412_s": 7 * 10 * 3600,
    }, v


def test_cereg_stat_names():
    names = ("not_registered", "home", "searching", "denied", "unknown", "roaming")
    for stat in range(6):
        v, e = c.parse_response("AT+CEREG?", ["+CEREG: 0,%d" % stat])
        assert v == {"reg": names[stat]} and e == []
    # 6/7 SMS only home/roaming, 9/10 CSFB not preferred home/roaming
    for stat, reg in ((6, "home"), (7, "roaming"), (9, "home"), (10, "roaming")):
        v, e = c.parse_response("AT+CREG?", ["+CREG: 0,%d" % stat])
        assert v["reg"] == reg, (stat, v)


def test_cereg_rat_from_act():
    # TS 27.007 7.3 for a modem of no known model; Quectel's eMTC 8 only with its model
    for act, rat in ((0, "GSM"), (7, "LTE"), (8, "EC-GSM-IoT"), (9, "NB-IoT")):
        v, e = c.parse_response("AT+CEREG?", ['+CEREG: 2,5,"00FF","0000AB12",%d' % act])
        assert v["rat"] == rat and v["reg"] == "roaming" and v["tac"] == 255 and v["cell"] == 0xAB12
    v, e = c.parse_response("AT+CEREG?", ['+CEREG: 2,5,"00FF","0000AB12",8'], "BG95-M3")
    assert v["rat"] == "LTE-M"
    # SIM7080 is Cat-M/NB only: its AcT 7 is LTE-M (SIM7080 manual, AT+COPS <AcT>)
    v, e = c.parse_response("AT+CEREG?", ['+CEREG: 2,1,"00FF","0000AB12",7'], "SIMCOM_SIM7080G")
    assert v["rat"] == "LTE-M"


def test_cereg_urc_vs_response_disambiguation():
    # Same text, different meaning: "<n>,<stat>" to AT+CEREG?, "<stat>,..." as a URC.
    assert c.classify("+CEREG: 2,1", "AT+CEREG?") == c.DATA
    assert c.classify("+CEREG: 2,1", "AT+CSQ") == c.URC
    assert c.classify("+CEREG: 2,1", None) == c.URC
    assert c.classify("+CEREG: 2,1", "AT+CEREG=2") == c.URC
    # a URC arriving while AT+CEREG? is pending keeps the URC shape (<stat> then quoted tac)
    assert c.classify('+CEREG: 5,"1A2B","01A2B3C4",9', "AT+CEREG?") == c.URC
    assert c.classify("+CEREG: 1", "AT+CEREG?") == c.URC
    # and parse_response skips such a URC instead of reading stat 5 as <n>
    v, e = c.parse_response("AT+CEREG?", ['+CEREG: 5,"1A2B","01A2B3C4",9', "+CEREG: 2,2"])
    assert v == {"reg": "searching"}, v


def test_cereg_urc_parse():
    name, v = c.parse_urc('+CEREG: 5,"1A2B","01A2B3C4",9')
    assert name == "CEREG"
    assert v == {"reg": "roaming", "tac": 0x1A2B, "cell": 0x01A2B3C4, "rat": "NB-IoT"}, v
    name, v = c.parse_urc("+CEREG: 2")
    assert v == {"reg": "searching"}
    # URC with PSM timers (n=4): Active-Time "00000101" = 5 x 2 s, TAU "00100010" = 2 x 1 h
    name, v = c.parse_urc('+CEREG: 1,"0001","00000010",7,,,"00000101","00100010"')
    assert v["t3324_s"] == 5 * 2 and v["t3412_s"] == 2 * 3600, v


def test_creg_cgreg_lac():
    v, e = c.parse_response("AT+CREG?", ['+CREG: 2,1,"00C3","0010"'])
    assert v == {"reg": "home", "lac": 0xC3, "cell": 0x10}, v
    v, e = c.parse_response("AT+CGREG?", ['+CGREG: 2,5,"1F40","00001234",0'])
    assert v == {"reg": "roaming", "lac": 0x1F40, "cell": 0x1234, "rat": "GSM"}, v
    name, v = c.parse_urc('+CREG: 1,"00C3","0010"')
    assert name == "CREG" and v == {"reg": "home", "lac": 0xC3, "cell": 0x10}


def test_cereg_garbled():
    v, e = c.parse_response("AT+CEREG?", ['+CEREG: 2,1,"XYZ","01A2B3C4",7'])
    assert v["reg"] == "home" and "tac" not in v and len(e) == 1
    v, e = c.parse_response("AT+CEREG?", ["+CEREG: 2,42"])
    assert "reg" not in v and len(e) == 1


# --- operator, addresses, APN ------------------------------------------------------------------


def test_cops():
    v, e = c.parse_response("AT+COPS?", ['+COPS: 0,0,"Telekom.de",7'])
    assert v == {"oper": "Telekom.de", "rat": "LTE"}, v
    v, e = c.parse_response("AT+COPS?", ['+COPS: 0,2,"26201",9'])
    assert v == {"mcc": 262, "mnc": "01", "rat": "NB-IoT"}, v
    v, e = c.parse_response("AT+COPS?", ['+COPS: 1,2,"310410",8'], "BG96")
    assert v == {"mcc": 310, "mnc": "410", "rat": "LTE-M"}, v
    v, e = c.parse_response("AT+COPS?", ["+COPS: 0"])
    assert v == {} and e == []
    v, e = c.parse_response("AT+COPS?", ['+COPS: 0,2,"26A01",7'])
    assert "mcc" not in v and len(e) == 1


def test_cops_test_command_not_decoded():
    v, e = c.parse_response("AT+COPS=?", ['+COPS: (2,"Telekom.de","TDG","26201",7),,(0-4),(0-2)'])
    assert v == {} and e == []


def test_cgpaddr_and_cgdcont():
    v, e = c.parse_response("AT+CGPADDR", ['+CGPADDR: 1,"10.64.12.7"', '+CGPADDR: 2,"0.0.0.0"'])
    assert v == {"ip": "10.64.12.7"} and e == []
    v, e = c.parse_response("AT+CGPADDR=1", ['+CGPADDR: 1,"0.0.0.0"'])
    assert v == {}
    lines = ['+CGDCONT: 1,"IP","iot.1nce.net","0.0.0.0",0,0,0,0', '+CGDCONT: 2,"IPV4V6","ims","",0,0']
    v, e = c.parse_response("AT+CGDCONT?", lines)
    assert v == {"apn": "iot.1nce.net"} and e == []


# --- PSM (TS 27.007 7.38, TS 24.008 10.5.7.3 / 10.5.7.4a) ----------------------------------


def t3(unit_bits, value):
    # GPRS Timer 3 units (24.008 Table 10.5.163a)
    unit_s = {0: 600, 1: 3600, 2: 36000, 3: 2, 4: 30, 5: 60, 6: 320 * 3600}
    return value * unit_s[unit_bits]


def t2(unit_bits, value):
    # GPRS Timer units (24.008 Table 10.5.172): 2 s, 1 min, decihour; others = 1 min
    unit_s = {0: 2, 1: 60, 2: 6 * 60}
    return value * unit_s.get(unit_bits, 60)


def bits8(unit, value):
    s = ""
    v = (unit << 5) | value
    for i in range(7, -1, -1):
        s += "1" if v & (1 << i) else "0"
    return s


def test_gprs_timer3_every_unit():
    for unit in range(7):
        for value in (0, 1, 4, 31):
            assert c.gprs_timer3_s(bits8(unit, value)) == t3(unit, value), (unit, value)
    assert c.gprs_timer3_s("11100101") is None  # 111 = deactivated
    assert c.gprs_timer3_s("0010010") is None  # 7 bits: malformed
    assert c.gprs_timer3_s("00100100") == 4 * 3600  # the brief's example: 4 x 1 h


def test_gprs_timer2_every_unit():
    for unit in range(7):
        for value in (1, 10, 31):
            assert c.gprs_timer2_s(bits8(unit, value)) == t2(unit, value), (unit, value)
    assert c.gprs_timer2_s("11100000") is None


def test_cpsms():
    v, e = c.parse_response("AT+CPSMS?", ['+CPSMS: 1,,,"10100101","00100011"'])
    assert e == [], e
    assert v == {"psm": True, "t3412_s": 5 * 60, "t3324_s": 3 * 60}, v
    v, e = c.parse_response("AT+CPSMS?", ["+CPSMS: 0"])
    assert v == {"psm": False}
    v, e = c.parse_response("AT+CPSMS?", ['+CPSMS: 1,,,"1010","00100011"'])
    assert v == {"psm": True, "t3324_s": 180} and len(e) == 1


# --- eDRX (TS 27.007 7.40/7.41, TS 24.008 10.5.5.32) ----------------------------------------

# Table 10.5.5.32 as printed in the spec (S1 mode), seconds
EDRX_TABLE = (
    5.12,
    10.24,
    20.48,
    40.96,
    61.44,
    81.92,
    102.4,
    122.88,
    143.36,
    163.84,
    327.68,
    655.36,
    1310.72,
    2621.44,
    5242.88,
    10485.76,
)


def bits4(v):
    return "".join("1" if v & (1 << i) else "0" for i in (3, 2, 1, 0))


def test_edrx_values_wb_s1():
    for v in range(14):
        assert close(c.edrx_s(4, bits4(v)), EDRX_TABLE[v]), v
    # 1110 and 1111 are NB-S1 only: WB-S1 reads them as 1101
    assert close(c.edrx_s(4, "1110"), EDRX_TABLE[13])
    assert close(c.edrx_s(4, "1111"), EDRX_TABLE[13])


def test_edrx_values_nb_s1():
    for v in (2, 3, 5, 9, 10, 11, 12, 13, 14, 15):
        assert close(c.edrx_s(5, bits4(v)), EDRX_TABLE[v]), v
    for v in (0, 1, 4, 6, 7, 8):  # "shall be interpreted as 0010" in NB-S1 mode
        assert close(c.edrx_s(5, bits4(v)), EDRX_TABLE[2]), v
    assert c.edrx_s(2, "0101") is None  # GSM eDRX uses another table: not decoded


def test_cedrxs_and_rdp():
    v, e = c.parse_response("AT+CEDRXS?", ['+CEDRXS: 4,"0101"'])
    assert v["edrx"] is True and close(v["edrx_s"], 81.92) and e == []
    v, e = c.parse_response("AT+CEDRXS?", ["OK"])
    assert v == {"edrx": False}
    # PTW 24.008 10.5.5.32: (n+1) x 1.28 s in WB-S1, (n+1) x 2.56 s in NB-S1
    v, e = c.parse_response("AT+CEDRXRDP", ['+CEDRXRDP: 4,"0010","0011","0101"'])
    assert v["edrx"] and close(v["edrx_s"], 40.96) and close(v["ptw_s"], 6 * 1.28), v
    v, e = c.parse_response("AT+CEDRXRDP", ['+CEDRXRDP: 5,"1001","1001","0011"'])
    assert close(v["edrx_s"], 163.84) and close(v["ptw_s"], 4 * 2.56), v
    v, e = c.parse_response("AT+CEDRXRDP", ["+CEDRXRDP: 0"])
    assert v == {"edrx": False}
    name, v = c.parse_urc('+CEDRXP: 4,"0101","0010","0000"')
    assert name == "CEDRXP" and close(v["edrx_s"], 20.48) and close(v["ptw_s"], 1.28)


# --- identity ----------------------------------------------------------------------------------


def test_identity_bare_and_prefixed():
    assert c.parse_response("AT+CGSN", ["866349041749536", "OK"]) == ({"imei": "866349041749536"}, [])
    assert c.parse_response("AT+GSN", ["866349041749536"])[0] == {"imei": "866349041749536"}
    assert c.parse_response("AT+CGSN=1", ['+CGSN: "866349041749536"'])[0] == {"imei": "866349041749536"}
    assert c.parse_response("AT+CIMI", ["262011234567890"])[0] == {"imsi": "262011234567890"}
    assert c.parse_response("AT+CCID", ["89882280666027595366"])[0] == {"iccid": "89882280666027595366"}
    assert c.parse_response("AT+QCCID", ["+QCCID: 8944500102198304826F"])[0] == {
        "iccid": "8944500102198304826"
    }
    assert c.parse_response("AT+CICCID", ["+ICCID: 89860318760225370000"])[0] == {
        "iccid": "89860318760225370000"
    }
    assert c.parse_response("AT+CGMR", ["Revision:1951B17SIM7080"])[0] == {"modem_fw": "1951B17SIM7080"}
    assert c.parse_response("AT+CGMM", ["SIMCOM_SIM7080G"])[0] == {"model": "SIMCOM_SIM7080G"}


def test_identity_garbled():
    v, e = c.parse_response("AT+CGSN", ["86634904174953X"])
    assert v == {} and len(e) == 1
    v, e = c.parse_response("AT+CIMI", ["+CME ERROR: 10"])
    assert v == {} and e == []  # a final is not data


# --- classify / finals / URCs ------------------------------------------------------------------


def test_classify_finals_and_echo():
    for s in ("OK", "SEND OK", "CONNECT", "CONNECT 115200"):
        assert c.classify(s, "AT+X") == c.FINAL_OK, s
    for s in ("ERROR", "+CME ERROR: 10", "+CMS ERROR: 500", "NO CARRIER", "SEND FAIL", "BUSY"):
        assert c.classify(s, "AT+X") == c.FINAL_ERROR, s
    assert c.classify("AT+CSQ", "AT+CSQ") == c.ECHO
    assert c.classify("  AT+CSQ\r", "AT+CSQ") == c.ECHO
    assert c.classify("+CSQ: 20,99", "AT+CSQ") == c.DATA
    assert c.classify("866349041749536", "AT+CGSN") == c.DATA


def test_classify_urcs():
    for s in ("RDY", "SMS Ready", "NORMAL POWER DOWN", "POWERED DOWN", "+APP PDP: 0,ACTIVE"):
        assert c.classify(s, "AT+CSQ") == c.URC, s
    for s in ('*PSUTTZ: 2024,5,1,10,20,30,"+8",0', "+CPSMSTATUS: ENTER PSM", '+QIND: "csq",20,99'):
        assert c.classify(s, "AT+CSQ") == c.URC, s
    for s in ("+CGEV: ME PDN ACT 1", "+QPSMTIMER: 3600,60", "+CPIN: READY"):
        assert c.classify(s, "AT+CSQ") == c.URC, s
    assert c.classify("+CPIN: READY", "AT+CPIN?") == c.DATA
    assert c.classify("+CNSMOD: 7", "AT+CNSMOD?") == c.URC
    assert c.classify("+CNSMOD: 0,7", "AT+CNSMOD?") == c.DATA


def test_parse_urc_events():
    assert c.parse_urc("RDY") == ("RDY", {})
    assert c.parse_urc("+APP PDP: 0,ACTIVE") == ("APP PDP", {"cid": 0, "active": True})
    assert c.parse_urc("+QPSMTIMER: 3600,60") == ("QPSMTIMER", {"t3412_s": 3600, "t3324_s": 60})
    assert c.parse_urc("+CGEV: ME PDN ACT 1") == ("CGEV", {"event": "ME PDN ACT 1"})
    assert c.parse_urc("+CSCON: 1") == ("CSCON", {"connected": True})
    assert c.parse_urc("+CNSMOD: 9") == ("CNSMOD", {"rat": "NB-IoT"})
    assert c.parse_urc("+CSQ: 20,99") is None
    assert c.parse_urc("hello") is None
    assert c.parse_urc('+CEREG: "zz') == ("CEREG", {})


def test_final_error_texts():
    assert c.final_error("+CME ERROR: 10") == "CME 10 (SIM not inserted)"
    assert c.final_error("+CME ERROR: 30") == "CME 30 (no network service)"
    assert c.final_error("+CMS ERROR: 500") == "CMS 500 (unknown error)"
    # verbose results (+CMEE=2) carry the code's own text: shown as that code (field log
    # LilyGo-Modem-Series issue 332: "+CME ERROR: SIM failure" is 13); other texts as they are
    assert c.final_error("+CME ERROR: SIM not inserted") == "CME 10 (SIM not inserted)"
    assert c.final_error("+CME ERROR: SIM failure") == "CME 13 (SIM failure)"
    assert c.final_error("+CME ERROR: unknown error") == "CME unknown error"
    assert c.final_error("+CME ERROR: 999") == "CME 999"
    assert c.final_error("ERROR") == "ERROR"
    assert c.final_error("NO CARRIER") == "NO CARRIER"
    assert c.final_error("OK") is None
    assert c.final_error("+CSQ: 1,2") is None


def test_never_raises_on_garbage():
    junk = [
        "+CSQ:",
        "+CEREG:",
        "+COPS: ,,,",
        '+CGPADDR: "',
        "+CPSI: ,",
        '+QENG: "servingcell"',
        "\x00\xff",
        "",
    ]
    for cmd in ("AT+CSQ", "AT+CEREG?", "AT+COPS?", "AT+CGPADDR", "AT+CPSI?", 'AT+QENG="servingcell"', None):
        v, e = c.parse_response(cmd, junk)
        assert isinstance(v, dict) and isinstance(e, list)
        for m in e:
            assert "\n" not in m
    for s in junk:
        c.parse_urc(s)
        c.classify(s, None)
        c.final_error(s)


def test_parse_allocates_little():
    # The parsers run on a 110 KB heap: one CEREG parse must stay far below 1 KB of garbage.
    import gc

    line = '+CEREG: 4,1,"1A2B","01A2B3C4",7,,,"00100100","01000111"'
    c.parse_response("AT+CEREG?", [line])
    gc.collect()
    before = gc.mem_free()
    gc.disable()
    c.parse_response("AT+CEREG?", [line])
    used = before - gc.mem_free()
    gc.enable()
    assert used < 4096, used
