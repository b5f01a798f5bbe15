# Cellular AT response parsers: pure functions from response lines to record values.
#
# Contract: docs/modem.md (this API) and docs/records.md (record names and units).
# No I/O, no time, no module state mutated: the AT engine (mobiot_fw.at), the modem drivers,
# the modem simulator and `mobiot modem decode` (sim/decode_main.py) all call the same
# functions, so a captured log replays into exactly the code that runs on the board.
# Runs on MicroPython (ESP32 and unix port) and on CPython.
#
# Sources, cited next to each table:
#   3GPP TS 27.007 (AT command set), TS 27.005 (SMS, +CMS ERROR), TS 24.008 (GPRS timer and eDRX
#   encodings), TS 36.133 / TS 45.008 (measurement report mappings).
#   SIMCom "SIM7080 Series AT Command Manual" (V1.0x numbering), "SIM7000 Series AT Command
#   Manual" V1.04, "A76XX Series AT Command Manual"; Quectel "BG95&BG77&BG600L Series AT Commands
#   Manual", "BG96 AT Commands Manual".
from micropython import const


# classify() results.
FINAL_OK = const(0)
FINAL_ERROR = const(1)
URC = const(2)
DATA = const(3)
ECHO = const(4)

# --- tables -----------------------------------------------------------------------------------

# Final result codes other than OK/ERROR/+CME/+CMS. V.250 5.7.1 (NO CARRIER, BUSY, ...), plus the
# socket finals SIMCom (SIM7000 manual ch. 8, AT+CIPSEND/CIPCLOSE/CIPSHUT) and Quectel (BG95
# manual AT+QISEND) use in place of OK.
_FINAL_OK_WORDS = ("SEND OK", "CLOSE OK", "SHUT OK")
_FINAL_ERR_WORDS = ("NO CARRIER", "NO DIALTONE", "BUSY", "NO ANSWER", "SEND FAIL", "ABORTED")

# Unprefixed unsolicited lines. SIMCom: RDY/SMS Ready/Call Ready/NORMAL POWER DOWN/voltage
# warnings (SIM7000 manual 1.7 "unsolicited result codes"); Quectel: RDY/APP RDY/POWERED DOWN
# (BG95 manual 1.x "URCs"); TCP/IP application URCs that arrive after OK (SIM7000 ch. 8).
_URC_WORDS = (
    "RDY",
    "APP RDY",
    "SMS Ready",
    "Call Ready",
    "NORMAL POWER DOWN",
    "POWERED DOWN",
    "UNDER-VOLTAGE POWER DOWN",
    "UNDER-VOLTAGE WARNNING",
    "OVER-VOLTAGE POWER DOWN",
    "OVER-VOLTAGE WARNNING",
    "CONNECT OK",
    "CONNECT FAIL",
    "ALREADY CONNECT",
    "CLOSED",
    "PDP DEACT",
    "RING",
    "SMS DONE",
    "PB DONE",
)

# Prefixed lines that are always unsolicited. 27.007: +CGEV (10.1.19), +CSCON (10.1.30),
# +CEDRXP (7.40), +CTZV/+CTZE/+CTZEU (8.41/8.45), +CMTI (27.005 3.4.1); SIMCom: *PSUTTZ, DST,
# *PSNWID (SIM7000 manual, AT+CLTS), +APP PDP (SIM7080 7.2.1 AT+CNACT), +CADATAIND, +CASTATE
# (SIM7080 CA socket URCs); A76XX: *ATREADY, SMS DONE, PB DONE (A76XX manual URC list);
# Quectel: +QIND, +QIURC, +QUSIM, +QPSMTIMER (BG95 manual).
_URC_NAMES = (
    "CGEV",
    "CSCON",
    "CEDRXP",
    "CTZV",
    "CTZE",
    "CTZEU",
    "CMTI",
    "PSUTTZ",
    "PSNWID",
    "DST",
    "APP PDP",
    "CADATAIND",
    "CASTATE",
    "QIND",
    "QIURC",
    "QUSIM",
    "QPSMTIMER",
    "PDP",
    "SMSTATE",
    "ATREADY",
)

# Prefixed lines that are the answer to their read command (AT+X?) and unsolicited otherwise.
_READ_OR_URC = ("CEREG", "CGREG", "CREG", "CNSMOD", "CPSMSTATUS", "CPIN", "CFUN")

# Response prefixes that carry nothing for the records: accepted silently.
_NO_RECORD = (
    "CPIN",
    "CFUN",
    "CGATT",
    "CMEE",
    "CGACT",
    "CSCON",
    "CPSMSTATUS",
    "CNMP",
    "CMNB",
    "CBANDCFG",
    "QCFG",
    "QPSMEXTCFG",
    "CTZR",
    "CTZU",
    "CLTS",
    "CCLK",
    "QLTS",
    "CNCFG",
    "QICSGP",
)

