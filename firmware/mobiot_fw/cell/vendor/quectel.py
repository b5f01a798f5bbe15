# Quectel vendor response parsers (BG95/BG77/BG600L, BG96): loaded by mobiot_fw.cell.parse on
# the first Quectel-only response line, so a SIMCom board never holds this code in RAM. Each
# parser is named like its response prefix (cellular looks it up with getattr).
# Contract: docs/modem.md; record names: docs/records.md.
from micropython import const

from mobiot_fw.cell.parse import band_from, hexnum, num, model_is, plmn_into, show, split_fields, unquote, usable_ip


def QPSMS(body, vals, errs, model, kind):
    from mobiot_fw.cell.ts27007 import psm_into  # +CPSMS's parser, loaded by every report anyway

    psm_into("QPSMS", split_fields(body), vals, errs, True)


def _qrat(text):
    # Quectel access technology strings (BG95 manual AT+QNWINFO/AT+QCSQ/AT+QENG): "eMTC",
    # "NBIoT", "GSM"/"GPRS"/"EDGE", "FDD LTE"/"TDD LTE"/"LTE"; BG96 also "CAT-M1"/"CAT-NB1".
    t = unquote(text).upper()
    if "EMTC" in t or "CAT-M" in t or "CAT M" in t:
        return "LTE-M"
    if "NB" in t:
        return "NB-IoT"
    if "LTE" in t:
        return "LTE"
    if t in ("GSM", "GPRS", "EDGE"):
        return "GSM"
    return None


def QNWINFO(body, vals, errs, model, kind):
    # BG95 manual AT+QNWINFO: +QNWINFO: <Act>,<oper>,<band>,<channel>; e.g.
    # +QNWINFO: "eMTC","24701","LTE BAND 20",6300. "No Service" when not camped.
    f = split_fields(body)
    if unquote(f[0]).upper().replace(" ", "") == "NOSERVICE":
        return
    if len(f) < 4:
        errs.append("QNWINFO: malformed: " + show(body))
        return
    rat = _qrat(f[0])
    if rat:
        vals["rat"] = rat
    oper = unquote(f[1])
    if oper:
        plmn_into(oper, vals, errs, "QNWINFO")
    band = band_from(f[2])
    if band is not None:
        vals["band"] = band
    ch = num(f[3])
    if ch is not None and rat != "GSM":
        vals["earfcn"] = ch


def _qsinr(raw):
    # BG95 and BG96 manuals (AT+QCSQ, and BG96 AT+QENG): "Logarithmic value of SINR. Values are
    # in 1/5th of a dB. Range: 0-250, which translates to -20 dB to +30 dB".
    return (raw - 100) / 5  # == raw/5 - 20 without the float drift of 22.2 - 20


def QCSQ(body, vals, errs, model, kind):
    # BG95 manual AT+QCSQ: +QCSQ: <sysmode>[,<value1>[,<value2>[,<value3>[,<value4>]]]]
    #   "GSM",<gsm_rssi>; "eMTC"/"NBIoT",<lte_rssi>,<lte_rsrp>,<lte_sinr>,<lte_rsrq>.
    f = split_fields(body)
    sysmode = unquote(f[0]).upper()
    if sysmode == "NOSERVICE":
        return
    rat = _qrat(f[0])
    if rat is None:
        errs.append("QCSQ: unknown sysmode: " + show(f[0]))
        return
    vals["rat"] = rat
    if rat == "GSM":
        if len(f) > 1 and num(f[1]) is not None:
            vals["rssi"] = num(f[1])
        return
    if len(f) < 5:
        errs.append("QCSQ: short LTE line: " + show(body))
        return
    rssi, rsrp, sinr, rsrq = num(f[1]), num(f[2]), num(f[3]), num(f[4])
    if rssi is not None:
        vals["rssi"] = rssi
    if rsrp is not None:
        vals["rsrp"] = rsrp
    if sinr is not None:
        if 0 <= sinr <= 250:
            vals["sinr"] = _qsinr(sinr)
        else:
            errs.append("QCSQ: sinr out of 0..250: %d" % sinr)
    if rsrq is not None:
        vals["rsrq"] = rsrq


