# Vendor responses (SIMCom SIM7000/SIM7080/A76XX, Quectel BG95/BG96) through
# mobiot_fw.cell.parse.parse_response. Lines are in the manuals' documented formats; the example
# lines marked "manual" are the manuals' own examples. Expected values are decoded by hand here.
from mobiot_fw.cell import parse as c


def close(a, b, tol=0.01):
    return a is not None and abs(a - b) <= tol


# --- SIMCom +CPSI (SIM7080 manual 5.2.19, SIM7000 manual AT+CPSI, A76XX manual AT+CPSI) -------


def test_cpsi_sim7080_nbiot_manual_example():
    # manual example (note the stray space before the band in the manual)
    line = "+CPSI: LTE NB-IOT,Online,460-11,0x5AE1,187212754,82, EUTRAN-BAND5,2506,0,0,-7,-115,-110,13"
    v, e = c.parse_response("AT+CPSI?", [line, "OK"], "SIM7080G")
    assert e == [], e
    assert v == {
        "rat": "NB-IoT",
        "mcc": 460,
        "mnc": "11",
        "tac": 0x5AE1,
        "cell": 187212754,
        "pci": 82,
        "band": 5,
        "earfcn": 2506,
        "rsrq": -7,
        "rsrp": -115,
        "rssi": -110,
        "sinr": 2 * 13 - 20,  # SIM7080 manual AT+CPSI: SINR = 2 * <RSSNR> - 20
    }, v


def test_cpsi_sim7000_catm():
    line = "+CPSI: LTE CAT-M1,Online,310-410,0x4804,74777865,343,EUTRAN-BAND2,875,4,4,-13,-112,-82,14"
    v, e = c.parse_response("AT+CPSI?", [line], "SIM7000G")
    assert e == [] and v["rat"] == "LTE-M" and v["mnc"] == "410" and v["tac"] == 0x4804
    assert v["band"] == 2 and v["rsrp"] == -112 and v["rsrq"] == -13 and v["rssi"] == -82
    assert v["sinr"] == 2 * 14 - 20  # SIM7000 manual AT+CPSI: SINR = 2 * <RSSNR> - 20


def test_cpsi_a7670_tenths():
    # A76XX/SIM7600 report RSRQ/RSRP/RSSI in 1/10 dB: -1143 -> -114.3 dBm
    line = "+CPSI: LTE,Online,505-02,0xCBE8,36519691,101,EUTRAN-BAND3,1800,5,5,-147,-1143,-764,11"
    v, e = c.parse_response("AT+CPSI?", [line], "A7670E")
    assert e == [] and v["rat"] == "LTE" and v["band"] == 3
    assert close(v["rsrp"], -114.3) and close(v["rsrq"], -14.7) and close(v["rssi"], -76.4)
    assert v["sinr_raw"] == 11 and "sinr" not in v  # A76XX manual: no scale for <RSSNR>


def test_cpsi_gsm_and_no_service():
    # <System Mode>,<Operation Mode>,<MCC>-<MNC>,<LAC>,<Cell ID>,<ARFCN>,<RxLev>,<Track LO>,<C1-C2>
    line = "+CPSI: GSM,Online,460-00,0x182d,12401,27 EGSM 900,-64,2110,42-42"
    v, e = c.parse_response("AT+CPSI?", [line])
    assert e == [], e
    assert v == {"rat": "GSM", "mcc": 460, "mnc": "00", "lac": 0x182D, "cell": 12401, "rssi": -64}, v
    v, e = c.parse_response("AT+CPSI?", ["+CPSI: NO SERVICE,Online"])
    assert v == {} and e == []


def test_cpsi_garbled():
    v, e = c.parse_response("AT+CPSI?", ["+CPSI: LTE CAT-M1,Online,310-410,0x4804"])
    assert len(e) == 1 and "rsrp" not in v
    v, e = c.parse_response("AT+CPSI?", ["+CPSI: WHATEVER,Online,1-2"])
    assert v == {} and len(e) == 1


def test_cnact_sim7080_and_sim7000():
    lines = ['+CNACT: 0,1,"10.94.36.44"', '+CNACT: 1,0,"0.0.0.0"', '+CNACT: 2,0,"0.0.0.0"']
    v, e = c.parse_response("AT+CNACT?", lines)
    assert v == {"ip": "10.94.36.44"} and e == []
    v, e = c.parse_response("AT+CNACT?", ['+CNACT: 1,"100.68.7.9"'])
    assert v == {"ip": "100.68.7.9"}
    v, e = c.parse_response("AT+CNACT?", ['+CNACT: 0,0,"0.0.0.0"'])
    assert v == {}