# TS 27.007 10.1.22 <stat> (also 7.2, 10.1.20). 6/7 "SMS only" and 9/10 "CSFB not preferred" are
# registered (home/roaming); 8 "attached for emergency bearer services only" has no normal
# service, so it is not_registered.
_REG = (
    "not_registered",
    "home",
    "searching",
    "denied",
    "unknown",
    "roaming",
    "home",
    "roaming",
    "not_registered",
    "home",
    "roaming",
)

# TS 27.007 7.3 <AcT>: 0 GSM, 1 GSM Compact, 3 GSM w/EGPRS, 7 E-UTRAN, 9 E-UTRAN (NB-S1 mode).
# 8 is EC-GSM-IoT in 27.007, but Quectel BG95/BG96 (+COPS/+CEREG <AcT>) use 8 for eMTC and no
# module we support does EC-GSM-IoT, so 8 -> LTE-M. 2/4/5/6 (UTRAN) have no rat name: omitted.
_ACT_RAT = ("GSM", "GSM", None, "GSM", None, None, None, "LTE", "LTE-M", "NB-IoT")

# Modules that only do Cat-M/NB-IoT (+ GSM fallback): their AcT 7 is LTE-M, not full LTE
# (SIM7000/SIM7080 manuals, AT+COPS <AcT> "7 CAT-M / 9 NB-IoT").
_CATM_ONLY = ("SIM7000", "SIM7070", "SIM7080", "SIM7090", "BG95", "BG77", "BG600", "BG96")


# TS 24.008 10.5.7.4a GPRS Timer 3, bits 8..6 of the octet: unit in seconds (index 7 =
# deactivated). 000 10 min, 001 1 h, 010 10 h, 011 2 s, 100 30 s, 101 1 min, 110 320 h.
_T3_UNIT_S = (600, 3600, 36000, 2, 30, 60, 1152000)
# TS 24.008 10.5.7.3 GPRS Timer (used by GPRS Timer 2): 000 2 s, 001 1 min, 010 decihours
# (6 min), 111 deactivated; "other values shall be interpreted as multiples of 1 minute".
_T2_UNIT_S = (2, 60, 360)

# TS 24.008 10.5.5.32 (Table 10.5.5.32) eDRX value, S1 mode, in units of 5.12 s:
# 5.12, 10.24, 20.48, 40.96, 61.44, 81.92, 102.4, 122.88, 143.36, 163.84, 327.68, 655.36,
# 1310.72, 2621.44, 5242.88, 10485.76 s.
_EDRX_512 = (1, 2, 4, 8, 12, 16, 20, 24, 28, 32, 64, 128, 256, 512, 1024, 2048)
# NB-S1 mode: values 0000, 0001, 0100, 0110, 0111, 1000 are interpreted as 0010 (20.48 s).
_EDRX_NB_AS_0010 = (0, 1, 4, 6, 7, 8)


_MAX_SHOW = const(60)  # characters of a bad line quoted in an error message

# --- small helpers ----------------------------------------------------------------------------


def _show(s):
    return s if len(s) <= _MAX_SHOW else s[:_MAX_SHOW] + "..."


def _split(body):
    # Comma-separated fields, commas inside double quotes kept; quotes are kept so callers can
    # tell a quoted hex string from a bare integer (the +CEREG URC/response shapes differ so).
    out = []
    start = 0
    inq = False
    i = 0
    n = len(body)
    while i < n:
        c = body[i]
        if c == '"':
            inq = not inq
        elif c == "," and not inq:
            out.append(body[start:i].strip())
            start = i + 1
        i += 1
    out.append(body[start:].strip())
    return out


def _uq(f):
    if len(f) >= 2 and f[0] == '"' and f[-1] == '"':
        return f[1:-1].strip()
    return f


def _int(f):
    # Decimal integer field; None when empty, "-" (Quectel "not available") or not a number.
    f = _uq(f)
    if not f or f == "-":
        return None
    try:
        return int(f)
    except ValueError:
        return None


def _hex(f):
    f = _uq(f)
    if f[:2] in ("0x", "0X"):
        f = f[2:]
    if not f or f == "-":
        return None
    try:
        return int(f, 16)
    except ValueError:
        return None


def _bits(f, width):
    # A bit-string field such as "00100100"; None unless exactly `width` binary digits.
    f = _uq(f)
    if len(f) != width:
        return None
    for c in f:
        if c != "0" and c != "1":
            return None
    return int(f, 2)


def _head(s):
    # "+CSQ: 20,99" -> ("CSQ", "20,99"); "*PSUTTZ: ..." -> ("PSUTTZ", ...); else (None, s).
    if s and s[0] in "+*^" and ":" in s:
        i = s.index(":")
        return s[1:i].strip().upper(), s[i + 1 :].strip()
    if s.startswith("DST:"):
        return "DST", s[4:].strip()
    return None, s


