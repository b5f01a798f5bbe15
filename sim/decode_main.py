# `mobiot modem decode` engine: runs under the MicroPython unix port so a captured modem log is
# decoded by the firmware's own parsers (mobiot_fw.cell.parse), not by a CPython copy.
# Contract: docs/modem.md ("mobiot modem decode"). Never deployed to a board.
#
# Usage: micropython sim/decode_main.py [FILE|-] [--model MODEL]
# Prints one JSON object per answer (per command, and per answered command of a compound line):
#   {"command": ..., "values": {...}, "urcs": [...], "error": ..., "errors": [...]}
# --model generic (or no model, when the log names none) decodes as a TS 27.007 modem.
# Exit status 3 (stderr "no AT traffic"): no command line and no modem result code in the log.
import sys

_here = sys.argv[0].rpartition("/")[0] or "."
for _p in (_here + "/../firmware",):
    if _p not in sys.path:
        sys.path.append(_p)

import json  # noqa: E402

from mobiot_fw.cell import parse as c  # noqa: E402
from mobiot_fw.cell.compound import parse_answers  # noqa: E402

_NO_FINAL = "no final result code before the next command or the end of the log"
_NO_TRAFFIC = 3


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
    stamped = False
    if len(t) >= 2 and _is_date(t[0]) and _is_time(t[1]):
        s = t[2] if len(t) > 2 else ""
        stamped = True
    elif len(t) >= 1 and _is_time(t[0]):
        s = s[len(t[0]) :].strip()
        stamped = True
    # Arduino IDE serial monitor with timestamps ("18:30:46.297 -> +CPIN: READY", the form of
    # most logs pasted into TinyGSM/LilyGO issues), PlatformIO's time filter ("10:52:47.125 > ")
    # and send/receive arrows of terminal programs
    for arrow in ("->", "<-", ">>", "<<"):
        if s.startswith(arrow):
            s = s[2:].strip()
            break
    else:
        if stamped and s.startswith(">"):
            s = s[1:].strip()
    if s.startswith(">"):
        rest = s[1:].strip()
        return rest if c.is_cmd(rest) else ""
    return s


def mbed_lines(text):
    # Mbed OS cellular traces ("[INFO][CELL]: AT TX ( 8): AT+CPIN?", "AT TX ( 1): <cr>",
    # "AT RX (22): <cr><ln>+CPIN: READY<cr><ln><cr><ln>OK<cr><ln>", or one character per RX line)
    # are the bytes on the UART with <cr>/<ln> spelled out: join the TX and RX payloads and cut
    # them into lines again. Other lines of such a trace are the application's and are dropped.
    # A text without such lines comes back as it is.
    if "AT RX (" not in text and "AT TX (" not in text:
        return text
    out = []
    rx = ""
    tx = ""
    for raw in text.split("\n"):
        line = raw.replace("\r", "")
        i = line.find("AT RX (")
        k = i if i >= 0 else line.find("AT TX (")
        if k < 0:
            continue
        e = line.find("): ", k)
        if e < 0:
            continue
        data = line[e + 3 :].replace("<cr>", "\r").replace("<ln>", "\n")
        if i >= 0:
            rx += data
            while "\n" in rx:
                a, _, rx = rx.partition("\n")
                out.append(a.replace("\r", ""))
        else:
            tx += data
            while "\r" in tx:
                a, _, tx = tx.partition("\r")
                out.append(a)
    return "\n".join(out)


def zephyr_line(raw):
    # Zephyr modem_chat debug logs (drivers/modem/modem_chat.c): "... modem_chat_script_next:
    # sending: AT+CEREG?" is the command; "modem_chat_on_unknown_command_received: <line>" the
    # line as received; "modem_chat_log_received_command: +CEREG:  1 1" the matched line with its
    # arguments split at the delimiters and logged space-separated, so they are joined with commas
    # again (an argument with a space inside, a quoted operator name, cannot be told apart).
    # None when the line is not one of these.
    for key in ("modem_chat_script_next: sending: ", "_unknown_command_received: "):
        i = raw.find(key)
        if i >= 0:
            return raw[i + len(key) :].strip()
    key = "modem_chat_log_received_command: "
    i = raw.find(key)
    if i < 0:
        return None
    s = raw[i + len(key) :].strip()
    head, sep, args = s.partition(":")
    if not sep or not args.strip():
        return s
    return head + ": " + ",".join(a for a in args.split(" ") if a)


def zephyr_lines(text):
    # a Zephyr log (its modem_chat lines) as plain log lines; other text as it is
    if "modem_chat" not in text:
        return text
    out = []
    for raw in text.split("\n"):
        z = zephyr_line(raw)
        if z is not None:
            out.append(z)
    return "\n".join(out)


def urc_entry(s, state):
    r = None
    try:
        r = c.parse_urc(s, state["model"])
        if r is not None:
            state["traffic"] = True
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
    # one object per answered command of the line (mobiot_fw.cell.compound.parse_answers); the
    # line's final result, its URCs and a missing final go with the last of them
    try:
        answers = parse_answers(cur.command, cur.lines, state["model"])
    except Exception as e:  # contract says never; still keep one bad command from ending the run
        answers = [(cur.command, {}, ["parser raised %s" % type(e).__name__])]
    if not answers:
        answers = [(cur.command, {}, [])]  # a compound line of set commands: nothing answered
    last = len(answers) - 1
    for i in range(len(answers)):
        command, values, errors = answers[i]
        if state["auto"] and "model" in values:
            state["model"] = values["model"]  # later vendor-specific lines decode per this model
        if i < last:
            emit(command, values, [], None, errors)
            continue
        if not cur.done:
            errors.append(_NO_FINAL)
        emit(command, values, cur.urcs, cur.error, errors)


def decode(text, model=None):
    # model None: taken from the log's AT+CGMM/ATI answer; until then (and with "generic") the
    # parsers decode as a TS 27.007 modem
    state = {"model": model, "auto": model is None, "traffic": False}
    cur = None
    pre = []
    for raw in zephyr_lines(mbed_lines(text)).split("\n"):
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
            state["traffic"] = True
            continue
        if cur is None:
            pre.append(urc_entry(s, state))
            continue
        if cur.done:
            cur.urcs.append(urc_entry(s, state))  # after the final result everything is unsolicited
            continue
        k = c.classify(s, cur.command)
        if k == c.FINAL_OK:
            cur.done = True
        elif k == c.FINAL_ERROR:
            cur.done = True
            cur.error = c.final_error(s)
        elif k == c.URC:
            cur.urcs.append(urc_entry(s, state))
        elif k == c.DATA:
            cur.lines.append(s)
    if not state["traffic"]:
        return False
    if cur is not None:
        finish(cur, state)
    elif pre:
        emit(None, {}, pre, None, [])
    return True


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
    if not decode(text, model):
        sys.stderr.write("decode_main: no AT traffic\n")
        sys.exit(_NO_TRAFFIC)


main(sys.argv[1:])
