# TS 27.007 answer parsers that every report reads (+CEREG/+CGREG/+CREG, +CSQ, +CESQ, +COPS,
# +CGPADDR, +CGDCONT, +CPSMS, +CEDRXS, +CEDRXRDP), the URCs of the same standard and the TS 24.008
# timer and eDRX decoders: imported by mobiot_fw.cell.parse on the first such line (attach polls
# +CEREG?), so importing the AT engine does not load them.
# Each parser is named like its response prefix (cellular looks it up with getattr) and is
# called as P(body, vals, errs, model, kind). Contract: docs/modem.md; names: docs/records.md.
from mobiot_fw.cell.parse import (
    bitfield,
    hexnum,
    num,
    model_is,
    plmn_into,
    show,
    split_fields,
    unquote,
    usable_ip,
    word,
)

# TS 27.007 10.1.22 <stat> (also 7.2, 10.1.20), one word per value. 6/7 "SMS only" and 9/10 "CSFB
# not preferred" are registered (home/roaming); 8 "attached for emergency bearer services only"
# has no normal service, so it is not_registered.
_REG = "not_registered home searching denied unknown roaming home roaming not_registered home roaming"

# TS 27.007 7.3 <AcT> (also +CREG/+CGREG/+CEREG 7.2, 10.1.20, 10.1.22): 0 GSM, 1 GSM Compact,
# 2 UTRAN, 3 GSM w/EGPRS, 4 UTRAN w/HSDPA, 5 UTRAN w/HSUPA, 6 UTRAN w/HSDPA and HSUPA,
# 7 E-UTRAN, 8 EC-GSM-IoT (A/Gb mode), 9 E-UTRAN (NB-S1 mode), 10 E-UTRA connected to a 5GCN,
# 11 NR connected to a 5GCN, 12 NG-RAN, 13 E-UTRA-NR dual connectivity. One rat name per radio
# (docs/records.md): GSM/EGPRS are GSM, the UTRAN values UMTS; 10 LTE-5GC, 11 NR (standalone),
# 12 NG-RAN (E-UTRA or NR, not said which), 13 EN-DC (NR non-standalone). The vendors' own
# meanings of 7 and 8 are in _rat_act.
_ACT_RAT = "GSM GSM UMTS GSM UMTS UMTS UMTS LTE EC-GSM-IoT NB-IoT LTE-5GC NR NG-RAN EN-DC"

# Every rat value a parser gives, the vendors' too (docs/records.md, rat; tests/host/
# test_rat_names.py keeps the two equal). Reached as mobiot_fw.cell.parse.RATS.
RATS = "GSM UMTS EC-GSM-IoT LTE LTE-M NB-IoT LTE-5GC NR NG-RAN EN-DC"

# TS 24.008 10.5.7.4a GPRS Timer 3, bits 8..6 of the octet: unit in seconds (index 7 =
# deactivated). 000 10 min, 001 1 h, 010 10 h, 011 2 s, 100 30 s, 101 1 min, 110 320 h.
_T3_UNIT_S = (600, 3600, 36000, 2, 30, 60, 1152000)

# TS 24.008 10.5.5.32 (Table 10.5.5.32) eDRX value, S1 mode, in units of 5.12 s:
# 5.12, 10.24, 20.48, 40.96, 61.44, 81.92, 102.4, 122.88, 143.36, 163.84, 327.68, 655.36,
# 1310.72, 2621.44, 5242.88, 10485.76 s.
_EDRX_512 = (1, 2, 4, 8, 12, 16, 20, 24, 28, 32, 64, 128, 256, 512, 1024, 2048)


def _timer(bits, units, other):
    # GPRS Timer 2/3 octet (8-char bit string or int): bits 8..6 unit (index into `units`,
    # `other` for a unit past the table), 5..1 value; unit 111 = deactivated -> None.
    v = bits if isinstance(bits, int) else bitfield(bits, 8)
    if v is None or v < 0 or v > 255:
        return None
    unit = v >> 5
    if unit == 7:
        return None
    return (v & 31) * (units[unit] if unit < len(units) else other)


def gprs_timer3_s(bits):
    """TS 24.008 10.5.7.4a GPRS Timer 3 octet (8-char bit string or int) -> seconds, or None
    when deactivated or malformed."""
    return _timer(bits, _T3_UNIT_S, None)