def _is_cmd(s):
    # A command line as sent: "AT" followed by an extended (+&#%$^*) or basic command. Basic
    # commands are one letter then end/digit/punctuation, so data such as "ATTACHED" is not one.
    if len(s) < 2 or s[:2].upper() != "AT":
        return False
    if len(s) == 2:
        return True
    c = s[2]
    if c in "+&#%$^*\\":
        return True
    if c.isalpha():
        return len(s) == 3 or not s[3].isalpha()
    return False


def _cmd_names(command):
    # "AT+CREG?;+CGREG?" -> (("CREG", "?"), ("CGREG", "?")); kinds: "?" read, "=?" test, "=" set,
    # "" execute. Basic commands: "ATI" -> ("I", ""), "AT+GSN" -> ("GSN", "").
    if not command:
        return ()
    s = command.strip()
    if s[:2].upper() == "AT":
        s = s[2:]
    out = []
    for part in s.split(";"):
        part = part.strip()
        if not part:
            continue
        if part[0] in "+&#%$^*":
            part = part[1:]
        kind = ""
        for i in range(len(part)):
            c = part[i]
            if c == "?":
                kind = "?"
                part = part[:i]
                break
            if c == "=":
                kind = "=?" if part[i + 1 : i + 2] == "?" else "="
                part = part[:i]
                break
        name = part.strip().upper()
        if len(name) > 1 and name[0] in "EVIQZ" and name[1:].isdigit():
            name = name[0]  # basic command with a numeric argument: "E0", "V1", "I0"
        out.append((name, kind))
    return tuple(out)


def _kind(names, name):
    for n, k in names:
        if n == name:
            return k
    return None


def _final(s):
    if s == "OK":
        return FINAL_OK
    if s == "ERROR" or s.startswith("+CME ERROR") or s.startswith("+CMS ERROR"):
        return FINAL_ERROR
    if s in _FINAL_ERR_WORDS:
        return FINAL_ERROR
    if s in _FINAL_OK_WORDS:
        return FINAL_OK
    if s == "CONNECT" or (s.startswith("CONNECT ") and s[8:].strip().isdigit()):
        return FINAL_OK  # V.250 5.7.1: CONNECT [<rate>] ends the command phase
    return None


def _reg_fields(name, body):
    # Return the fields of a +CEREG/+CGREG/+CREG line starting at <stat>, and whether the line
    # had the read-response shape (<n> first). TS 27.007 10.1.22: the read response is
    # "<n>,<stat>[,[<tac>],..." and the URC "<stat>[,[<tac>],..."; <tac>/<lac> is a quoted hex
    # string, so the first quoted field tells the shapes apart.
    f = _split(body)
    if len(f) == 1:
        return f, False
    if f[1][:1] == '"':
        return f, False
    if len(f) == 2 or f[2][:1] == '"':
        return f[1:], True
    if name == "CEREG" and len(f) in (5, 7, 9):
        return f[1:], True  # unquoted hex from a lax module: fall back on the field count
    if name != "CEREG" and len(f) in (2, 4, 5, 7):
        return f[1:], True
    return f, False


def _rat_act(act, model):
    if act is None or act < 0 or act >= len(_ACT_RAT):
        return None
    rat = _ACT_RAT[act]
    if rat == "LTE" and _catm_only(model):
        return "LTE-M"
    return rat


def _catm_only(model):
    if not model:
        return False
    m = model.upper()
    for p in _CATM_ONLY:
        if p in m:
            return True
    return False


def _model_is(model, *prefixes):
    if not model:
        return False
    m = model.upper()
    for p in prefixes:
        if p in m:
            return True
    return False


# --- public decoders (also used by drivers and the simulator) -------------------------------


def gprs_timer3_s(bits):
    """TS 24.008 10.5.7.4a GPRS Timer 3 octet (8-char bit string or int) -> seconds, or None
    when deactivated or malformed."""
    v = bits if isinstance(bits, int) else _bits(bits, 8)
    if v is None or v < 0 or v > 255:
        return None
    unit = v >> 5
    if unit == 7:
        return None
    return (v & 31) * _T3_UNIT_S[unit]


def gprs_timer2_s(bits):
    """TS 24.008 10.5.7.3 GPRS Timer / Timer 2 octet -> seconds, or None when deactivated."""
    v = bits if isinstance(bits, int) else _bits(bits, 8)
    if v is None or v < 0 or v > 255:
        return None
    unit = v >> 5
    if unit == 7:
        return None
    return (v & 31) * (_T2_UNIT_S[unit] if unit < 3 else 60)


