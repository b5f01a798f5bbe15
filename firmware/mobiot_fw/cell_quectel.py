# Quectel vendor response parsers (BG95/BG77/BG600L, BG96): loaded by mobiot_fw.cellular on
# the first Quectel-only response line, so a SIMCom board never holds this code in RAM.
# Contract: docs/modem.md; record names: docs/records.md.
from mobiot_fw.cellular import (
    _band_from,
    _hex,
    _int,
    _model_is,
    _plmn_into,
    _psm_into,
    _show,
    _split,
    _uq,
    _usable_ip,
)


def _h_qpsms(body, vals, errs, model, kind):
    _psm_into("QPSMS", _split(body), vals, errs, True)


def _qrat(text):
    # Quectel access technology strings (BG95 manual AT+QNWINFO/AT+QCSQ/AT+QENG): "eMTC",
    # "NBIoT", "GSM"/"GPRS"/"EDGE", "FDD LTE"/"TDD LTE"/"LTE"; BG96 also "CAT-M1"/"CAT-NB1".
    t = _uq(text).upper()
    if "EMTC" in t or "CAT-M" in t or "CAT M" in t:
        return "LTE-M"
    if "NB" in t:
        return "NB-IoT"
    if "LTE" in t:
        return "LTE"
    if t in ("GSM", "GPRS", "EDGE"):
        return "GSM"
    return None


def _h_qnwinfo(body, vals, errs, model, kind):
    # BG95 manual AT+QNWINFO: +QNWINFO: <Act>,<oper>,<band>,<channel>; e.g.
    # +QNWINFO: "eMTC","24701","LTE BAND 20",6300. "No Service" when not camped.
    f = _split(body)
    if _uq(f[0]).upper().replace(" ", "") == "NOSERVICE":
        return
    if len(f) < 4:
        errs.append("QNWINFO: malformed: " + _show(body))
        return
    rat = _qrat(f[0])
    if rat:
        vals["rat"] = rat
    oper = _uq(f[1])
    if oper:
        _plmn_into(oper, vals, errs, "QNWINFO")
    band = _band_from(f[2])
    if band is not None:
        vals["band"] = band
    ch = _int(f[3])
    if ch is not None and rat != "GSM":
        vals["earfcn"] = ch


def _qsinr(raw):
    # BG95 and BG96 manuals (AT+QCSQ, and BG96 AT+QENG): "Logarithmic value of SINR. Values are
    # in 1/5th of a dB. Range: 0-250, which translates to -20 dB to +30 dB".
    return (raw - 100) / 5  # == raw/5 - 20 without the float drift of 22.2 - 20


def _h_qcsq(body, vals, errs, model, kind):
    # BG95 manual AT+QCSQ: +QCSQ: <sysmode>[,<value1>[,<value2>[,<value3>[,<value4>]]]]
    #   "GSM",<gsm_rssi>; "eMTC"/"NBIoT",<lte_rssi>,<lte_rsrp>,<lte_sinr>,<lte_rsrq>.
    f = _split(body)
    sysmode = _uq(f[0]).upper()
    if sysmode == "NOSERVICE":
        return
    rat = _qrat(f[0])
    if rat is None:
        errs.append("QCSQ: unknown sysmode: " + _show(f[0]))
        return
    vals["rat"] = rat
    if rat == "GSM":
        if len(f) > 1 and _int(f[1]) is not None:
            vals["rssi"] = _int(f[1])
        return
    if len(f) < 5:
        errs.append("QCSQ: short LTE line: " + _show(body))
        return
    rssi, rsrp, sinr, rsrq = _int(f[1]), _int(f[2]), _int(f[3]), _int(f[4])
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


def _h_qeng(body, vals, errs, model, kind):
    # BG95 manual AT+QENG="servingcell" (also BG96):
    #   +QENG: "servingcell",<state>,"eMTC"|"NBIoT"|"LTE",<is_tdd>,<MCC>,<MNC>,<cellID>,<PCID>,
    #          <EARFCN>,<freq_band_ind>,<UL_bandwidth>,<DL_bandwidth>,<TAC>,<RSRP>,<RSRQ>,<RSSI>,
    #          <SINR>,<srxlev>   (EC2x LTE inserts <CQI>,<tx_power> before <srxlev>)
    #   +QENG: "servingcell",<state>,"GSM",<MCC>,<MNC>,<LAC>,<cellID>,<BSIC>,<ARFCN>,<band>,
    #          <RXlev>,...
    #   +QENG: "servingcell","SEARCH"|"LIMSRV" alone when not camped.
    # cellID/TAC/LAC are hex. BG95 gives <SINR> in dB (manual range -20..30; field examples 11,
    # 14, 19); BG96 gives it in 1/5 dB (0..250), like +QCSQ. "-" = not available.
    f = _split(body)
    if _uq(f[0]).lower() != "servingcell":
        return  # neighbour-cell lines ("neighbourcell intra", ...): not a record
    if len(f) < 4:
        return
    rat = _qrat(f[2])
    if rat is None:
        errs.append("QENG: unknown RAT: " + _show(f[2]))
        return
    vals["rat"] = rat
    if rat == "GSM":
        if len(f) < 7:
            errs.append("QENG: short GSM line: " + _show(body))
            return
        mcc = _int(f[3])
        if mcc is not None:
            vals["mcc"] = mcc
        if _uq(f[4]).isdigit():
            vals["mnc"] = _uq(f[4])
        lac, cell = _hex(f[5]), _hex(f[6])
        if lac is not None:
            vals["lac"] = lac
        if cell is not None:
            vals["cell"] = cell
        if len(f) > 10:
            rx = _int(f[10])
            if rx is not None and rx < 0:
                vals["rssi"] = rx
        return
    if len(f) < 17:
        errs.append("QENG: short LTE line: " + _show(body))
        return
    mcc = _int(f[4])
    if mcc is not None:
        vals["mcc"] = mcc
    if _uq(f[5]).isdigit():
        vals["mnc"] = _uq(f[5])
    for i, key, conv in (
        (6, "cell", _hex),
        (7, "pci", _int),
        (8, "earfcn", _int),
        (9, "band", _int),
        (12, "tac", _hex),
    ):
        x = conv(f[i])
        if x is not None:
            vals[key] = x
        elif _uq(f[i]) not in ("", "-"):
            errs.append("QENG: bad %s: %s" % (key, _show(f[i])))
    for i, key in ((13, "rsrp"), (14, "rsrq"), (15, "rssi")):
        x = _int(f[i])
        if x is not None:
            vals[key] = x
    s = _int(f[16])
    if s is not None:
        if _model_is(model, "BG96"):
            vals["sinr"] = _qsinr(s)
        else:
            vals["sinr"] = s


def _h_qiact(body, vals, errs, model, kind):
    # BG95 manual AT+QIACT?: +QIACT: <contextID>,<context_state>,<context_type>[,<IP_address>].
    f = _split(body)
    if len(f) < 3 or _int(f[0]) is None:
        errs.append("QIACT: malformed: " + _show(body))
        return
    if _int(f[1]) == 1 and len(f) > 3 and "ip" not in vals:
        ip = _usable_ip(f[3])
        if ip:
            vals["ip"] = ip


HANDLERS = {
    "QPSMS": _h_qpsms,
    "QENG": _h_qeng,
    "QNWINFO": _h_qnwinfo,
    "QCSQ": _h_qcsq,
    "QIACT": _h_qiact,
}
