# SIMCom vendor response parsers (SIM7000, SIM7080, A76XX): loaded by mobiot_fw.cell.parse on
# the first SIMCom-only response line, so a Quectel board never holds this code in RAM. Each
# parser is named like its response prefix (cellular looks it up with getattr).
# Contract: docs/modem.md; record names: docs/records.md.
from mobiot_fw.cell.parse import band_from, hexnum, num, model_is, show, split_fields, unquote, usable_ip, word


def CGNAPN(body, vals, errs, model, kind):
    # SIM7000/SIM7080 manuals AT+CGNAPN: +CGNAPN: <valid>,"<Network_APN>" (APN the network sent).
    f = split_fields(body)
    if len(f) < 2 or num(f[0]) is None:
        errs.append("CGNAPN: malformed: " + show(body))
        return
    if num(f[0]) == 1 and unquote(f[1]):
        vals["apn"] = unquote(f[1])


def CPSI(body, vals, errs, model, kind):
    # SIM7080 manual 5.2.19 / SIM7000 manual (AT+CPSI?) / A76XX manual (AT+CPSI?):
    #   GSM:   <System Mode>,<Operation Mode>,<MCC>-<MNC>,<LAC>,<Cell ID>,<Absolute RF Ch Num>,
    #          <RxLev>,<Track LO Adjust>,<C1-C2>
    #   LTE / LTE CAT-M1 / LTE NB-IOT: <System Mode>,<Operation Mode>,<MCC>-<MNC>,<TAC>,<SCellID>,
    #          <PCellID>,<Frequency Band>,<earfcn>,<dlbw>,<ulbw>,<RSRQ>,<RSRP>,<RSSI>,<RSSNR>
    #   NO SERVICE: "NO SERVICE,Online" and nothing else.
    # SIM7000/SIM7080 give RSRQ dB, RSRP/RSSI dBm (manual example "...,-7,-115,-110,13"); the
    # A76XX/SIM7600 family gives them in tenths ("...,-147,-1143,-764,11"). RSRP is -140..-44 dBm,
    # so |RSRP| > 200 means tenths, and then RSRQ and RSSI are tenths too.
    # <RSSNR>: the SIM7000 and SIM7070/SIM7080/SIM7090 manuals (AT+CPSI) define "SINR = 2 *
    # <RSSNR> - 20", SINR -20..30 dB, so sinr is that. The A76XX manual gives no scale for it, so
    # the A76XX/SIM76XX family's field is sinr_raw (docs/modem.md: never a guessed conversion).
    # Without a model, the units tell the families apart: tenths are A76XX/SIM76XX.
    f = split_fields(body)
    mode = unquote(f[0]).upper()
    if mode.startswith("NO SERVICE") or len(f) < 3:
        return
    if "NB" in mode:
        rat = "NB-IoT"
    elif "CAT-M" in mode or "CAT M" in mode or "EMTC" in mode:
        rat = "LTE-M"
    elif mode.startswith("LTE"):
        rat = "LTE"
    elif mode.startswith("GSM"):
        rat = "GSM"
    else:
        errs.append("CPSI: unknown system mode: " + show(f[0]))
        return
    vals["rat"] = rat
    plmn = unquote(f[2])
    if "-" in plmn:
        mcc, _, mnc = plmn.partition("-")
        if mcc.isdigit() and mnc.isdigit():
            vals["mcc"] = int(mcc)
            vals["mnc"] = mnc
        else:
            errs.append("CPSI: bad MCC-MNC: " + show(plmn))
    if rat == "GSM":
        if len(f) < 7:
            errs.append("CPSI: short GSM line: " + show(body))
            return
        lac = hexnum(f[3])
        cell = num(f[4])
        if lac is not None:
            vals["lac"] = lac
        if cell is not None:
            vals["cell"] = cell
        rx = num(f[6])
        if rx is not None and rx < 0:
            vals["rssi"] = rx
        return
    if len(f) < 14:
        errs.append("CPSI: short LTE line: " + show(body))
        return
    tac = hexnum(f[3])
    if tac is not None:
        vals["tac"] = tac
    cell = num(f[4])
    if cell is None:
        cell = hexnum(f[4])
    if cell is not None:
        vals["cell"] = cell
    pci = num(f[5])
    if pci is not None:
        vals["pci"] = pci
    band = band_from(f[6])
    if band is not None:
        vals["band"] = band
    earfcn = num(f[7])
    if earfcn is not None:
        vals["earfcn"] = earfcn
    rsrq = num(f[10])
    rsrp = num(f[11])
    rssi = num(f[12])
    snr = num(f[13])
    if rsrp is not None and rsrp > 0:
        # SIM7100-era firmware reports index values here; no documented scale to decode them.
        errs.append("CPSI: signal fields are not dB/dBm: " + show(body))
        return
    tenths = rsrp is not None and rsrp < -200
    if rsrp is not None and tenths:
        vals["rsrp"] = rsrp / 10
        if rsrq is not None:
            vals["rsrq"] = rsrq / 10
        if rssi is not None:
            vals["rssi"] = rssi / 10
    else:
        if rsrp is not None:
            vals["rsrp"] = rsrp
        if rsrq is not None:
            vals["rsrq"] = rsrq
        if rssi is not None:
            vals["rssi"] = rssi
    if snr is None:
        pass
    elif model_is(model, "A76", "SIM76", "SIM75") or (tenths and not model_is(model, "SIM70")):
        vals["sinr_raw"] = snr
    else:
        vals["sinr"] = 2 * snr - 20