def edrx_s(act_type, bits):
    """TS 24.008 10.5.5.32 eDRX value (4-bit string or int) -> seconds for +CEDRXS <AcT-type>
    4 (E-UTRAN WB-S1, LTE-M) or 5 (E-UTRAN NB-S1, NB-IoT); None for other access types."""
    v = bits if isinstance(bits, int) else _bits(bits, 4)
    if v is None or v < 0 or v > 15:
        return None
    if act_type == 5:
        if v in _EDRX_NB_AS_0010:
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
    v = bits if isinstance(bits, int) else _bits(bits, 4)
    if v is None or v < 0 or v > 15:
        return None
    if act_type == 4:
        return (v + 1) * 128 / 100
    if act_type == 5:
        return (v + 1) * 256 / 100
    return None


def final_error(line):
    """'+CME ERROR: 10' -> 'CME 10 (SIM not inserted)'; 'ERROR' -> 'ERROR'; other error finals
    (NO CARRIER, SEND FAIL, ...) -> the line itself; None if the line is not an error final."""
    s = line.strip()
    if _final(s) != FINAL_ERROR:
        return None
    from mobiot_fw.cell_errors import _CME, _CMS  # texts loaded only when an error is shown

    for tag, table in (("CME", _CME), ("CMS", _CMS)):
        if s.startswith("+" + tag + " ERROR"):
            arg = s[len(tag) + 7 :].lstrip(":").strip()
            try:
                code = int(arg)
            except ValueError:
                return "%s %s" % (tag, arg) if arg else tag
            for c, text in table:
                if c == code:
                    return "%s %d (%s)" % (tag, code, text)
            return "%s %d" % (tag, code)
    return s


# --- per-command handlers: h(body, vals, errs, model, kind) ------------------------------------


def _h_csq(body, vals, errs, model, kind):
    # TS 27.007 8.5: <rssi> 0 -113 dBm or less, 1 -111, 2..30 -109..-53, 31 -51 or greater,
    # 99 unknown -> -113 + 2n over 0..31. <ber> 0..7 (RXQUAL, TS 45.008 8.2.4) or 99: validated
    # only (no record for it).
    f = _split(body)
    rssi = _int(f[0])
    if rssi is None or len(f) < 2:
        errs.append("CSQ: malformed: " + _show(body))
        return
    if 0 <= rssi <= 31:
        vals["rssi"] = -113 + 2 * rssi
    elif rssi != 99:
        errs.append("CSQ: rssi index out of range: %d" % rssi)
    ber = _int(f[1])
    if ber is None or not (0 <= ber <= 7 or ber == 99):
        errs.append("CSQ: bad ber: " + _show(f[1]))


def _h_cesq(body, vals, errs, model, kind):
    # TS 27.007 8.69: <rxlev>,<ber>,<rscp>,<ecno>,<rsrq>,<rsrp>; 99/255 = not known.
    # rxlev (TS 45.008 8.1.4): 0 < -110 dBm, n: -111+n .. -110+n dBm -> rssi = -111 + n.
    # rsrq (TS 36.133 9.1.7): 0 < -19.5 dB, n: -20+n/2 .. -19.5+n/2, 34 >= -3 dB -> -20 + n/2.
    # rsrp (TS 36.133 9.1.4): 0 < -140 dBm, n: -141+n .. -140+n, 97 >= -44 dBm -> -141 + n.
    # rscp/ecno are UTRAN-only and have no record: validated, not reported.
    f = _split(body)
    if len(f) < 6:
        errs.append("CESQ: expected 6 fields: " + _show(body))
        return
    lim = ((63, 99), (7, 99), (96, 255), (49, 255), (34, 255), (97, 255))
    v = [0, 0, 0, 0, 0, 0]
    for i in range(6):
        x = _int(f[i])
        if x is None or not (0 <= x <= lim[i][0] or x == lim[i][1]):
            errs.append("CESQ: field %d out of range: %s" % (i + 1, _show(f[i])))
            x = lim[i][1]
        v[i] = x
    if v[0] != 99:
        vals["rssi"] = -111 + v[0]
    if v[4] != 255:
        vals["rsrq"] = -20 + v[4] / 2
    if v[5] != 255:
        vals["rsrp"] = -141 + v[5]


