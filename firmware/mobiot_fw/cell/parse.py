# Cellular AT response parsers: pure functions from response lines to record values.
#
# Contract: docs/modem.md (this API) and docs/records.md (record names and units).
# No I/O, no time, no module state mutated: the AT engine (mobiot_fw.cell.at), the modem drivers,
# the modem simulator and `mobiot modem decode` (sim/decode_main.py) all call the same
# functions, so a captured log replays into exactly the code that runs on the board.
# Runs on MicroPython (ESP32 and unix port) and on CPython.
#
# Heap (the ESP32 has ~110 KB and TLS + MQTT must fit beside the modem stack): this module is
# the part every line goes through (classify, the registration URCs and +CEREG answers,
# dispatch); the answer parsers live in modules imported on the first line they decode and
# looked up there by response name (getattr, no dict per module):
#   cell_3gpp   TS 27.007 answers read by every report (+CSQ, +CESQ, +COPS, +CPSMS, +CEDRX...)
#   cell_ids    identities, read once per power-on (+CGSN, +CIMI, ICCID, +CGMR, +CGMM, ATI):
#               imported for the answer and dropped again (mobiot_fw.once)
#   cell_simcom / cell_quectel   vendor answers: a board only ever loads its own vendor's
#   cell_errors final_error() and its result-code texts (never on the board's normal path)
# Tables are one str each ("|"-separated words), scanned in place by _in() without allocating:
# a tuple of strings costs a tuple plus one object per long string (~1.2 KB for the URC words on
# the 64-bit unix port), the str ~0.2 KB.
#
# Sources, cited next to each table:
#   3GPP TS 27.007 (AT command set), TS 27.005 (SMS, +CMS ERROR), TS 24.008 (GPRS timer and eDRX
#   encodings), TS 36.133 / TS 45.008 (measurement report mappings).
#   SIMCom "SIM7080 Series AT Command Manual" (V1.0x numbering), "SIM7000 Series AT Command
#   Manual" V1.04, "A76XX Series AT Command Manual"; Quectel "BG95&BG77&BG600L Series AT Commands
#   Manual", "BG96 AT Commands Manual".
from micropython import const

from mobiot_fw import once

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
_FINAL_OK_WORDS = "|SEND OK|CLOSE OK|SHUT OK|"
_FINAL_ERR_WORDS = "|NO CARRIER|NO DIALTONE|BUSY|NO ANSWER|SEND FAIL|ABORTED|"

# Unprefixed unsolicited lines. SIMCom: RDY/SMS Ready/Call Ready/NORMAL POWER DOWN/voltage
# warnings (SIM7000 manual 1.7 "unsolicited result codes"); Quectel: RDY/APP RDY/POWERED DOWN
# (BG95 manual 1.x "URCs"); TCP/IP application URCs that arrive after OK (SIM7000 ch. 8);
# A76XX: SMS DONE, PB DONE (A76XX manual URC list).
_URC_WORDS = (
    "|RDY|APP RDY|SMS Ready|Call Ready|NORMAL POWER DOWN|POWERED DOWN|UNDER-VOLTAGE POWER DOWN"
    "|UNDER-VOLTAGE WARNNING|OVER-VOLTAGE POWER DOWN|OVER-VOLTAGE WARNNING|CONNECT OK|CONNECT FAIL"
    "|ALREADY CONNECT|CLOSED|PDP DEACT|RING|SMS DONE|PB DONE|"
)

# Prefixed lines that are always unsolicited. 27.007: +CGEV (10.1.19), +CSCON (10.1.30),
# +CEDRXP (7.40), +CTZV/+CTZE/+CTZEU (8.41/8.45), +CMTI (27.005 3.4.1); SIMCom: *PSUTTZ, DST,
# *PSNWID (SIM7000 manual, AT+CLTS), +APP PDP (SIM7080 7.2.1 AT+CNACT), +CADATAIND, +CASTATE
# (SIM7080 CA socket URCs); A76XX: *ATREADY (A76XX manual URC list); Quectel: +QIND, +QIURC,
# +QUSIM, +QPSMTIMER (BG95 manual); socket URCs: +CIPRXGET (data arrived, SIM7000 manual 8.2 and
# A76XX manual AT+CIPRXGET), +IPCLOSE (A76XX AT+CIPCLOSE), +CCHEVENT, +CCH_PEER_CLOSED (A76XX SSL
# chapter), +QSSLURC (BG95 SSL Application Note). A name the pending command answers stays data.
_URC_NAMES = (
    "|CGEV|CSCON|CEDRXP|CTZV|CTZE|CTZEU|CMTI|PSUTTZ|PSNWID|DST|APP PDP|CADATAIND|CASTATE|QIND|QIURC"
    "|QUSIM|QPSMTIMER|PDP|SMSTATE|ATREADY|CIPRXGET|IPCLOSE|CCHEVENT|CCH_PEER_CLOSED|QSSLURC|"
)

