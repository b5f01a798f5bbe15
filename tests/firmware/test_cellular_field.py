# Real modem answers from public issue trackers (tests/data/modem_logs/field/SOURCES.md cites
# each) through the firmware's parsers (mobiot_fw.cell.parse): SIMCom +CPSI SINR, +CSQ <ber>,
# numeric +COPS, compound command lines, TS 27.007 <AcT> values of generic modems, and the
# Cat 1 models' serving-cell answers. Expected values are worked out here from the manuals'
# formulas (quoted in SOURCES.md), never copied from the parser's output.
from mobiot_fw.cell import parse as c
from mobiot_fw.cell.compound import parse_answers

_FIELD = __file__.rpartition("/")[0] + "/../data/modem_logs/field/"


def close(a, b, tol=0.01):
    return a is not None and abs(a - b) <= tol


def log(name):
    # (command, answer lines) pairs of a field log: a line starting with AT (any case) is a
    # command, the lines up to the next command its answer (blank lines dropped)
    out = []
    with open(_FIELD + name) as f:
        for raw in f.read().split("\n"):
            s = raw.strip()
            if not s:
                continue
            if s[:2].upper() == "AT":
                out.append((s, []))
            else:
                out[-1][1].append(s)
    return out


def sinr_simcom(rssnr):
    # SIM7000 / SIM7080 AT Command Manual, AT+CPSI <RSSNR>: SINR = 2 * <RSSNR> - 20 (dB)
    return 2 * rssnr - 20


# --- SIMCom +CPSI SINR --------------------------------------------------------------------------


def test_cpsi_sim7000_rssnr_converted_to_sinr():
    # LilyGO-T-SIM7000G issue 16: ...,-16,-113,-83,10
    cmd, lines = log("sim7000g-lilygo-t-sim7000g-16.log")[0]
    v, e = c.parse_response(cmd, lines, "SIMCOM_SIM7000G")
    assert e == [], e
    assert v["rat"] == "LTE-M" and (v["mcc"], v["mnc"], v["tac"]) == (310, "410", 0x9709)
    assert (v["cell"], v["pci"], v["band"], v["earfcn"]) == (111159055, 393, 12, 5110)
    assert (v["rsrq"], v["rsrp"], v["rssi"]) == (-16, -113, -83)
    assert v["sinr"] == sinr_simcom(10) == 0
    assert "sinr_raw" not in v


def test_cpsi_sim7080_manual_example_sinr():
    line = "+CPSI: LTE NB-IOT,Online,460-11,0x5AE1,187212754,82, EUTRAN-BAND5,2506,0,0,-7,-115,-110,13"
    for model in ("SIMCOM_SIM7080G", "SIM7070G", "SIM7090"):
        v, e = c.parse_response("AT+CPSI?", [line], model)
        assert e == [] and v["sinr"] == sinr_simcom(13) == 6, (model, v)


def test_cpsi_sinr_range_is_the_manuals():
    # "The range of SINR is from -20 to 30": RSSNR 0..25
    head = "+CPSI: LTE CAT-M1,Online,262-01,0x1816,27447555,211,EUTRAN-BAND20,6300,3,3,-9,-90,-70,"
    v, e = c.parse_response("AT+CPSI?", [head + "25"], "SIM7000G")
    assert v["sinr"] == 30 and e == []
    v, e = c.parse_response("AT+CPSI?", [head + "0"], "SIM7000G")
    assert v["sinr"] == -20 and e == []


def test_cpsi_a76xx_rssnr_has_no_documented_scale():
    # A76XX manual gives no conversion for <RSSNR>: reported raw, never as dB
    line = "+CPSI: LTE,Online,505-02,0xCBE8,36519691,101,EUTRAN-BAND3,1800,5,5,-147,-1143,-764,11"
    for model in ("A7670E-LASE", "A7680C"):
        v, e = c.parse_response("AT+CPSI?", [line], model)
        assert e == [] and v["sinr_raw"] == 11 and "sinr" not in v, (model, v)
        assert close(v["rsrp"], -114.3)