def gprs_timer2_s(bits):
    """TS 24.008 10.5.7.3 GPRS Timer / Timer 2 octet -> seconds, or None when deactivated."""
    # 000 2 s, 001 1 min, 010 decihours (6 min), 111 deactivated; "other values shall be
    # interpreted as multiples of 1 minute".
    return _timer(bits, (2, 60, 360), 60)


def edrx_s(act_type, bits):
    """TS 24.008 10.5.5.32 eDRX value (4-bit string or int) -> seconds for +CEDRXS <AcT-type>
    4 (E-UTRAN WB-S1, LTE-M) or 5 (E-UTRAN NB-S1, NB-IoT); None for other access types."""
    v = bits if isinstance(bits, int) else bitfield(bits, 4)
    if v is None or v < 0 or v > 15:
        return None
    if act_type == 5:
        # NB-S1 mode: values 0000, 0001, 0100, 0110, 0111, 1000 are interpreted as 0010 (20.48 s)
        if v in (0, 1, 4, 6, 7, 8):
            v = 2
    elif act_type == 4:
        if v > 13:
            v = 13  # 1110/1111 are NB-S1 only; WB-S1 interprets them as 1101
    else:
        return None
    return _EDRX_512[v] * 512 / 100  # integer product first: exact decimal, no float drift


def ptw_s(act_type, bits):
    """TS 24.008 10.5.5.32 paging time window (4-bit) -> seconds: (v+1) x 1.28 s in WB-S1 mode,
    (v+1) x 2.56 s in NB-S1 mode."""
    v = bits if isinstance(bits, int) else bitfield(bits, 4)
    if v is None or v < 0 or v > 15:
        return None
    if act_type == 4:
        return (v + 1) * 128 / 100
    if act_type == 5:
        return (v + 1) * 256 / 100
    return None


def _rat_act(act, model):
    # Quectel BG95/BG77/BG600L and BG96 report eMTC as <AcT> 8 (BG95 and BG96 AT Commands
    # Manuals, AT+COPS/AT+CEREG <AcT>: "8 eMTC"), not 27.007's EC-GSM-IoT.
    if act == 8 and model_is(model, "BG95", "BG77", "BG600", "BG96"):
        return "LTE-M"
    rat = word(_ACT_RAT, act)
    # Modules that only do Cat-M/NB-IoT (+ GSM fallback): their AcT 7 is LTE-M, not full LTE
    # (SIM7000/SIM7080 manuals, AT+COPS <AcT> "7 CAT-M / 9 NB-IoT"; BG95/BG96 manuals). Every
    # other model (the Cat 1 modules, a generic modem) keeps 27.007's E-UTRAN: LTE.
    if rat == "LTE" and model_is(model, "SIM7000", "SIM7070", "SIM7080", "SIM7090", "BG95", "BG77", "BG600", "BG96"):
        return "LTE-M"
    return rat


def reg(name, g, vals, errs, model):
    """+CEREG/+CGREG/+CREG fields from <stat> on (cellular._reg_fields) into record values."""
    # g starts at <stat>: [stat, tac/lac, ci, AcT, (CGREG: rac,) cause_type, reject_cause,
    # (CEREG/CGREG: Active-Time, Periodic-TAU/RAU ...)]. TS 27.007 10.1.22 (CEREG),
    # 10.1.20 (CGREG), 7.2 (CREG).
    r = word(_REG, num(g[0]))
    if r is None:
        errs.append("%s: bad stat: %s" % (name, show(g[0])))
        return
    vals["reg"] = r
    area = "tac" if name == "CEREG" else "lac"
    if len(g) > 1 and unquote(g[1]):
        a = hexnum(g[1])
        if a is None:
            errs.append("%s: bad %s: %s" % (name, area, show(g[1])))
        else:
            vals[area] = a
    if len(g) > 2 and unquote(g[2]):
        c = hexnum(g[2])
        if c is None:
            errs.append("%s: bad ci: %s" % (name, show(g[2])))
        else:
            vals["cell"] = c
    if len(g) > 3 and g[3]:
        rat = _rat_act(num(g[3]), model)
        if rat:
            vals["rat"] = rat
    if name == "CEREG":
        # n=4/5: <Active-Time> (T3324, GPRS Timer 2) and <Periodic-TAU> (T3412 extended,
        # GPRS Timer 3) as 8-bit strings, fields 7 and 8 after <stat> (TS 27.007 10.1.22).
        for i, key, dec in ((6, "t3324_s", gprs_timer2_s), (7, "t3412_s", gprs_timer3_s)):
            if len(g) > i and unquote(g[i]):
                t = bitfield(g[i], 8)
                if t is None:
                    errs.append("CEREG: bad %s: %s" % ("Active-Time" if i == 6 else "Periodic-TAU", show(g[i])))
                elif dec(t) is not None:
                    vals[key] = dec(t)
    elif name == "CGREG" and len(g) > 7 and unquote(g[7]):
        t = bitfield(g[7], 8)
        if t is not None and gprs_timer2_s(t) is not None:
            vals["t3324_s"] = gprs_timer2_s(t)