# Prefixed lines that are the answer to their read command (AT+X?) and unsolicited otherwise.
_READ_OR_URC = "|CEREG|CGREG|CREG|CNSMOD|CPSMSTATUS|CPIN|CFUN|"

# Response prefixes that carry nothing for the records: accepted silently. Also the SMS answers
# of TS 27.005 (+CMGS <mr> 3.5.1, +CMGF 3.2.3, +CSCA 3.3.1, +CNMI 3.4.1, +CSMS 3.2.1) and
# TS 27.007 +CSCS (5.5), +CPAS (8.1), +CBC (8.4), +CGMI (5.1), +CEER (6.10).
_NO_RECORD = (
    "|CPIN|CFUN|CGATT|CMEE|CGACT|CSCON|CPSMSTATUS|CNMP|CMNB|CBANDCFG|QCFG|QPSMEXTCFG|CTZR|CTZU|CLTS"
    "|CCLK|QLTS|CNCFG|QICSGP|QTEMP|CMGS|CMGF|CSCA|CNMI|CSMS|CSCS|CPAS|CBC|CGMI|CEER|"
)

# Where the parser of each response prefix lives (a function named like the prefix there).
# +CEREG/+CGREG/+CREG are decoded here (URCs and attach polling need them all the time).
_STD = "|CSQ|CESQ|COPS|CGPADDR|CGDCONT|CPSMS|CEDRXS|CEDRXRDP|"  # cell_3gpp
_IDS = "|CGSN|GSN|CIMI|CCID|ICCID|QCCID|CGMR|GMR|CGMM|GMM|"  # cell_ids
_SIMCOM = "|CPSI|CNACT|CNSMOD|CGNAPN|"  # cell_simcom
_QUECTEL = "|QENG|QNWINFO|QCSQ|QIACT|QPSMS|QSPN|"  # cell_quectel
# Commands whose answer is a bare line (no "+NAME:" prefix): parsed by cell.ids.<command>
# (also read by cell.compound).
BARE = "|CGSN|GSN|CIMI|CCID|CICCID|QCCID|ICCID|CGMR|GMR|QGMR|CGMM|GMM|"

_MAX_SHOW = const(60)  # characters of a bad line quoted in an error message

# --- small helpers (also used by the parser modules) ------------------------------------------


def _in(t, s):
    # s is one of the "|"-separated words of table t. str.find/startswith: allocates nothing.
    if "|" in s:
        return False
    n = len(s)
    i = t.find(s)
    while i > 0:
        if t.startswith("|", i - 1) and t.startswith("|", i + n):
            return True
        i = t.find(s, i + 1)
    return False


def word(t, i):
    # The i-th space-separated word of table t; None for "-" or an index outside the table.
    if i is None or i < 0:
        return None
    p = 0
    while i:
        p = t.find(" ", p) + 1
        if not p:
            return None
        i -= 1
    e = t.find(" ", p)
    w = t[p:] if e < 0 else t[p:e]
    return None if w == "-" else w


def show(s):
    return s if len(s) <= _MAX_SHOW else s[:_MAX_SHOW] + "..."


def split_fields(body):
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


def unquote(f):
    if len(f) >= 2 and f[0] == '"' and f[-1] == '"':
        return f[1:-1].strip()
    return f


def num(f, base=10):
    # Integer field (decimal, or hex with base=16 and an optional 0x); None when empty, "-"
    # (Quectel "not available") or not a number.
    f = unquote(f)
    if base == 16 and f[:2] in ("0x", "0X"):
        f = f[2:]
    if not f or f == "-":
        return None
    try:
        return int(f, base)
    except ValueError:
        return None


def hexnum(f):
    return num(f, 16)


def bitfield(f, width):
    # A bit-string field such as "00100100"; None unless exactly `width` binary digits.
    f = unquote(f)
    if len(f) != width:
        return None
    for c in f:
        if c != "0" and c != "1":
            return None
    return int(f, 2)


def head(s):
    # "+CSQ: 20,99" -> ("CSQ", "20,99"); "*PSUTTZ: ..." -> ("PSUTTZ", ...); else (None, s).
    if s and s[0] in "+*^" and ":" in s:
        i = s.index(":")
        return s[1:i].strip().upper(), s[i + 1 :].strip()
    if s.startswith("DST:"):
        return "DST", s[4:].strip()
    return None, s


def is_cmd(s):
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