def test_cnsmod_by_model():
    # SIM7000/SIM7080: 7 = LTE M1, 9 = LTE NB; A76XX: 8 = LTE
    assert c.parse_response("AT+CNSMOD?", ["+CNSMOD: 0,7"], "SIM7080G")[0] == {"rat": "LTE-M"}
    assert c.parse_response("AT+CNSMOD?", ["+CNSMOD: 0,9"], "SIM7000G")[0] == {"rat": "NB-IoT"}
    assert c.parse_response("AT+CNSMOD?", ["+CNSMOD: 0,8"], "A7670E")[0] == {"rat": "LTE"}
    assert c.parse_response("AT+CNSMOD?", ["+CNSMOD: 0,0"], "SIM7080G")[0] == {}


def test_cgnapn():
    assert c.parse_response("AT+CGNAPN", ['+CGNAPN: 1,"iot.1nce.net"'])[0] == {"apn": "iot.1nce.net"}
    assert c.parse_response("AT+CGNAPN", ['+CGNAPN: 0,""'])[0] == {}


# --- Quectel (BG95&BG77&BG600L AT Commands Manual, BG96 AT Commands Manual) ------------------


def test_qeng_bg95_emtc():
    line = '+QENG: "servingcell","NOCONN","eMTC","FDD",310,410,B0DD811,152,5110,12,3,3,5003,-88,-11,-62,11,41'
    v, e = c.parse_response('AT+QENG="servingcell"', [line, "OK"], "BG95-M3")
    assert e == [], e
    assert v == {
        "rat": "LTE-M",
        "mcc": 310,
        "mnc": "410",
        "cell": 0xB0DD811,
        "pci": 152,
        "earfcn": 5110,
        "band": 12,
        "tac": 0x5003,
        "rsrp": -88,
        "rsrq": -11,
        "rssi": -62,
        "sinr": 11,
    }, v


def test_qeng_bg96_sinr_scale_and_nbiot():
    # BG96: SINR in 1/5 dB, 0..250 -> -20..+30 dB: 160 -> 160/5 - 20 = 12 dB
    line = (
        '+QENG: "servingcell","NOCONN","CAT-NB","FDD",262,01,1A2D001,33,6290,20,0,0,D5A1,-101,-9,-80,160,20'
    )
    v, e = c.parse_response('AT+QENG="servingcell"', [line], "BG96")
    assert e == [] and v["rat"] == "NB-IoT" and close(v["sinr"], 160 / 5 - 20) and v["mnc"] == "01"


def test_qeng_not_camped_and_dashes():
    assert c.parse_response('AT+QENG="servingcell"', ['+QENG: "servingcell","SEARCH"']) == ({}, [])
    line = '+QENG: "servingcell","LIMSRV","eMTC","FDD",262,01,-,-,6290,20,-,-,-,-,-,-,-,-'
    v, e = c.parse_response('AT+QENG="servingcell"', [line], "BG95")
    assert e == [] and v == {"rat": "LTE-M", "mcc": 262, "mnc": "01", "earfcn": 6290, "band": 20}, v


def test_qeng_bg95_nbiot_layout_has_no_bandwidths():
    # BG95&BG77&BG600L AT Commands Manual, AT+QENG, NB-IoT mode:
    #   "servingcell",<state>,"NBIoT",<is_tdd>,<MCC>,<MNC>,<cellID>,<PCID>,<earfcn>,
    #   <freq_band_ind>,<TAC>,<RSRP>,<RSRQ>,<RSSI>,<SINR>,<srxlev>
    # Decoded by hand: cellID 2B5CD0E hex, TAC 31D7 hex, RSRP/RSSI dBm, RSRQ dB, SINR dB (BG95)
    line = '+QENG: "servingcell","NOCONN","NBIoT","FDD",262,02,2B5CD0E,141,6254,20,31D7,-109,-12,-98,3,27'
    v, e = c.parse_response('AT+QENG="servingcell"', [line, "OK"], "BG95-M3")
    assert e == [], e
    assert v == {
        "rat": "NB-IoT",
        "mcc": 262,
        "mnc": "02",
        "cell": 0x2B5CD0E,
        "pci": 141,
        "earfcn": 6254,
        "band": 20,
        "tac": 0x31D7,
        "rsrp": -109,
        "rsrq": -12,
        "rssi": -98,
        "sinr": 3,
    }, v


