# final_error() of mobiot_fw.cell.parse (docs/modem.md) with the result-code texts: reached as
# cellular.final_error through cellular's module __getattr__, imported only when an error final
# is turned into text, so a board that never prints errors never loads these strings. One str
# per table ("<code> <text>" lines), scanned by text(): a tuple of (code, text) pairs cost ~7 KB
# of heap on the 64-bit unix port, the str is about its length.
from mobiot_fw.cell.parse import FINAL_ERROR, final

# TS 27.007 9.2.1 / 9.2.2 +CME ERROR <err> (numeric, +CMEE=1) and the text used with +CMEE=2.
_CME = """
0 phone failure
1 no connection to phone
2 phone-adaptor link reserved
3 operation not allowed
4 operation not supported
5 PH-SIM PIN required
6 PH-FSIM PIN required
7 PH-FSIM PUK required
10 SIM not inserted
11 SIM PIN required
12 SIM PUK required
13 SIM failure
14 SIM busy
15 SIM wrong
16 incorrect password
17 SIM PIN2 required
18 SIM PUK2 required
20 memory full
21 invalid index
22 not found
23 memory failure
24 text string too long
25 invalid characters in text string
26 dial string too long
27 invalid characters in dial string
30 no network service
31 network timeout
32 network not allowed - emergency calls only
40 network personalization PIN required
41 network personalization PUK required
50 incorrect parameters
100 unknown
103 illegal MS
106 illegal ME
107 GPRS services not allowed
111 PLMN not allowed
112 location area not allowed
113 roaming not allowed in this location area
132 service option not supported
133 requested service option not subscribed
134 service option temporarily out of order
148 unspecified GPRS error
149 PDP authentication failure
150 invalid mobile class
"""

# TS 27.005 3.2.5 +CMS ERROR <err>.
_CMS = """
300 ME failure
301 SMS service of ME reserved
302 operation not allowed
303 operation not supported
304 invalid PDU mode parameter
305 invalid text mode parameter
310 SIM not inserted
311 SIM PIN required
313 SIM failure
314 SIM busy
315 SIM wrong
320 memory failure
321 invalid memory index
322 memory full
330 SMSC address unknown
331 no network service
332 network timeout
500 unknown error
"""


def text(tag, code):
    """The text of +CME ERROR (tag "CME") or +CMS ERROR ("CMS") numeric code, or None."""
    t = _CME if tag == "CME" else _CMS
    key = "\n%d " % code  # each table starts with a newline, so every row is "\n<code> <text>"
    i = t.find(key)
    if i < 0:
        return None
    i += len(key)
    return t[i : t.find("\n", i)]


def _code(tag, words):
    # the code whose text is `words` (any case), or None
    t = _CME if tag == "CME" else _CMS
    w = words.strip().lower()
    i = t.lower().find(" " + w + "\n")
    if not w or i < 0:
        return None
    j = t.rfind("\n", 0, i) + 1
    try:
        return int(t[j:i])
    except ValueError:
        return None


def final_error(line):
    """'+CME ERROR: 10' -> 'CME 10 (SIM not inserted)'; 'ERROR' -> 'ERROR'; other error finals
    (NO CARRIER, SEND FAIL, ...) -> the line itself; None if the line is not an error final."""
    s = line.strip()
    if final(s) != FINAL_ERROR:
        return None
    for tag in ("CME", "CMS"):
        if s.startswith("+" + tag + " ERROR"):
            arg = s[len(tag) + 7 :].lstrip(":").strip()
            try:
                code = int(arg)
            except ValueError:
                # verbose form (+CMEE=2, "+CME ERROR: SIM failure"): the same text as the
                # numeric code's, so it is shown as that code
                code = _code(tag, arg)
                if code is None:
                    return "%s %s" % (tag, arg) if arg else tag
            t = text(tag, code)
            return "%s %d (%s)" % (tag, code, t) if t else "%s %d" % (tag, code)
    return s