def cmd_names(command):
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
    # The kind of `name` in the pending command, or None when the line does not answer it.
    # AT+CICCID answers with "+ICCID:" (A76XX manual AT+CICCID). A compound line may hold the
    # same command twice ("AT+CREG=2;+CREG?"): its read wins, for only the read has an answer
    # of the read shape (V.250 5.2.1: one information response per command of the line).
    k = None
    for n, ck in names:
        if n == name or (name == "ICCID" and n == "CICCID"):
            if ck == "?":
                return ck
            if k is None:
                k = ck
    return k


def final(s):
    if s == "OK":
        return FINAL_OK
    if s == "ERROR" or s.startswith("+CME ERROR") or s.startswith("+CMS ERROR"):
        return FINAL_ERROR
    if _in(_FINAL_ERR_WORDS, s):
        return FINAL_ERROR
    if _in(_FINAL_OK_WORDS, s):
        return FINAL_OK
    if s == "CONNECT" or (s.startswith("CONNECT ") and s[8:].strip().isdigit()):
        return FINAL_OK  # V.250 5.7.1: CONNECT [<rate>] ends the command phase
    return None


def _is_reg(name):
    return name == "CEREG" or name == "CGREG" or name == "CREG"


def _reg_fields(name, body):
    # Return the fields of a +CEREG/+CGREG/+CREG line starting at <stat>, and whether the line
    # had the read-response shape (<n> first). TS 27.007 10.1.22: the read response is
    # "<n>,<stat>[,[<tac>],..." and the URC "<stat>[,[<tac>],..."; <tac>/<lac> is a quoted hex
    # string, so the first quoted field tells the shapes apart.
    f = split_fields(body)
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


def row_values(row, key):
    """The values of every `key` line of a model's row (cell/models.py row()), in order. Here,
    not in models.py: the driver reads its row long after the model table is dropped."""
    out = []
    k = "\n" + key + " "
    i = row.find(k)
    while i >= 0:
        i += len(k)
        e = row.find("\n", i)
        out.append(row[i:e])
        i = row.find(k, e)
    return out


def model_is(model, *prefixes):
    if not model:
        return False
    m = model.upper()
    for p in prefixes:
        if p in m:
            return True
    return False


def _mod(name):
    # The module mobiot_fw.<...> `name`, imported on first use and kept.
    return __import__(name, None, None, ("_",))


def _handler(name):
    # The parser of response prefix `name`, importing its module on first use; None if unknown.
    if _in(_IDS, name):
        return getattr(once("mobiot_fw.cell.ids"), name)
    if _in(_STD, name):
        mod = "mobiot_fw.cell.ts27007"
    elif _in(_SIMCOM, name):
        mod = "mobiot_fw.cell.vendor.simcom"
    elif _in(_QUECTEL, name):
        mod = "mobiot_fw.cell.vendor.quectel"
    else:
        return None
    return getattr(_mod(mod), name)


# --- field helpers shared by the parser modules -----------------------------------------------


def plmn_into(oper, vals, errs, tag):
    # Numeric PLMN "26201" / "310410": MCC is 3 digits, MNC the remaining 2 or 3 (TS 27.007 7.3
    # numeric <oper>, TS 24.008 10.5.1.3). MNC stays a string: "01" and "001" are different
    # networks, so an int would lose information.
    if len(oper) in (5, 6) and oper.isdigit():
        vals["mcc"] = int(oper[:3])
        vals["mnc"] = oper[3:]
        return True
    errs.append("%s: bad numeric operator: %s" % (tag, show(oper)))
    return False


def usable_ip(a):
    a = unquote(a)
    if not a:
        return None
    if a.count(".") == 15:
        # TS 27.007 10.1.14 / +CGPIAF: IPv6 may be reported as 16 dot-separated decimal bytes.
        p = a.split(".")
        out = []
        for i in range(0, 16, 2):
            out.append("%x" % (int(p[i]) * 256 + int(p[i + 1])))
        a = ":".join(out)
    for c in a:
        if c not in "0.:":
            return a
    return None  # 0.0.0.0 / :: = no address


def band_from(text):
    # "EUTRAN-BAND20" (SIMCom +CPSI), "LTE BAND 20" (Quectel +QNWINFO) -> 20.
    t = unquote(text).upper()
    i = t.find("BAND")
    if i < 0:
        return None
    d = t[i + 4 :].strip().lstrip("-").strip()
    j = 0
    while j < len(d) and d[j].isdigit():
        j += 1
    return int(d[:j]) if j else None


# --- public decoders (also used by drivers and the simulator) -------------------------------


def __getattr__(name):
    # PEP 562: final_error (docs/modem.md) lives in cell.errors with its texts, RATS, edrx_s,
    # ptw_s and the TS 27.007 answer parsers in cell.ts27007; the board's own code calls none of
    # them directly
    if name == "final_error":
        return getattr(_mod("mobiot_fw.cell.errors"), name)
    return getattr(_mod("mobiot_fw.cell.ts27007"), name)