def test_qeng_bg95_nbiot_connect_without_srxlev_and_limsrv():
    # CONNECT: the same fields, <srxlev> absent (15 fields after the prefix)
    line = '+QENG: "servingcell","CONNECT","NBIoT","FDD",204,08,1C4A07,87,6352,20,2B1,-121,-15,-108,-2'
    v, e = c.parse_response('AT+QENG="servingcell"', [line], "BG95-M3")
    assert e == [], e
    assert v["rat"] == "NB-IoT" and v["mnc"] == "08" and v["cell"] == 0x1C4A07 and v["tac"] == 0x2B1
    assert v["band"] == 20 and v["earfcn"] == 6352 and v["pci"] == 87
    assert v["rsrp"] == -121 and v["rsrq"] == -15 and v["rssi"] == -108 and v["sinr"] == -2
    # LIMSRV (camped, not registered): the cell is reported, "-" fields are simply absent
    line = '+QENG: "servingcell","LIMSRV","NBIoT","FDD",262,01,-,-,3740,8,-,-115,-,-,-,-'
    v, e = c.parse_response('AT+QENG="servingcell"', [line], "BG95")
    assert e == [], e
    assert v == {"rat": "NB-IoT", "mcc": 262, "mnc": "01", "earfcn": 3740, "band": 8, "rsrp": -115}, v


def test_qeng_emtc_connect_without_srxlev():
    # an eMTC line in CONNECT state ends at <SINR> (17 fields): bandwidths 5,5 are skipped
    line = '+QENG: "servingcell","CONNECT","eMTC","FDD",505,01,804A90D,238,9410,28,5,5,2036,-114,-18,-82,6'
    v, e = c.parse_response('AT+QENG="servingcell"', [line], "BG95-M3")
    assert e == [], e
    assert v["rat"] == "LTE-M" and v["cell"] == 0x804A90D and v["tac"] == 0x2036 and v["band"] == 28
    assert v["rsrp"] == -114 and v["rsrq"] == -18 and v["rssi"] == -82 and v["sinr"] == 6


def test_qeng_bg96_catnb_keeps_bandwidth_fields():
    # BG96 prints its NB1 cell in the bandwidth layout (UL/DL bandwidth 0,0), as in this
    # public BG96 log line; SINR is 1/5 dB there: 8 -> 8/5 - 20 = -18.4 dB
    line = '+QENG: "servingcell","NOCONN","CAT-NB","FDD",460,11,DDA1451,280,2506,5,0,0,69C9,-84,-17,-67,8,44'
    v, e = c.parse_response('AT+QENG="servingcell"', [line], "BG96")
    assert e == [], e
    assert v["rat"] == "NB-IoT" and v["cell"] == 0xDDA1451 and v["pci"] == 280 and v["earfcn"] == 2506
    assert v["band"] == 5 and v["tac"] == 0x69C9 and v["rsrp"] == -84 and v["rsrq"] == -17 and v["rssi"] == -67
    assert close(v["sinr"], 8 / 5 - 20)
    bad = line.replace(",8,44", ",251,44")  # outside the manual's 0..250
    v, e = c.parse_response('AT+QENG="servingcell"', [bad], "BG96")
    assert "sinr" not in v and len(e) == 1 and v["rsrp"] == -84


def test_qeng_states_and_garbage():
    for st in ("SEARCH", "LIMSRV", "NOCONN", "CONNECT"):
        v, e = c.parse_response('AT+QENG="servingcell"', ['+QENG: "servingcell","%s"' % st], "BG95")
        assert v == {} and e == [], (st, v, e)
    # an unknown state is a protocol error, not a cell
    line = '+QENG: "servingcell","WEIRD","NBIoT","FDD",262,02,2B5CD0E,141,6254,20,31D7,-109,-12,-98,3,27'
    v, e = c.parse_response('AT+QENG="servingcell"', [line], "BG95")
    assert v == {} and len(e) == 1 and "state" in e[0], (v, e)
    # an NBIoT line cut before <SINR> is short for both layouts
    line = '+QENG: "servingcell","NOCONN","NBIoT","FDD",262,02,2B5CD0E,141,6254,20,31D7,-109,-12'
    v, e = c.parse_response('AT+QENG="servingcell"', [line], "BG95")
    assert v == {"rat": "NB-IoT"} and len(e) == 1 and "short" in e[0], (v, e)
    # neighbour-cell lines are not the serving cell
    v, e = c.parse_response('AT+QENG="neighbourcell"', ['+QENG: "neighbourcell intra","eMTC",6300,188,-12,-105'])
    assert v == {} and e == []


def test_qeng_gsm():
    # "servingcell",<state>,"GSM",<MCC>,<MNC>,<LAC>,<cellID>,<BSIC>,<ARFCN>,<band>,<RXlev>,...
    line = '+QENG: "servingcell","NOCONN","GSM",262,02,A1B2,3C4D,33,62,0,-71,0,-71,2,38,38,1,-,-,-,-,-'
    v, e = c.parse_response('AT+QENG="servingcell"', [line], "BG95-M3")
    assert e == [] and v == {
        "rat": "GSM",
        "mcc": 262,
        "mnc": "02",
        "lac": 0xA1B2,
        "cell": 0x3C4D,
        "rssi": -71,
    }