def CSQ(body, vals, errs, model, kind):
    # TS 27.007 8.5: <rssi> 0 -113 dBm or less, 1 -111, 2..30 -109..-53, 31 -51 or greater,
    # 99 unknown -> -113 + 2n over 0..31. <ber> 0..7 (RXQUAL, TS 45.008 8.2.4: 0 below 0.2 %
    # .. 7 above 12.8 %) is the record ber; 99 (not known) is omitted.
    f = split_fields(body)
    rssi = num(f[0])
    if rssi is None or len(f) < 2:
        errs.append("CSQ: malformed: " + show(body))
        return
    if 0 <= rssi <= 31:
        vals["rssi"] = -113 + 2 * rssi
    elif rssi != 99:
        errs.append("CSQ: rssi index out of range: %d" % rssi)
    ber = num(f[1])
    if ber is not None and 0 <= ber <= 7:
        vals["ber"] = ber
    elif ber != 99:
        errs.append("CSQ: bad ber: " + show(f[1]))


def CESQ(body, vals, errs, model, kind):
    # TS 27.007 8.69: <rxlev>,<ber>,<rscp>,<ecno>,<rsrq>,<rsrp>; 99/255 = not known.
    # rxlev (TS 45.008 8.1.4): 0 < -110 dBm, n: -111+n .. -110+n dBm -> rssi = -111 + n.
    # rsrq (TS 36.133 9.1.7): 0 < -19.5 dB, n: -20+n/2 .. -19.5+n/2, 34 >= -3 dB -> -20 + n/2.
    # rsrp (TS 36.133 9.1.4): 0 < -140 dBm, n: -141+n .. -140+n, 97 >= -44 dBm -> -141 + n.
    # rscp/ecno are UTRAN-only and have no record: validated, not reported.
    f = split_fields(body)
    if len(f) < 6:
        errs.append("CESQ: expected 6 fields: " + show(body))
        return
    top = (63, 7, 96, 49, 34, 97)  # highest valid value per field; unknown: 99 (first two), 255
    v = [0, 0, 0, 0, 0, 0]
    for i in range(6):
        x = num(f[i])
        unk = 99 if i < 2 else 255
        if x is None or not (0 <= x <= top[i] or x == unk):
            errs.append("CESQ: field %d out of range: %s" % (i + 1, show(f[i])))
            x = unk
        v[i] = x
    if v[0] != 99:
        vals["rssi"] = -111 + v[0]
    if v[4] != 255:
        vals["rsrq"] = -20 + v[4] / 2
    if v[5] != 255:
        vals["rsrp"] = -141 + v[5]


def COPS(body, vals, errs, model, kind):
    # TS 27.007 7.3: +COPS: <mode>[,<format>,<oper>[,<AcT>]]; format 0/1 alphanumeric, 2 numeric.
    f = split_fields(body)
    mode = num(f[0])
    if mode is None:
        errs.append("COPS: malformed: " + show(body))
        return
    if len(f) >= 3:
        fmt = num(f[1])
        oper = unquote(f[2])
        if fmt == 2:
            plmn_into(oper, vals, errs, "COPS")
        elif oper:
            vals["oper"] = oper
        if len(f) >= 4 and f[3]:
            rat = _rat_act(num(f[3]), model)
            if rat:
                vals["rat"] = rat


def CGPADDR(body, vals, errs, model, kind):
    # TS 27.007 10.1.14: +CGPADDR: <cid>[,<PDP_addr_1>[,<PDP_addr_2>]], one line per context.
    f = split_fields(body)
    if num(f[0]) is None:
        errs.append("CGPADDR: bad cid: " + show(body))
        return
    if "ip" in vals:
        return
    for a in f[1:]:
        ip = usable_ip(a)
        if ip:
            vals["ip"] = ip
            return