def _reg_into(name, g, vals, errs, model):
    # g starts at <stat>: [stat, tac/lac, ci, AcT, (CGREG: rac,) cause_type, reject_cause,
    # (CEREG/CGREG: Active-Time, Periodic-TAU/RAU ...)]. TS 27.007 10.1.22 (CEREG),
    # 10.1.20 (CGREG), 7.2 (CREG).
    stat = _int(g[0])
    if stat is None or stat < 0 or stat >= len(_REG):
        errs.append("%s: bad stat: %s" % (name, _show(g[0])))
        return
    vals["reg"] = _REG[stat]
    area = "tac" if name == "CEREG" else "lac"
    if len(g) > 1 and _uq(g[1]):
        a = _hex(g[1])
        if a is None:
            errs.append("%s: bad %s: %s" % (name, area, _show(g[1])))
        else:
            vals[area] = a
    if len(g) > 2 and _uq(g[2]):
        c = _hex(g[2])
        if c is None:
            errs.append("%s: bad ci: %s" % (name, _show(g[2])))
        else:
            vals["cell"] = c
    if len(g) > 3 and g[3]:
        rat = _rat_act(_int(g[3]), model)
        if rat:
            vals["rat"] = rat
    if name == "CEREG":
        # n=4/5: <Active-Time> (T3324, GPRS Timer 2) and <Periodic-TAU> (T3412 extended,
        # GPRS Timer 3) as 8-bit strings, fields 7 and 8 after <stat> (TS 27.007 10.1.22).
        if len(g) > 6 and _uq(g[6]):
            t = _bits(g[6], 8)
            if t is None:
                errs.append("CEREG: bad Active-Time: " + _show(g[6]))
            elif gprs_timer2_s(t) is not None:
                vals["t3324_s"] = gprs_timer2_s(t)
        if len(g) > 7 and _uq(g[7]):
            t = _bits(g[7], 8)
            if t is None:
                errs.append("CEREG: bad Periodic-TAU: " + _show(g[7]))
            elif gprs_timer3_s(t) is not None:
                vals["t3412_s"] = gprs_timer3_s(t)
    elif name == "CGREG" and len(g) > 7 and _uq(g[7]):
        t = _bits(g[7], 8)
        if t is not None and gprs_timer2_s(t) is not None:
            vals["t3324_s"] = gprs_timer2_s(t)


def _h_reg(name):
    def h(body, vals, errs, model, kind):
        g, _resp = _reg_fields(name, body)
        _reg_into(name, g, vals, errs, model)

    return h


def _plmn_into(oper, vals, errs, tag):
    # Numeric PLMN "26201" / "310410": MCC is 3 digits, MNC the remaining 2 or 3 (TS 27.007 7.3
    # numeric <oper>, TS 24.008 10.5.1.3). MNC stays a string: "01" and "001" are different
    # networks, so an int would lose information.
    if len(oper) in (5, 6) and oper.isdigit():
        vals["mcc"] = int(oper[:3])
        vals["mnc"] = oper[3:]
        return True
    errs.append("%s: bad numeric operator: %s" % (tag, _show(oper)))
    return False


def _h_cops(body, vals, errs, model, kind):
    # TS 27.007 7.3: +COPS: <mode>[,<format>,<oper>[,<AcT>]]; format 0/1 alphanumeric, 2 numeric.
    f = _split(body)
    mode = _int(f[0])
    if mode is None:
        errs.append("COPS: malformed: " + _show(body))
        return
    if len(f) >= 3:
        fmt = _int(f[1])
        oper = _uq(f[2])
        if fmt == 2:
            _plmn_into(oper, vals, errs, "COPS")
        elif oper:
            vals["oper"] = oper
        if len(f) >= 4 and f[3]:
            rat = _rat_act(_int(f[3]), model)
            if rat:
                vals["rat"] = rat


def _ipv6_dotted(a):
    # TS 27.007 10.1.14 / +CGPIAF: IPv6 may be reported as 16 dot-separated decimal bytes.
    p = a.split(".")
    if len(p) != 16:
        return a
    out = []
    for i in range(0, 16, 2):
        out.append("%x" % (int(p[i]) * 256 + int(p[i + 1])))
    return ":".join(out)


def _usable_ip(a):
    a = _uq(a)
    if not a:
        return None
    if a.count(".") == 15:
        a = _ipv6_dotted(a)
    for c in a:
        if c not in "0.:":
            return a
    return None  # 0.0.0.0 / :: = no address


def _h_cgpaddr(body, vals, errs, model, kind):
    # TS 27.007 10.1.14: +CGPADDR: <cid>[,<PDP_addr_1>[,<PDP_addr_2>]], one line per context.
    f = _split(body)
    if _int(f[0]) is None:
        errs.append("CGPADDR: bad cid: " + _show(body))
        return
    if "ip" in vals:
        return
    for a in f[1:]:
        ip = _usable_ip(a)
        if ip:
            vals["ip"] = ip
            return


def _h_cgdcont(body, vals, errs, model, kind):
    # TS 27.007 10.1.1: +CGDCONT: <cid>,<PDP_type>,<APN>,<PDP_addr>,...; first defined APN wins
    # (contexts are listed in cid order).
    f = _split(body)
    if len(f) < 3 or _int(f[0]) is None:
        errs.append("CGDCONT: malformed: " + _show(body))
        return
    apn = _uq(f[2])
    if apn and "apn" not in vals:
        vals["apn"] = apn