def test_qnwinfo():
    v, e = c.parse_response("AT+QNWINFO", ['+QNWINFO: "eMTC","24701","LTE BAND 20",6300'])
    assert e == [] and v == {"rat": "LTE-M", "mcc": 247, "mnc": "01", "band": 20, "earfcn": 6300}
    v, e = c.parse_response("AT+QNWINFO", ['+QNWINFO: "NBIoT","26201","LTE BAND 8",3740'])
    assert v["rat"] == "NB-IoT" and v["band"] == 8
    assert c.parse_response("AT+QNWINFO", ['+QNWINFO: "No Service"']) == ({}, [])


def test_qcsq_sinr_scaling():
    # +QCSQ: "eMTC",<rssi>,<rsrp>,<sinr>,<rsrq>; sinr raw 111 -> 111/5 - 20 = 2.2 dB
    v, e = c.parse_response("AT+QCSQ", ['+QCSQ: "eMTC",-62,-87,111,-12'], "BG95-M3")
    assert e == [] and v["rssi"] == -62 and v["rsrp"] == -87 and v["rsrq"] == -12
    assert close(v["sinr"], 111 / 5 - 20)
    v, e = c.parse_response("AT+QCSQ", ['+QCSQ: "eMTC",-62,-87,251,-12'])
    assert "sinr" not in v and len(e) == 1
    assert c.parse_response("AT+QCSQ", ['+QCSQ: "NOSERVICE"']) == ({}, [])
    assert c.parse_response("AT+QCSQ", ['+QCSQ: "GSM",-71'])[0] == {"rat": "GSM", "rssi": -71}


def test_qiact_and_qpsms():
    v, e = c.parse_response("AT+QIACT?", ['+QIACT: 1,1,1,"10.225.154.84"'])
    assert v == {"ip": "10.225.154.84"} and e == []
    # QPSMS gives seconds; a bit string is decoded like +CPSMS ("00100001" T3412 = 1 x 1 h)
    v, e = c.parse_response("AT+QPSMS?", ['+QPSMS: 1,,,"86400","60"'])
    assert v == {"psm": True, "t3412_s": 86400, "t3324_s": 60}, v
    v, e = c.parse_response("AT+QPSMS?", ['+QPSMS: 1,,,"00100001","00000011"'])
    assert v == {"psm": True, "t3412_s": 3600, "t3324_s": 6}, v


def test_ati_identity():
    v, e = c.parse_response("ATI", ["Quectel", "BG95-M3", "Revision: BG95M3LAR02A03", "OK"])
    assert v == {"model": "BG95-M3", "modem_fw": "BG95M3LAR02A03"} and e == []
    lines = [
        "Manufacturer: SIMCOM INCORPORATED",
        "Model: A7670E-LASE",
        "Revision: A7670M7_V1.11.1",
        "IMEI: 866349041749536",
    ]
    v, e = c.parse_response("ATI", lines)
    assert v == {"model": "A7670E-LASE", "modem_fw": "A7670M7_V1.11.1", "imei": "866349041749536"}, v


def test_vendor_modules_load_lazily():
    import sys

    for m in ("mobiot_fw.cell.vendor.simcom", "mobiot_fw.cell.vendor.quectel"):
        if m in sys.modules:
            del sys.modules[m]
    c.parse_response("AT+CSQ", ["+CSQ: 20,99"])
    assert "mobiot_fw.cell.vendor.quectel" not in sys.modules
    c.parse_response("AT+QCSQ", ['+QCSQ: "eMTC",-62,-87,111,-12'])
    assert "mobiot_fw.cell.vendor.quectel" in sys.modules


def test_identity_parsers_are_not_kept():
    # read once per power-on: imported for the answer, then dropped (sys.modules and package)
    import sys

    import mobiot_fw

    v, e = c.parse_response("ATI", ["SIMCOM INCORPORATED", "SIMCOM_SIM7080G", "Revision:1951B17SIM7080"])
    assert v == {"model": "SIMCOM_SIM7080G", "modem_fw": "1951B17SIM7080"} and e == [], (v, e)
    v, e = c.parse_response("AT+CICCID", ["+ICCID: 89860318760233118712", "OK"])
    assert v == {"iccid": "89860318760233118712"} and e == [], (v, e)
    assert "mobiot_fw.cell.ids" not in sys.modules and not hasattr(mobiot_fw.cell, "ids")