# AT+QENG="servingcell" <state> (BG95&BG77&BG600L AT Commands Manual and BG96 AT Commands Manual,
# AT+QENG): SEARCH = searching, no suitable cell yet (the line stops there); LIMSRV = camped but
# not registered; NOCONN = camped and registered, idle; CONNECT = camped, registered and in a
# dedicated connection. LIMSRV still reports the cell it camps on, so its measurements are kept.
_QENG_STATES = ("SEARCH", "LIMSRV", "NOCONN", "CONNECT")

# Field positions after "servingcell",<state>,<RAT>,<is_tdd> (index 0 = "servingcell"):
# (MCC, MNC, cellID, PCID, EARFCN, freq_band_ind, TAC, RSRP, RSRQ, RSSI, SINR, srxlev). The
# srxlev position is also the least field count a line needs: <srxlev> itself is optional
# (an eMTC "CONNECT" line in a public modem log ends at <SINR>) and is not recorded.
#   eMTC/LTE (BG95 and BG96 manuals; BG96 also for "CAT-NB", which keeps the bandwidths, 0,0
#   on NB1): ...,<freq_band_ind>,<UL_bandwidth>,<DL_bandwidth>,<TAC>,<RSRP>,<RSRQ>,<RSSI>,
#   <SINR>,<srxlev>  (EC2x LTE inserts <CQI>,<tx_power> before <srxlev>: same prefix)
_QENG_WB = (4, 5, 6, 7, 8, 9, 12, 13, 14, 15, 16, 17)
#   BG95/BG77/BG600L "NBIoT" (BG95 manual AT+QENG, NB-IoT mode): no bandwidth fields:
#   ...,<earfcn>,<freq_band_ind>,<TAC>,<RSRP>,<RSRQ>,<RSSI>,<SINR>,<srxlev>
_QENG_NB = (4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
# A BG95 NBIoT line has at most 16 fields (with <srxlev>); 17 or more is the bandwidth layout.
_QENG_NB_MAX = const(16)


def _qeng_layout(rat, n):
    if rat == "NB-IoT" and n <= _QENG_NB_MAX:
        return _QENG_NB
    return _QENG_WB


def QENG(body, vals, errs, model, kind):
    # BG95 manual AT+QENG="servingcell" (also BG96):
    #   +QENG: "servingcell",<state>,"eMTC"|"LTE",<is_tdd>,... (_QENG_WB above)
    #   +QENG: "servingcell",<state>,"NBIoT",<is_tdd>,... (_QENG_NB above)
    #   +QENG: "servingcell",<state>,"GSM",<MCC>,<MNC>,<LAC>,<cellID>,<BSIC>,<ARFCN>,<band>,
    #          <RXlev>,...
    #   +QENG: "servingcell","SEARCH" alone when not camped.
    # cellID/TAC/LAC are hex; RSRP/RSSI in dBm, RSRQ in dB. <SINR>: the BG95 manual gives dB
    # (range -20..30; field examples 11, 14, 19), the BG96 manual 1/5 dB (0..250 = -20..+30 dB,
    # as in +QCSQ). "-" = not available.
    f = split_fields(body)
    if unquote(f[0]).lower() != "servingcell":
        return  # neighbour-cell lines ("neighbourcell intra", ...): not a record
    state = unquote(f[1]).upper() if len(f) > 1 else ""
    if state not in _QENG_STATES:
        errs.append("QENG: unknown state: " + show(body))
        return
    if state == "SEARCH" or len(f) < 4:
        return  # not camped: no cell to report
    rat = _qrat(f[2])
    if rat is None:
        errs.append("QENG: unknown RAT: " + show(f[2]))
        return
    vals["rat"] = rat
    if rat == "GSM":
        if len(f) < 7:
            errs.append("QENG: short GSM line: " + show(body))
            return
        mcc = num(f[3])
        if mcc is not None:
            vals["mcc"] = mcc
        if unquote(f[4]).isdigit():
            vals["mnc"] = unquote(f[4])
        lac, cell = hexnum(f[5]), hexnum(f[6])
        if lac is not None:
            vals["lac"] = lac
        if cell is not None:
            vals["cell"] = cell
        if len(f) > 10:
            rx = num(f[10])
            if rx is not None and rx < 0:
                vals["rssi"] = rx
        return
    ix = _qeng_layout(rat, len(f))
    if len(f) < ix[11]:  # fields up to <SINR> are required, <srxlev> is not
        errs.append("QENG: short %s line: %s" % (rat, show(body)))
        return
    mcc = num(f[ix[0]])
    if mcc is not None:
        vals["mcc"] = mcc
    if unquote(f[ix[1]]).isdigit():
        vals["mnc"] = unquote(f[ix[1]])
    for i, key, conv in (
        (ix[2], "cell", hexnum),
        (ix[3], "pci", num),
        (ix[4], "earfcn", num),
        (ix[5], "band", num),
        (ix[6], "tac", hexnum),
    ):
        x = conv(f[i])
        if x is not None:
            vals[key] = x
        elif unquote(f[i]) not in ("", "-"):
            errs.append("QENG: bad %s: %s" % (key, show(f[i])))
    for i, key in ((ix[7], "rsrp"), (ix[8], "rsrq"), (ix[9], "rssi")):
        x = num(f[i])
        if x is not None:
            vals[key] = x
    s = num(f[ix[10]])
    if s is None:
        return
    if model_is(model, "BG96"):
        if 0 <= s <= 250:
            vals["sinr"] = _qsinr(s)
        else:
            errs.append("QENG: sinr out of 0..250: %d" % s)
    elif model_is(model, "BG95", "BG77", "BG600"):
        vals["sinr"] = s
    else:
        # EC200U and the other LTE Standard modules (and an unnamed Quectel): no manual we could
        # read gives <SINR>'s scale (field values 5, 15, 18), so it is reported raw, never as dB
        vals["sinr_raw"] = s


def QSPN(body, vals, errs, model, kind):
    # Quectel LTE Standard AT+QSPN (EC25&EC21 AT Commands Manual, AT+QSPN): +QSPN: <FNN>,<SNN>,
    # <SPN>,<alphabet>,<RPLMN>: the network's full name and the registered PLMN.
    f = split_fields(body)
    if len(f) < 5:
        errs.append("QSPN: malformed: " + show(body))
        return
    fnn = unquote(f[0])
    if fnn:
        vals["oper"] = fnn
    plmn = unquote(f[4])
    if plmn:
        plmn_into(plmn, vals, errs, "QSPN")


def QIACT(body, vals, errs, model, kind):
    # BG95 manual AT+QIACT?: +QIACT: <contextID>,<context_state>,<context_type>[,<IP_address>].
    f = split_fields(body)
    if len(f) < 3 or num(f[0]) is None:
        errs.append("QIACT: malformed: " + show(body))
        return
    if num(f[1]) == 1 and len(f) > 3 and "ip" not in vals:
        ip = usable_ip(f[3])
        if ip:
            vals["ip"] = ip


def urc(name, body, vals, errs):
    """Values of a +QPSMTIMER URC (mobiot_fw.cell.parse.parse_urc)."""
    # BG95 manual (AT+QCFG="psm/urc"): +QPSMTIMER: <TAU_timer>,<T3324_timer>, in seconds.
    f = split_fields(body)
    if len(f) >= 2 and num(f[0]) is not None and num(f[1]) is not None:
        vals["t3412_s"] = num(f[0])
        vals["t3324_s"] = num(f[1])
    else:
        errs.append("bad")