def _psm_into(tag, f, vals, errs, seconds_ok):
    # TS 27.007 7.38: <mode>,[<Requested_Periodic-RAU>],[<Requested_GPRS-READY-timer>],
    # [<Requested_Periodic-TAU>],[<Requested_Active-Time>]; TAU is GPRS Timer 3 (T3412 ext),
    # Active-Time is GPRS Timer 2 (T3324), both as 8-bit strings. Quectel +QPSMS (BG95 manual
    # AT+QPSMS) gives the same fields in seconds, so bare integers are taken as seconds there.
    mode = _int(f[0])
    if mode is None or mode not in (0, 1):
        errs.append("%s: bad mode: %s" % (tag, _show(f[0])))
        return
    vals["psm"] = mode == 1
    for idx, key, dec in ((3, "t3412_s", gprs_timer3_s), (4, "t3324_s", gprs_timer2_s)):
        if len(f) <= idx or not _uq(f[idx]):
            continue
        b = _bits(f[idx], 8)
        if b is not None:
            s = dec(b)
        elif seconds_ok and _int(f[idx]) is not None:
            s = _int(f[idx])
        else:
            errs.append("%s: bad timer: %s" % (tag, _show(f[idx])))
            continue
        if s is not None:
            vals[key] = s


def _h_cpsms(body, vals, errs, model, kind):
    _psm_into("CPSMS", _split(body), vals, errs, False)


def _edrx_into(tag, f, vals, errs):
    # TS 27.007 7.41 +CEDRXRDP / 7.40 +CEDRXP: <AcT-type>[,<Requested_eDRX_value>
    # [,<NW-provided_eDRX_value>[,<Paging_time_window>]]]; AcT-type 0 = eDRX not in use,
    # 4 = E-UTRAN WB-S1 (LTE-M), 5 = E-UTRAN NB-S1 (NB-IoT). The network-provided value is the
    # one in force, so it wins over the requested one.
    act = _int(f[0])
    if act is None:
        errs.append("%s: bad AcT-type: %s" % (tag, _show(f[0])))
        return
    if act == 0:
        vals["edrx"] = False
        return
    vals["edrx"] = True
    val = None
    for i in (2, 1):
        if len(f) > i and _uq(f[i]):
            val = _uq(f[i])
            break
    if val is not None:
        s = edrx_s(act, val)
        if s is None and act in (4, 5):
            errs.append("%s: bad eDRX value: %s" % (tag, _show(val)))
        elif s is not None:
            vals["edrx_s"] = s
    if len(f) > 3 and _uq(f[3]):
        p = ptw_s(act, _uq(f[3]))
        if p is None and act in (4, 5):
            errs.append("%s: bad paging time window: %s" % (tag, _show(f[3])))
        elif p is not None:
            vals["ptw_s"] = p


def _h_cedrxrdp(body, vals, errs, model, kind):
    _edrx_into("CEDRXRDP", _split(body), vals, errs)


def _h_cedrxs(body, vals, errs, model, kind):
    # TS 27.007 7.40 read: +CEDRXS: <AcT-type>,<Requested_eDRX_value> per enabled access type.
    f = _split(body)
    act = _int(f[0])
    if act is None:
        errs.append("CEDRXS: malformed: " + _show(body))
        return
    if act == 0 or len(f) < 2 or not _uq(f[1]):
        vals.setdefault("edrx", False)
        return
    vals["edrx"] = True
    s = edrx_s(act, _uq(f[1]))
    if s is not None:
        vals["edrx_s"] = s
    elif act in (4, 5):
        errs.append("CEDRXS: bad eDRX value: " + _show(f[1]))


def _band_from(text):
    # "EUTRAN-BAND20" (SIMCom +CPSI), "LTE BAND 20" (Quectel +QNWINFO) -> 20.
    t = _uq(text).upper()
    i = t.find("BAND")
    if i < 0:
        return None
    d = t[i + 4 :].strip().lstrip("-").strip()
    j = 0
    while j < len(d) and d[j].isdigit():
        j += 1
    return int(d[:j]) if j else None


def _digits(tag, s, lo, hi, errs):
    s = _uq(s).strip()
    if lo <= len(s) <= hi and s.isdigit():
        return s
    errs.append("%s: not %d..%d digits: %s" % (tag, lo, hi, _show(s)))
    return None


def _h_imei(body, vals, errs, model, kind):
    # TS 27.007 5.4 +CGSN (and V.250 +GSN): the IMEI, 15 digits (TS 23.003 6.2.1); IMEISV is 16.
    s = _digits("IMEI", body, 15, 16, errs)
    if s:
        vals["imei"] = s[:15] if len(s) == 15 else s


def _h_imsi(body, vals, errs, model, kind):
    # TS 27.007 5.6 +CIMI: IMSI, at most 15 digits (TS 23.003 2.2), MCC+MNC+MSIN >= 6.
    s = _digits("IMSI", body, 6, 15, errs)
    if s:
        vals["imsi"] = s


def _h_iccid(body, vals, errs, model, kind):
    # ICCID (ITU-T E.118): 19-20 digits; read with AT+CCID (SIM7000/SIM7080), AT+CICCID ->
    # +ICCID: (A76XX), AT+QCCID -> +QCCID: (BG95). Some SIMs pad with a trailing 'F'.
    s = _uq(body).strip().upper()
    while s.endswith("F"):
        s = s[:-1]
    s = _digits("ICCID", s, 18, 20, errs)
    if s:
        vals["iccid"] = s