# --- public API -------------------------------------------------------------------------------


def classify(line, command):
    """Classify one received line while `command` (the line as sent, or None) is pending:
    FINAL_OK, FINAL_ERROR, URC, ECHO or DATA (part of the command's answer)."""
    s = line.strip()
    fin = final(s)
    if fin is not None:
        return fin
    if command is not None:
        if s.upper() == command.strip().upper():
            return ECHO
    elif is_cmd(s):
        return ECHO
    name, body = head(s)
    if name is not None:
        k = _kind(cmd_names(command), name)
        if _in(_READ_OR_URC, name):
            if k != "?":
                return URC
            if _is_reg(name):
                return DATA if _reg_fields(name, body)[1] else URC
            if name == "CNSMOD" or name == "CPSMSTATUS":
                # read answer "<n>,<stat>" vs URC "<stat>"/"<text>" (SIM7080 manual AT+CNSMOD)
                return DATA if len(split_fields(body)) >= 2 else URC
            return DATA
        if k is not None:
            return DATA
        if _in(_URC_NAMES, name) or command is None:
            return URC
        return DATA
    if _in(_URC_WORDS, s) or command is None:
        return URC
    return DATA


def parse_urc(line, model=None):
    """Decode an unsolicited line: (name, values) or None if it is not a known URC.
    Registration URCs give record values ({"reg", "tac"/"lac", "cell", "rat", t3324_s, t3412_s});
    event URCs give {"event": text} (see docs/modem.md for each name). `model` decodes <AcT>
    as that model does (docs/modem.md, rat); None is a generic TS 27.007 modem."""
    s = line.strip()
    if _in(_URC_WORDS, s):
        return (s, {})
    name, body = head(s)
    if name is None:
        return None
    vals = {}
    errs = []
    try:
        if _is_reg(name):
            _mod("mobiot_fw.cell.ts27007").reg(name, _reg_fields(name, body)[0], vals, errs, model)
        elif name == "CEDRXP" or name == "CSCON":
            _mod("mobiot_fw.cell.ts27007").urc(name, body, vals, errs)
        elif name == "CNSMOD" or name == "APP PDP":
            _mod("mobiot_fw.cell.vendor.simcom").urc(name, body, vals, errs)
        elif name == "QPSMTIMER":
            _mod("mobiot_fw.cell.vendor.quectel").urc(name, body, vals, errs)
        elif name == "CPIN" or name == "CFUN" or name == "CPSMSTATUS":
            vals["state"] = unquote(body)
        elif _in(_URC_NAMES, name):
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
    names = cmd_names(command)
    bare = None  # the command whose answer may be a bare line (parser cell_ids.<bare>)
    for n, k in names:
        if _in(BARE, n):
            bare = n
            break
    # ATI, and SIMCom's AT+SIMCOMATI (A76XX manual: the same Manufacturer/Model/Revision/IMEI lines)
    is_ati = _kind(names, "I") == "" or _kind(names, "SIMCOMATI") == ""
    ids = None  # cell_ids while this answer needs it
    idx = 0
    for line in lines:
        try:
            s = line.strip()
        except Exception:
            errs.append("not a text line: %r" % (line,))
            continue
        if not s or final(s) is not None:
            continue
        if command is not None and s.upper() == command.strip().upper():
            continue  # echo
        try:
            name, body = head(s)
            if name is None:
                if is_ati or bare is not None:
                    if ids is None:
                        ids = once("mobiot_fw.cell.ids")
                    if is_ati or bare is None:
                        ids.ATI(s, vals, errs, model, idx)
                    else:
                        getattr(ids, bare)(s, vals, errs, model, "")
                elif not _in(_URC_WORDS, s):
                    errs.append("unexpected line: " + show(s))
                idx += 1
                continue
            k = _kind(names, name)
            if k == "=?":
                continue  # test command: lists of supported values, nothing to record
            if _is_reg(name):
                g, resp = _reg_fields(name, body)
                if not resp:
                    continue  # URC shape (<stat> first): not the read answer, see classify()
                _mod("mobiot_fw.cell.ts27007").reg(name, g, vals, errs, model)
            else:
                h = _handler(name)
                if h is not None:
                    h(body, vals, errs, model, k)
                elif not (_in(_NO_RECORD, name) or _in(_URC_NAMES, name)):
                    errs.append("unknown response line: " + show(s))
        except Exception as e:  # never raise on garbled input
            errs.append("cannot parse %s (%s)" % (show(s), type(e).__name__))
        idx += 1
    if _kind(names, "CEDRXS") == "?" and "edrx" not in vals:
        vals["edrx"] = False  # TS 27.007 7.40: no +CEDRXS line = eDRX not enabled for any AcT
    return vals, errs

