# Identity answer parsers (IMEI, IMSI, ICCID, firmware revision, model, ATI): read once per
# modem power-on (Modem.identities caches them), so mobiot_fw.cell.parse imports this module only
# on the first such answer. Each parser is named like the response prefix or the command whose
# answer is a bare line (cellular looks it up with getattr) and is called as
# P(line_or_body, vals, errs, model, kind). Contract: docs/modem.md; names: docs/records.md.
from mobiot_fw.cell.parse import show, unquote


def _digits(tag, s, lo, hi, errs):
    s = unquote(s).strip()
    if lo <= len(s) <= hi and s.isdigit():
        return s
    errs.append("%s: not %d..%d digits: %s" % (tag, lo, hi, show(s)))
    return None


def CGSN(body, vals, errs, model, kind):
    # TS 27.007 5.4 +CGSN (and V.250 +GSN): the IMEI, 15 digits (TS 23.003 6.2.1); IMEISV is 16.
    s = _digits("IMEI", body, 15, 16, errs)
    if s:
        vals["imei"] = s[:15] if len(s) == 15 else s


def CIMI(body, vals, errs, model, kind):
    # TS 27.007 5.6 +CIMI: IMSI, at most 15 digits (TS 23.003 2.2), MCC+MNC+MSIN >= 6.
    s = _digits("IMSI", body, 6, 15, errs)
    if s:
        vals["imsi"] = s


def ICCID(body, vals, errs, model, kind):
    # ICCID (ITU-T E.118): 19-20 digits; read with AT+CCID (SIM7000/SIM7080), AT+CICCID ->
    # +ICCID: (A76XX), AT+QCCID -> +QCCID: (BG95). Some SIMs pad with a trailing 'F'.
    s = unquote(body).strip().upper()
    while s.endswith("F"):
        s = s[:-1]
    s = _digits("ICCID", s, 18, 20, errs)
    if s:
        vals["iccid"] = s


def CGMR(body, vals, errs, model, kind):
    # TS 27.007 5.3 +CGMR / V.250 +GMR: free text; SIMCom prefixes "Revision:" (SIM7080 manual
    # AT+CGMR example "Revision:1951B17SIM7080").
    s = unquote(body).strip()
    if s.upper().startswith("REVISION:"):
        s = s[9:].strip()
    if s:
        vals["modem_fw"] = s
    else:
        errs.append("CGMR: empty revision")


def CGMM(body, vals, errs, model, kind):
    # TS 27.007 5.2 +CGMM / V.250 +GMM: model text, e.g. "SIMCOM_SIM7080G", "BG95-M3".
    s = unquote(body).strip()
    if s:
        vals["model"] = s


def ATI(s, vals, errs, model, idx):
    # ATI (V.250 6.1.3): SIMCom "Manufacturer: .../Model: .../Revision: .../IMEI: ...",
    # Quectel "Quectel / BG95-M3 / Revision: BG95M3LAR02A03".
    u = s.upper()
    if u.startswith("MODEL:"):
        vals["model"] = s[6:].strip()
    elif u.startswith("REVISION:"):
        vals["modem_fw"] = s[9:].strip()
    elif u.startswith("IMEI:"):
        CGSN(s[5:].strip(), vals, errs, model, "")
    elif idx == 1 and "model" not in vals and ":" not in s:
        vals["model"] = s
    elif idx == 0 and ":" not in s and s.count(" ") == 1:
        # SIMCom SIM7000/SIM800 ATI: one line "<model> R<revision>" ("SIM7000G R1529", field log
        # tests/data/modem_logs/field/sim7000g-lilygo-t-sim7000g-145.log)
        m, r = s.split(" ")
        if len(r) > 1 and r[0] == "R" and r[1].isdigit():
            vals["model"] = m
            vals["modem_fw"] = r


# The same answers under their other names: V.250 +GSN/+GMR/+GMM, the ICCID commands of each
# vendor (AT+CCID, AT+CICCID, AT+QCCID) and Quectel AT+QGMR.
GSN = CGSN
CCID = CICCID = QCCID = ICCID
GMR = QGMR = CGMR
GMM = CGMM
