# The answers of a compound command line (V.250 5.2.1: "AT+CREG=2;+CREG?" is answered with one
# information response per command and one final result code): one (command, values, errors)
# per answered command, each decoded by mobiot_fw.cell.parse.parse_response. The board sends one
# command per line, so only `mobiot modem decode` (sim/decode_main.py) imports this module; it is
# kept out of cell.parse, which every board holds in RAM (tests/host/test_modem_import_cost.py).
# Contract: docs/modem.md; field logs: tests/data/modem_logs/field/.
from mobiot_fw.cell.parse import BARE, cmd_names, final, head, parse_response


def _parts(command):
    # "at+qnwinfo;+qeng=\"servingcell\"" -> ["AT+QNWINFO", 'AT+QENG="servingcell"']: each
    # command of a compound line as a line of its own, the name in upper case, arguments kept
    # split as cmd_names splits, keeping each command's arguments
    s = command.strip()
    if s[:2].upper() == "AT":
        s = s[2:]
    out = []
    for p in s.split(";"):
        p = p.strip()
        if not p:
            continue
        i = 0
        while i < len(p) and p[i] not in "=?":
            i += 1
        out.append("AT" + p[:i].upper() + p[i:])
    return out


def parse_answers(command, lines, model=None):
    """The answer of each command of a command line: [(command, values, errors)], one entry per
    command that got an answer line, in the line's order. A compound line (V.250 5.2.1:
    "AT+CREG=2;+CREG?") is answered with one information response per command and one final
    result code, in any order (field logs: docs/modem.md); each answer line goes to the command
    of its prefix (the n-th line of a prefix to the n-th read of that command), a bare line to
    the identity command or ATI. A single command is parse_response(command, lines, model)."""
    names = cmd_names(command)
    if len(names) <= 1:
        v, e = parse_response(command, lines, model)
        return [(command.strip() if command else command, v, e)]
    parts = _parts(command)
    if len(parts) != len(names):
        v, e = parse_response(command, lines, model)
        return [(command.strip(), v, e)]
    got = [[] for _ in names]
    seen = {}
    cur = len(names) - 1
    for line in lines:
        try:
            s = line.strip()
        except Exception:
            got[cur].append(line)  # parse_response reports it
            continue
        if not s or final(s) is not None or s.upper() == command.strip().upper():
            continue
        name = head(s)[0]
        at = -1
        if name is None:
            for j in range(len(names)):
                if "|" + names[j][0] + "|" in BARE or names[j][0] == "I":
                    at = j
                    break
        else:
            cands = []
            reads = []
            for j in range(len(names)):
                n, k = names[j]
                if n == name or (name == "ICCID" and n == "CICCID"):
                    cands.append(j)
                    if k != "=":
                        reads.append(j)
            if reads:
                cands = reads
            if cands:
                c = seen.get(name, 0)
                seen[name] = c + 1
                at = cands[c if c < len(cands) else len(cands) - 1]
        if at >= 0:
            cur = at
        got[cur].append(s)
    out = []
    for j in range(len(names)):
        if got[j]:
            v, e = parse_response(parts[j], got[j], model)
            out.append((parts[j], v, e))
    return out