def _h_fw(body, vals, errs, model, kind):
    # TS 27.007 5.3 +CGMR / V.250 +GMR: free text; SIMCom prefixes "Revision:" (SIM7080 manual
    # AT+CGMR example "Revision:1951B17SIM7080").
    s = _uq(body).strip()
    if s.upper().startswith("REVISION:"):
        s = s[9:].strip()
    if s:
        vals["modem_fw"] = s
    else:
        errs.append("CGMR: empty revision")


def _h_model(body, vals, errs, model, kind):
    # TS 27.007 5.2 +CGMM / V.250 +GMM: model text, e.g. "SIMCOM_SIM7080G", "BG95-M3".
    s = _uq(body).strip()
    if s:
        vals["model"] = s


def _h_ati(s, vals, errs, model, idx):
    # ATI (V.250 6.1.3): SIMCom "Manufacturer: .../Model: .../Revision: .../IMEI: ...",
    # Quectel "Quectel / BG95-M3 / Revision: BG95M3LAR02A03".
    u = s.upper()
    if u.startswith("MODEL:"):
        vals["model"] = s[6:].strip()
    elif u.startswith("REVISION:"):
        vals["modem_fw"] = s[9:].strip()
    elif u.startswith("IMEI:"):
        _h_imei(s[5:].strip(), vals, errs, model, "")
    elif idx == 1 and "model" not in vals and ":" not in s:
        vals["model"] = s


_HANDLERS = {
    "CSQ": _h_csq,
    "CESQ": _h_cesq,
    "CEREG": _h_reg("CEREG"),
    "CGREG": _h_reg("CGREG"),
    "CREG": _h_reg("CREG"),
    "COPS": _h_cops,
    "CGPADDR": _h_cgpaddr,
    "CGDCONT": _h_cgdcont,
    "CPSMS": _h_cpsms,
    "CEDRXS": _h_cedrxs,
    "CEDRXRDP": _h_cedrxrdp,
    "CGSN": _h_imei,
    "GSN": _h_imei,
    "CIMI": _h_imsi,
    "CCID": _h_iccid,
    "ICCID": _h_iccid,
    "QCCID": _h_iccid,
    "CGMR": _h_fw,
    "GMR": _h_fw,
    "CGMM": _h_model,
    "GMM": _h_model,
}

# Commands whose answer is a bare line (no "+NAME:" prefix) -> handler for that line.
_BARE = {
    "CGSN": _h_imei,
    "GSN": _h_imei,
    "CIMI": _h_imsi,
    "CCID": _h_iccid,
    "CICCID": _h_iccid,
    "QCCID": _h_iccid,
    "ICCID": _h_iccid,
    "CGMR": _h_fw,
    "GMR": _h_fw,
    "QGMR": _h_fw,
    "CGMM": _h_model,
    "GMM": _h_model,
}

# Vendor-only response names -> module holding their handlers, imported on first use so a board
# only keeps its own vendor's parsers in RAM (SIMCom: cell_simcom, Quectel: cell_quectel).
_VENDOR = (
    ("CPSI", "cell_simcom"),
    ("CNACT", "cell_simcom"),
    ("CNSMOD", "cell_simcom"),
    ("CGNAPN", "cell_simcom"),
    ("QENG", "cell_quectel"),
    ("QNWINFO", "cell_quectel"),
    ("QCSQ", "cell_quectel"),
    ("QIACT", "cell_quectel"),
    ("QPSMS", "cell_quectel"),
)


def _handler(name):
    h = _HANDLERS.get(name)
    if h is not None:
        return h
    for n, mod in _VENDOR:
        if n == name:
            m = __import__("mobiot_fw." + mod, None, None, ("HANDLERS",))
            return m.HANDLERS.get(name)
    return None


# Response prefix differing from the command name: AT+CICCID answers "+ICCID:".
_ALIAS = {"CICCID": "ICCID"}

# --- public API -------------------------------------------------------------------------------


def classify(line, command):
    """Classify one received line while `command` (the line as sent, or None) is pending:
    FINAL_OK, FINAL_ERROR, URC, ECHO or DATA (part of the command's answer)."""
    s = line.strip()
    fin = _final(s)
    if fin is not None:
        return fin
    if command is not None:
        if s.upper() == command.strip().upper():
            return ECHO
    elif _is_cmd(s):
        return ECHO
    name, body = _head(s)
    names = _cmd_names(command)
    if name is not None:
        k = _kind(names, name)
        if k is None:
            for cn, ck in names:
                if _ALIAS.get(cn) == name:
                    k = ck
        if name in _READ_OR_URC:
            if k != "?":
                return URC
            if name in ("CEREG", "CGREG", "CREG"):
                return DATA if _reg_fields(name, body)[1] else URC
            if name in ("CNSMOD", "CPSMSTATUS"):
                # read answer "<n>,<stat>" vs URC "<stat>"/"<text>" (SIM7080 manual AT+CNSMOD)
                return DATA if len(_split(body)) >= 2 else URC
            return DATA
        if k is not None:
            return DATA
        if name in _URC_NAMES or command is None:
            return URC
        return DATA
    if s in _URC_WORDS or command is None:
        return URC
    return DATA


