# `mobiot modem decode` engine: runs under the MicroPython unix port so a captured modem log is
# decoded by the firmware's own parsers (mobiot_fw.cell.parse), not by a CPython copy.
# Contract: docs/modem.md ("mobiot modem decode"). Never deployed to a board.
#
# Usage: micropython sim/decode_main.py [FILE|-] [--model MODEL]
# Prints one JSON object per command:
#   {"command": ..., "values": {...}, "urcs": [...], "error": ..., "errors": [...]}
import sys

_here = sys.argv[0].rpartition("/")[0] or "."
for _p in (_here + "/../firmware",):
    if _p not in sys.path:
        sys.path.append(_p)

import json  # noqa: E402

from mobiot_fw.cell import parse as c  # noqa: E402

_NO_FINAL = "no final result code before the next command or the end of the log"


def _is_date(t):
    # "2024-05-01" style token
    return len(t) >= 8 and t.count("-") == 2 and t.replace("-", "").isdigit()


def _is_time(t):
    # "12:34:56", "12:34:56.789", "12:34:56,789"
    if t.count(":") != 2:
        return False
    for ch in t:
        if not (ch.isdigit() or ch in ":.,"):
            return False
    return True


def clean(raw):
    # One log line -> the modem text, or "" for lines to ignore. Drops CR, indentation,
    # "[timestamp]" or "date time" prefixes and ">" prompts; "> AT+X" (a prompt-style marker in
    # front of a command, common in pasted logs) keeps the command.
    s = raw.replace("\r", "").strip()
    if s.startswith("[") and "]" in s:
        s = s[s.index("]") + 1 :].strip()
    t = s.split(" ", 2)
    if len(t) >= 2 and _is_date(t[0]) and _is_time(t[1]):
        s = t[2] if len(t) > 2 else ""
    elif len(t) >= 1 and _is_time(t[0]):
        s = s[len(t[0]) :].strip()
    if s.startswith(">"):
        rest = s[1:].strip()
        return rest if c.is_cmd(rest) else ""
    return s


def urc_entry(s):
    r = None
    try:
        r = c.parse_urc(s)
    except Exception:  # the parsers promise not to raise; the decoder keeps going regardless
        r = None
    if r is None:
        name = c.head(s)[0]
        return {"name": name if name else s, "values": {}, "line": s}
    return {"name": r[0], "values": r[1], "line": s}


class Cmd:
    def __init__(self, command):
        self.command = command
        self.lines = []
        self.urcs = []
        self.error = None
        self.done = False


def emit(command, values, urcs, error, errors):
    print(
        '{"command": %s, "values": %s, "urcs": %s, "error": %s, "errors": %s}'
        % (json.dumps(command), json.dumps(values), json.dumps(urcs), json.dumps(error), json.dumps(errors))
    )


def finish(cur, state):
    try:
        values, errors = c.parse_response(cur.command, cur.lines, state["model"])
    except Exception as e:  # contract says never; still keep one bad command from ending the run
        values, errors = {}, ["parser raised %s" % type(e).__name__]
    if not cur.done:
        errors.append(_NO_FINAL)
    if state["auto"] and "model" in values:
        state["model"] = values["model"]  # later vendor-specific lines decode per this model
    emit(cur.command, values, cur.urcs, cur.error, errors)


def decode(text, model=None):
    state = {"model": model, "auto": model is None}
    cur = None
    pre = []
    for raw in text.split("\n"):
        s = clean(raw)
        if not s:
            continue
        if c.is_cmd(s):
            if cur is not None and not cur.done and not cur.lines and s.upper() == cur.command.upper():
                continue  # the modem's echo right after the command as sent
            if cur is None and pre:
                emit(None, {}, pre, None, [])
                pre = []
            if cur is not None:
                finish(cur, state)
            cur = Cmd(s)
            continue
        if cur is None:
            pre.append(urc_entry(s))
            continue
        if cur.done:
            cur.urcs.append(urc_entry(s))  # after the final result everything is unsolicited
            continue
        k = c.classify(s, cur.command)
        if k == c.FINAL_OK:
            cur.done = True
        elif k == c.FINAL_ERROR:
            cur.done = True
            cur.error = c.final_error(s)
        elif k == c.URC:
            cur.urcs.append(urc_entry(s))
        elif k == c.DATA:
            cur.lines.append(s)
    if cur is not None:
        finish(cur, state)
    elif pre:
        emit(None, {}, pre, None, [])


def main(argv):
    path = "-"
    model = None
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--model" and i + 1 < len(argv):
            model = argv[i + 1]
            i += 2
            continue
        path = a
        i += 1
    if path == "-":
        text = sys.stdin.read()
    else:
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            print("decode_main: cannot read %s" % path)
            sys.exit(2)
    decode(text, model)


main(sys.argv[1:])