# --- +CSQ <ber> ---------------------------------------------------------------------------------


def test_csq_ber_reported_when_known():
    # mbed-os issue 11192 (EC21; its trace, field/ec21-mbed-os-11192.log, splits the line as
    # "+CSQ: 25" + ",0"): +CSQ: 25,0 -> rssi -113 + 2*25 dBm, ber RXQUAL 0
    v, e = c.parse_response("AT+CSQ", ["+CSQ: 25,0", "OK"])
    assert v == {"rssi": -63, "ber": 0} and e == [], (v, e)
    for ber in range(8):
        v, e = c.parse_response("AT+CSQ", ["+CSQ: 14,%d" % ber])
        assert v == {"rssi": -85, "ber": ber} and e == []
    v, e = c.parse_response("AT+CSQ", ["+CSQ: 20,99"])
    assert v == {"rssi": -73} and e == []  # 99 = not known: omitted
    v, e = c.parse_response("AT+CSQ", ["+CSQ: 20,8"])
    assert "ber" not in v and len(e) == 1


# --- numeric +COPS ------------------------------------------------------------------------------


def test_cops_numeric_format():
    v, e = c.parse_response("AT+COPS?", ['+COPS: 0,2,"26203",0'], "SIMCOM_SIM7000G")
    assert v == {"mcc": 262, "mnc": "03", "rat": "GSM"} and e == []
    # 3-digit MNC: 310 410 (AT&T); MNC stays a string
    v, e = c.parse_response("AT+COPS?", ['+COPS: 0,2,"310410",7'])
    assert (v["mcc"], v["mnc"]) == (310, "410")
    # a modem that leaves the numeric operator unquoted
    v, e = c.parse_response("AT+COPS?", ["+COPS: 0,2,46001,7"])
    assert (v["mcc"], v["mnc"]) == (460, "01") and e == []


# --- compound command lines ---------------------------------------------------------------------


def parts(name, model=None):
    cmd, lines = log(name)[0]
    return parse_answers(cmd, lines, model)


def test_compound_read_line_one_answer_each():
    # botletics SIM7000-LTE-Shield issue 129: six read commands, one OK
    got = parts("sim7000-botletics-129.log", "SIMCOM_SIM7000G")
    assert [p[0] for p in got] == ["AT+CNMP?", "AT+CFUN?", "AT+CREG?", "AT+CMNB?", "AT+COPS?", "AT+CPSI?"], got
    d = dict((p[0], p[1]) for p in got)
    assert d["AT+CREG?"] == {"reg": "roaming", "lac": 0xE2D1, "cell": 0x22DE, "rat": "GSM"}
    assert d["AT+COPS?"] == {"mcc": 262, "mnc": "03", "rat": "GSM"}
    assert d["AT+CPSI?"] == {"rat": "GSM", "mcc": 262, "mnc": "03", "lac": 0xE2D1, "cell": 8926, "rssi": -88}
    assert d["AT+CNMP?"] == {} and d["AT+CMNB?"] == {}
    for p in got:
        assert p[2] == [], p


def test_compound_set_and_read_parts():
    # luci-app-3ginfo-lite issue 37: +COPS in both formats and +CREG=2;+CREG? on one line
    got = parts("dw5811e-3ginfo-lite-37.log", "generic")
    assert [p[0] for p in got] == ["AT+CPIN?", "AT+CSQ", "AT+COPS?", "AT+COPS?", "AT+CREG?"], got
    assert got[1][1] == {"rssi": -113 + 2 * 20}
    assert got[2][1] == {"oper": "Orange nju", "rat": "LTE"}
    assert got[3][1] == {"mcc": 260, "mnc": "03", "rat": "LTE"}
    assert got[4][1] == {"reg": "home", "lac": 0xFFFE, "cell": 0x23E3E34, "rat": "LTE"}
    # the +CREG answer is data, not an unsolicited line, while "...;+CREG=2;+CREG?" is pending
    assert c.classify('+CREG: 2,1,"FFFE","23E3E34",7', log("dw5811e-3ginfo-lite-37.log")[0][0]) == c.DATA