def CNACT(body, vals, errs, model, kind):
    # SIM7080 manual 7.2.1 AT+CNACT?: +CNACT: <pdpidx>,<statusx>,<addressx> per context (0..3);
    # SIM7000 manual AT+CNACT?: +CNACT: <status>,<ip_addr>. status 1 = active.
    f = split_fields(body)
    if len(f) >= 3:
        st, addr = num(f[1]), f[2]
    elif len(f) == 2:
        st, addr = num(f[0]), f[1]
    else:
        errs.append("CNACT: malformed: " + show(body))
        return
    if st is None:
        errs.append("CNACT: bad status: " + show(body))
        return
    if st == 1 and "ip" not in vals:
        ip = usable_ip(addr)
        if ip:
            vals["ip"] = ip


def CNSMOD(body, vals, errs, model, kind):
    # SIM7000/SIM7080 manuals AT+CNSMOD?: +CNSMOD: <n>,<stat>; URC +CNSMOD: <stat>.
    f = split_fields(body)
    stat = num(f[-1])
    if stat is None:
        errs.append("CNSMOD: malformed: " + show(body))
        return
    # <stat>, SIM7000/SIM7080 manuals (AT+CNSMOD): 0 no service, 1 GSM, 3 EGPRS, 7 LTE M1,
    # 9 LTE NB. A76XX manual (AT+CNSMOD): 1 GSM, 2 GPRS, 3 EDGE, 4 WCDMA, 5 HSDPA, 6 HSUPA,
    # 7 HSPA, 8 LTE (the UTRAN ones are UMTS, as <AcT> 2/4/5/6 of TS 27.007).
    if model_is(model, "A76", "SIM76", "SIM75"):
        rat = word("- GSM GSM GSM UMTS UMTS UMTS UMTS LTE", stat)
    else:
        rat = word("- GSM GSM GSM - - - LTE-M - NB-IoT", stat)
    if rat:
        vals["rat"] = rat


def urc(name, body, vals, errs):
    """Values of a +CNSMOD or +APP PDP URC (mobiot_fw.cell.parse.parse_urc)."""
    if name == "CNSMOD":
        CNSMOD(body, vals, errs, None, "")  # URC +CNSMOD: <stat>
        return
    # SIM7080 7.2.1: +APP PDP: <pdpidx>,ACTIVE|DEACTIVE
    f = split_fields(body)
    if len(f) >= 2 and num(f[0]) is not None:
        vals["cid"] = num(f[0])
        vals["active"] = unquote(f[1]).upper() == "ACTIVE"
    else:
        errs.append("bad")