def CGDCONT(body, vals, errs, model, kind):
    # TS 27.007 10.1.1: +CGDCONT: <cid>,<PDP_type>,<APN>,<PDP_addr>,...; first defined APN wins
    # (contexts are listed in cid order).
    f = split_fields(body)
    if len(f) < 3 or num(f[0]) is None:
        errs.append("CGDCONT: malformed: " + show(body))
        return
    apn = unquote(f[2])
    if apn and "apn" not in vals:
        vals["apn"] = apn


def psm_into(tag, f, vals, errs, seconds_ok):
    # TS 27.007 7.38: <mode>,[<Requested_Periodic-RAU>],[<Requested_GPRS-READY-timer>],
    # [<Requested_Periodic-TAU>],[<Requested_Active-Time>]; TAU is GPRS Timer 3 (T3412 ext),
    # Active-Time is GPRS Timer 2 (T3324), both as 8-bit strings. Quectel +QPSMS (BG95 manual
    # AT+QPSMS) gives the same fields in seconds, so bare integers are taken as seconds there.
    mode = num(f[0])
    if mode is None or mode not in (0, 1):
        errs.append("%s: bad mode: %s" % (tag, show(f[0])))
        return
    vals["psm"] = mode == 1
    for idx, key, dec in ((3, "t3412_s", gprs_timer3_s), (4, "t3324_s", gprs_timer2_s)):
        if len(f) <= idx or not unquote(f[idx]):
            continue
        b = bitfield(f[idx], 8)
        if b is not None:
            s = dec(b)
        elif seconds_ok and num(f[idx]) is not None:
            s = num(f[idx])
        else:
            errs.append("%s: bad timer: %s" % (tag, show(f[idx])))
            continue
        if s is not None:
            vals[key] = s


def CPSMS(body, vals, errs, model, kind):
    psm_into("CPSMS", split_fields(body), vals, errs, False)


def _edrx_into(tag, f, vals, errs):
    # TS 27.007 7.41 +CEDRXRDP / 7.40 +CEDRXP: <AcT-type>[,<Requested_eDRX_value>
    # [,<NW-provided_eDRX_value>[,<Paging_time_window>]]]; AcT-type 0 = eDRX not in use,
    # 4 = E-UTRAN WB-S1 (LTE-M), 5 = E-UTRAN NB-S1 (NB-IoT). The network-provided value is the
    # one in force, so it wins over the requested one.
    act = num(f[0])
    if act is None:
        errs.append("%s: bad AcT-type: %s" % (tag, show(f[0])))
        return
    if act == 0:
        vals["edrx"] = False
        return
    vals["edrx"] = True
    val = None
    for i in (2, 1):
        if len(f) > i and unquote(f[i]):
            val = unquote(f[i])
            break
    if val is not None:
        s = edrx_s(act, val)
        if s is None and act in (4, 5):
            errs.append("%s: bad eDRX value: %s" % (tag, show(val)))
        elif s is not None:
            vals["edrx_s"] = s
    if len(f) > 3 and unquote(f[3]):
        p = ptw_s(act, unquote(f[3]))
        if p is None and act in (4, 5):
            errs.append("%s: bad paging time window: %s" % (tag, show(f[3])))
        elif p is not None:
            vals["ptw_s"] = p


def CEDRXRDP(body, vals, errs, model, kind):
    _edrx_into("CEDRXRDP", split_fields(body), vals, errs)


def CEDRXS(body, vals, errs, model, kind):
    # TS 27.007 7.40 read: +CEDRXS: <AcT-type>,<Requested_eDRX_value> per enabled access type.
    f = split_fields(body)
    act = num(f[0])
    if act is None:
        errs.append("CEDRXS: malformed: " + show(body))
        return
    if act == 0 or len(f) < 2 or not unquote(f[1]):
        vals.setdefault("edrx", False)
        return
    vals["edrx"] = True
    s = edrx_s(act, unquote(f[1]))
    if s is not None:
        vals["edrx_s"] = s
    elif act in (4, 5):
        errs.append("CEDRXS: bad eDRX value: " + show(f[1]))


def urc(name, body, vals, errs):
    """Values of a +CEDRXP or +CSCON URC (mobiot_fw.cell.parse.parse_urc)."""
    if name == "CEDRXP":
        # TS 27.007 7.40 +CEDRXP: the fields of a +CEDRXRDP answer (7.41)
        _edrx_into(name, split_fields(body), vals, errs)
        return
    # TS 27.007 10.1.30: +CSCON: <mode>[,...]; 1 = RRC connected
    m = num(split_fields(body)[0])
    if m is None:
        errs.append("bad")
    else:
        vals["connected"] = m == 1