def test_compound_answers_in_another_order():
    # luci-app-3ginfo-lite issue 135 (EC200A): the same line, answers not in command order
    got = parts("ec200a-3ginfo-lite-135.log")
    d = {}
    for p in got:
        d.setdefault(p[0], []).append(p[1])
    assert d["AT+CSQ"] == [{"rssi": -113 + 2 * 17}]
    assert d["AT+CREG?"] == [{"reg": "home", "lac": 0xA8, "cell": 0x5355E8D, "rat": "LTE"}]
    assert d["AT+COPS?"] == [{"oper": "NOS", "rat": "LTE"}, {"mcc": 268, "mnc": "03", "rat": "LTE"}]


def test_compound_merged_response_keeps_every_answer():
    # parse_response of a compound line merges the answers: the second +COPS adds mcc/mnc to
    # the first one's oper instead of one of them being lost
    cmd, lines = log("dw5811e-3ginfo-lite-37.log")[0]
    v, e = c.parse_response(cmd, lines)
    assert v["oper"] == "Orange nju" and (v["mcc"], v["mnc"]) == (260, "03") and v["reg"] == "home"


# --- TS 27.007 <AcT> ----------------------------------------------------------------------------

# TS 27.007 7.3 <AcT>, as the decoder names them (docs/records.md, rat)
ACT_27007 = (
    (0, "GSM"),
    (1, "GSM"),
    (2, "UMTS"),
    (3, "GSM"),
    (4, "UMTS"),
    (5, "UMTS"),
    (6, "UMTS"),
    (7, "LTE"),
    (8, "EC-GSM-IoT"),
    (9, "NB-IoT"),
    (10, "LTE-5GC"),
    (11, "NR"),
    (12, "NG-RAN"),
    (13, "EN-DC"),
)


def test_generic_act_values():
    for model in (None, "generic", "Fibocom FM150"):
        for act, rat in ACT_27007:
            v, e = c.parse_response("AT+CREG?", ['+CREG: 2,1,"5D4","01BC7511",%d' % act], model)
            assert v.get("rat") == rat and e == [], (model, act, v, e)
            name, u = c.parse_urc('+CEREG: 1,"5D4","01BC7511",%d' % act, model)
            assert u.get("rat") == rat, (model, act, u)
    v, e = c.parse_response("AT+CREG?", ['+CREG: 2,1,"5D4","01BC7511",99'])
    assert "rat" not in v and v["reg"] == "home"
    for rat in (r for _, r in ACT_27007):
        assert rat in c.RATS.split(), rat


def test_act_13_en_dc_from_a_5g_modem():
    # luci-app-3ginfo-lite PR 32 (Fibocom FM150)
    got = parts("fm150-3ginfo-lite-pr32.log")
    d = dict((p[0], p[1]) for p in got if p[0] != "AT+COPS?")
    assert d["AT+CREG?"] == {"reg": "home", "lac": 0x5D4, "cell": 0x01BC7511, "rat": "EN-DC"}
    cops = [p[1] for p in got if p[0] == "AT+COPS?"]
    assert cops == [{"oper": "Telekom.de", "rat": "EN-DC"}, {"mcc": 262, "mnc": "01", "rat": "EN-DC"}]


def test_act_2_utran_with_rac():
    # gammu issue 150: +CGREG: 2,1,"001F","0219038",2,"1F" (AcT 2 then <rac>)
    cmd, lines = log("umts-gammu-150.log")[0]
    v, e = c.parse_response(cmd, lines)
    assert v == {"reg": "home", "lac": 0x1F, "cell": 0x219038, "rat": "UMTS"} and e == [], (v, e)