def parse_urc(line):
    """Decode an unsolicited line: (name, values) or None if it is not a known URC.
    Registration URCs give record values ({"reg", "tac"/"lac", "cell", "rat", t3324_s, t3412_s});
    event URCs give {"event": text} (see docs/modem.md for each name)."""
    s = line.strip()
    if s in _URC_WORDS:
        return (s, {})
    name, body = _head(s)
    if name is None:
        return None
    vals = {}
    errs = []
    try:
        if name in ("CEREG", "CGREG", "CREG"):
            g, _resp = _reg_fields(name, body)
            _reg_into(name, g, vals, errs, None)
        elif name == "CEDRXP":
            _edrx_into(name, _split(body), vals, errs)
        elif name == "CNSMOD":
            h = _handler("CNSMOD")
            if h is not None:
                h(body, vals, errs, None, "")
        elif name == "QPSMTIMER":
            # BG95 manual (AT+QCFG="psm/urc"): +QPSMTIMER: <TAU_timer>,<T3324_timer>, in seconds.
            f = _split(body)
            if len(f) >= 2 and _int(f[0]) is not None and _int(f[1]) is not None:
                vals["t3412_s"] = _int(f[0])
                vals["t3324_s"] = _int(f[1])
            else:
                errs.append("bad")
        elif name == "APP PDP":
            # SIM7080 7.2.1: +APP PDP: <pdpidx>,ACTIVE|DEACTIVE
            f = _split(body)
            if len(f) >= 2 and _int(f[0]) is not None:
                vals["cid"] = _int(f[0])
                vals["active"] = _uq(f[1]).upper() == "ACTIVE"
            else:
                errs.append("bad")
        elif name == "CSCON":
            # TS 27.007 10.1.30: +CSCON: <mode>[,...]; 1 = RRC connected
            m = _int(_split(body)[0])
            if m is None:
                errs.append("bad")
            else:
                vals["connected"] = m == 1
        elif name == "CPIN" or name == "CFUN" or name == "CPSMSTATUS":
            vals["state"] = _uq(body)
        elif name in _URC_NAMES:
            vals["event"] = body
        else:
            return None
    except Exception:  # garbled URC: report its name, no values
        return (name, {})
    if errs and not vals:
        return (name, {})
    return (name, vals)


def parse_response(command, lines, model=None):
    """Decode the answer `lines` of `command` (as sent) into record values.
    Returns (values, errors): values keyed by docs/records.md names, unknown/99/255 omitted;
    errors: one-line messages for garbled or unknown lines. Never raises."""
    vals = {}
    errs = []
    names = _cmd_names(command)
    bare = None
    for n, k in names:
        if n in _BARE:
            bare = _BARE[n]
            break
    is_ati = _kind(names, "I") == ""
    idx = 0
    for line in lines:
        try:
            s = line.strip()
        except Exception:
            errs.append("not a text line: %r" % (line,))
            continue
        if not s or _final(s) is not None:
            continue
        if command is not None and s.upper() == command.strip().upper():
            continue  # echo
        try:
            name, body = _head(s)
            if name is None:
                if is_ati:
                    _h_ati(s, vals, errs, model, idx)
                elif bare is not None:
                    bare(s, vals, errs, model, "")
                elif s in _URC_WORDS:
                    pass
                else:
                    errs.append("unexpected line: " + _show(s))
                idx += 1
                continue
            k = _kind(names, name)
            if k is None:
                for cn, ck in names:
                    if _ALIAS.get(cn) == name:
                        k = ck
            if k == "=?":
                continue  # test command: lists of supported values, nothing to record
            h = _handler(name)
            if h is not None:
                if name in ("CEREG", "CGREG", "CREG") and not _reg_fields(name, body)[1]:
                    continue  # URC shape (<stat> first): not the read answer, see classify()
                h(body, vals, errs, model, k)
            elif name in _NO_RECORD or name in _URC_NAMES:
                pass
            else:
                errs.append("unknown response line: " + _show(s))
        except Exception as e:  # never raise on garbled input
            errs.append("cannot parse %s (%s)" % (_show(s), type(e).__name__))
        idx += 1
    if _kind(names, "CEDRXS") == "?" and "edrx" not in vals:
        vals["edrx"] = False  # TS 27.007 7.40: no +CEDRXS line = eDRX not enabled for any AcT
    return vals, errs