def test_unquoted_creg_read_answer():
    # gammu issue 393 (Huawei E220): +CREG: 2,1,0A,3799B
    cmd, lines = log("e220-gammu-393.log")[0]
    v, e = c.parse_response(cmd, lines)
    assert v == {"reg": "home", "lac": 0x0A, "cell": 0x3799B} and e == [], (v, e)


def test_vendor_act_meanings_stay():
    # Quectel BG95/BG96: AcT 8 is eMTC; SIMCom SIM70x0 and BG95 (Cat-M/NB only): AcT 7 is LTE-M
    for model in ("BG95-M3", "BG96"):
        v, e = c.parse_response("AT+COPS?", ['+COPS: 0,0,"Telekom.de",8'], model)
        assert v["rat"] == "LTE-M", (model, v)
    for model in ("SIMCOM_SIM7080G", "SIMCOM_SIM7000G", "BG95-M3"):
        v, e = c.parse_response("AT+CEREG?", ['+CEREG: 2,1,"00FF","0000AB12",7'], model)
        assert v["rat"] == "LTE-M", (model, v)
        name, u = c.parse_urc('+CEREG: 1,"00FF","0000AB12",7', model)
        assert u["rat"] == "LTE-M", (model, u)
    # Cat 1 modules: AcT 7 is LTE
    for model in ("A7670E", "A7680C", "EC200U"):
        name, u = c.parse_urc('+CEREG: 1,"00FF","0000AB12",7', model)
        assert u["rat"] == "LTE", (model, u)


# --- Quectel LTE Standard +QENG (EC200U dialect) ------------------------------------------------


def test_qeng_lte_layout_ec200t_field_line():
    # luci-app-3ginfo-lite issue 43 (EC200T): "servingcell",<state>,"LTE",<is_tdd>,<MCC>,<MNC>,
    # <cellID>,<PCID>,<earfcn>,<freq_band_ind>,<UL_bw>,<DL_bw>,<TAC>,<RSRP>,<RSRQ>,<RSSI>,<SINR>,
    # <srxlev>
    entries = log("ec200t-3ginfo-lite-43.log")
    cmd, lines = entries[2]
    v, e = c.parse_response(cmd, lines, "EC200U")
    assert e == [], e
    assert v["rat"] == "LTE" and (v["mcc"], v["mnc"]) == (123, "01")
    assert (v["cell"], v["pci"], v["earfcn"], v["band"], v["tac"]) == (0x43300C, 348, 1802, 3, 0x5443)
    assert (v["rsrp"], v["rsrq"], v["rssi"]) == (-87, -16, -69)
    # no documented scale for the LTE Standard modules' <SINR>: raw
    assert v["sinr_raw"] == 5 and "sinr" not in v
    cmd, lines = entries[1]
    v, e = c.parse_response(cmd, lines, "EC200U")
    assert v == {"rat": "LTE", "mcc": 123, "mnc": "01", "band": 3, "earfcn": 1802}, v
    v, e = c.parse_response(entries[0][0], entries[0][1], "EC200U")
    assert e == [], e  # +QTEMP: known, no record


def test_qeng_compound_with_qspn():
    # luci-app-3ginfo-lite issue 111: at+qnwinfo;+qeng="servingcell";+qspn
    got = parts("quectel-3ginfo-lite-111.log", "EC200U")
    assert [p[0] for p in got] == ["AT+QNWINFO", 'AT+QENG="servingcell"', "AT+QSPN"], got
    q = got[1][1]
    assert (q["mcc"], q["mnc"], q["cell"], q["tac"], q["sinr_raw"]) == (222, "88", 0x243800E, 0x3AC9, 15)
    # +QSPN: <FNN>,<SNN>,<SPN>,<alphabet>,<RPLMN>
    assert got[2][1] == {"oper": "spusu", "mcc": 222, "mnc": "88"} and got[2][2] == []
