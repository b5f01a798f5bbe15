"""One provisioning session with one board over its serial port (docs/provisioning.md).

The transport is mpremote's SerialTransport (pinned in requirements.txt), which opens the port
with `serial.serial_for_url`, so `socket://` and `rfc2217://` ports work too; its raw REPL and
raw-paste code execution are used as they are. Written here: getting a board to its REPL
whatever it is doing (running main.py, asleep between reports: docs/protocol.md "Handshake at
wake"), and the file stream, which mpremote has no equivalent for (its `cp` sends each chunk
as Python source and waits for the board after each one).
"""

from __future__ import annotations

import json
import random
import time
import zlib
from collections.abc import Callable

import serial

from . import prov_board
from .codec import Decoder, encode_command
from .errors import MobiotError
from .netserial import local_timeouts

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
FRIENDLY = b">>> "
# What a MicroPython board prints that another device would not: a main.py that keeps running
# after Ctrl-C is then "busy", not "not MicroPython".
BUSY_SIGNS = (b"KeyboardInterrupt", b"Traceback (most recent call last)", b"MicroPython", b"soft reboot")
# Stream framing (prov_board.RECEIVE): blocks of 64 bytes, four in flight, so at most 256
# unread bytes wait in the board's 259-byte serial input buffer.
BLOCK = 64
IN_FLIGHT = 4
# Raw deflate with a 16 KiB window, which the board's DeflateIO allocates (2**wbits bytes) on a
# heap cleared by a soft reset just before; 32 KiB would save 1 % more and cost twice the RAM.
WBITS = 14
_DLE, _CTRL_C = b"\x10", b"\x03"
# How long a board may take to answer one step (a prompt, a reboot, the next byte of a reply):
# only a board that hangs reaches it, never a slow one (CI runs virtual boards on 2 busy cores,
# where a soft reset alone can take tens of seconds).
ANSWER_S = 120
# How long a board may talk without giving a prompt after Ctrl-C before it is called busy or
# not MicroPython: a booting board prints for a while before its REPL is up.
PROMPT_S = 30.0
SYNC_RETRY_S = 15.0
# The handshake with a running firmware (Session.handshake): how long a board that gives no
# hello frame is asked before provisioning takes its full path, and how often it is asked. A
# running firmware answers within its reader's poll (link/session.py, 50 ms), and a REPL shows
# itself at once (REPL_SIGNS); a board that answers nothing (asleep, a silent main.py, hung)
# costs this much more than before, and a sleeping board that wakes meanwhile is answered here.
HELLO_S = 5.0
ASK_EVERY_S = 0.5
# Output that only a REPL gives (Ctrl-B prints the friendly REPL's banner, and a "!hello" line
# typed at its prompt a SyntaxError): no firmware answers here, and none will.
REPL_SIGNS = (RAW_BANNER, FRIENDLY, b'Type "help()"', b"Traceback (most recent call last)")


def escape(data: bytes) -> bytes:
    """No Ctrl-C on the wire (prov_board.RECEIVE undoes it): 0x10 x stands for x ^ 0x20."""
    return data.replace(_DLE, b"\x10\x30").replace(_CTRL_C, b"\x10\x23")


def pack(files: list[tuple[str, bytes]]) -> bytes:
    """The files' bytes one after the other as one raw-deflate stream, escaped for the wire."""
    z = zlib.compressobj(9, zlib.DEFLATED, -WBITS, 9)
    out = b"".join(z.compress(d) for _p, d in files) + z.flush()
    return escape(out)


class Session:
    """A board at its raw REPL. `log` gets one-line progress messages (never secrets)."""

    def __init__(self, port: str, baud: int = 115200, wake_timeout_s: float = 120.0,
                 log: Callable[[str], None] | None = None):
        from mpremote.transport import TransportError
        from mpremote.transport_serial import SerialTransport

        self.port = port
        self.log = log or (lambda _m: None)
        self.wake_timeout_s = wake_timeout_s
        self.TransportError = TransportError
        self.wire_bytes = 0  # bytes sent to the board, all of them
        try:
            self.t = SerialTransport(port, baudrate=baud)
        except (TransportError, OSError, serial.SerialException) as exc:
            raise MobiotError(f"{port}: cannot open the port ({exc})") from exc
        self.ser: serial.Serial = self.t.serial  # type: ignore[assignment]  (mpremote may wrap it)
        # mpremote blocks forever on a pseudo-terminal without a timeout; its own deadlines
        # (read_until) work once reads return. 30 s: mpremote's raw-paste flow control waits
        # one read for the board's next window, and a busy machine (CI: 2 shared cores running
        # virtual boards) can take more than 10 s to grant it.
        local_timeouts(self.ser)  # rfc2217://: read() below sets the timeout around every read
        self.ser.timeout = 30.0
        # mpremote waits at most 10 s between two bytes of an answer (read_until's default,
        # which exec_raw_no_follow and raw_paste_write use): a loaded machine can exceed it,
        # and then mpremote gives up in the middle of a raw paste. Patient instead.
        plain = self.t.read_until

        def read_until(min_num_bytes, ending, timeout=10, data_consumer=None, timeout_overall=None):
            if timeout is not None:
                timeout = max(int(timeout), ANSWER_S)
            return plain(min_num_bytes, ending, timeout, data_consumer, timeout_overall)

        setattr(self.t, "read_until", read_until)  # noqa: B010 - an instance attribute, on purpose
        self.seen = bytearray()
        self._nonce = random.randrange(1 << 20)

    # -- raw bytes ---------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        try:
            self.ser.write(data)
        except (OSError, serial.SerialException) as exc:
            raise MobiotError(f"{self.port}: the board went away ({exc}); run provision again") from exc
        self.wire_bytes += len(data)

    def read(self, wait_s: float = 0.05) -> bytes:
        try:
            n = self.ser.in_waiting
            if n:
                return self.ser.read(n)
            old, self.ser.timeout = self.ser.timeout, wait_s
            try:
                return self.ser.read(1)
            finally:
                self.ser.timeout = old
        except (OSError, serial.SerialException) as exc:
            raise MobiotError(f"{self.port}: the board went away ({exc}); run provision again") from exc

    def close(self) -> None:
        try:
            self.t.close()
        except (OSError, serial.SerialException):
            pass

    # -- a running firmware, left running --------------------------------------------------
    def handshake(self, window_s: float = HELLO_S) -> tuple[dict, dict] | None:
        """Ask the running firmware who it is, without stopping it: `!hello` until its hello
        frame comes (it holds the board awake, docs/protocol.md "Handshake at wake"), then
        `!sum`, and return (hello payload, sum reply payload). None when no hello frame came
        within `window_s`, or the board showed a REPL: then nothing of its firmware runs to ask.

        Every line starts with Ctrl-B, which a running program reads as a byte (its command
        parser ignores what precedes "!"), and which makes a REPL, raw or friendly, print its
        banner at once: so a board at its REPL is known in one round trip. No Ctrl-C is sent."""
        dec = Decoder()
        deadline = time.monotonic() + window_s
        hello: dict | None = None
        asked = 0.0
        seen = bytearray()
        while time.monotonic() < deadline:
            now = time.monotonic()
            if now - asked > ASK_EVERY_S:
                self.write(b"\x02" + encode_command("sum" if hello else "hello"))
                asked = now
            data = self.read(0.05)
            if not data:
                continue
            seen += data
            if any(m in seen for m in REPL_SIGNS):
                break
            del seen[:-64]
            for f in dec.feed(data).frames:
                if f.type == "H" and hello is None and f.payload.get("hold"):  # not a boot's or wake's own
                    hello = f.payload
                    # our firmware, awake and held: it answers, however loaded the machine is
                    deadline = max(deadline, now + ANSWER_S)
                    self.write(encode_command("sum"))
                    asked = now
                elif f.type == "K" and hello is not None and f.payload.get("cmd") == "sum":
                    return hello, f.payload
        self.seen.clear()  # nothing of it is the raw REPL's (attach looks for its banner)
        return None

    def release(self) -> bool:
        """`!bye`: the host lets go, and a board that deep-sleeps may sleep again. True once
        the board has answered it."""
        dec = Decoder()
        deadline = time.monotonic() + ANSWER_S
        asked = 0.0
        while time.monotonic() < deadline:
            now = time.monotonic()
            if now - asked > SYNC_RETRY_S / 3:
                self.write(encode_command("bye"))
                asked = now
            for f in dec.feed(self.read(0.05)).frames:
                if f.type == "K" and f.payload.get("cmd") == "bye":
                    return True
        return False

    # -- getting to the REPL ---------------------------------------------------------------
    def attach(self, clean: bool = True) -> None:
        """Stop whatever runs and enter the raw REPL. A board that says nothing may be asleep:
        wait for its next wake (its hello frame), hold it with `!hello`, then stop it.

        clean: then soft-reset in the raw REPL (boot.py runs, main.py does not), so that what
        runs next has the whole heap. A firmware stopped by Ctrl-C keeps every module it
        imported and every buffer it holds: on an ESP32 that is most of its ~110 KB heap, and
        the scripts sent next (each compiled on the board) failed there with MemoryError."""
        deadline = time.monotonic() + self.wake_timeout_s
        dec = Decoder()
        frames = 0
        noise = bytearray()
        last_c = 0.0
        ctrl_c_since = None
        while True:
            now = time.monotonic()
            if now - last_c > 0.5:
                # Ctrl-C stops main.py; Ctrl-A enters the raw REPL (or, in it, prints its banner again)
                self.write(b"\r\x03\x03\r\x01")
                last_c = now
                ctrl_c_since = ctrl_c_since or now
            data = self.read(0.05)
            if data:
                self.seen += data
                del self.seen[:-4096]
                if RAW_BANNER in self.seen:
                    break
                got = dec.feed(data)
                for f in got.frames:
                    frames += 1
                    if f.type == "H":
                        # awake: the maintenance window is open; hold it (docs/protocol.md)
                        self.write(encode_command("hello"))
                        ctrl_c_since = None
                noise += data
                del noise[:-4096]
            if noise and ctrl_c_since and now - ctrl_c_since > PROMPT_S:
                # It talks but gives no prompt: our firmware (frames) or a program that catches
                # KeyboardInterrupt keeps main.py running; anything else is not MicroPython.
                if frames or any(m in noise for m in BUSY_SIGNS):
                    raise MobiotError(f"{self.port}: board busy in main.py: it does not stop for Ctrl-C "
                                      f"(no REPL prompt within {PROMPT_S:g} s)")
                raise MobiotError(f"{self.port}: not a MicroPython REPL (no prompt after Ctrl-C for {PROMPT_S:g} s; "
                                  f"got {bytes(noise[-40:])!r})")
            if now > deadline:
                raise MobiotError(f"{self.port}: no answer within {self.wake_timeout_s:g} s: not running "
                                  f"MicroPython, or asleep longer than --wake-timeout")
        self.sync()
        if clean:
            self.soft_reset_raw()
        self.t.in_raw_repl = True

    def sync(self) -> None:
        """Make sure the raw REPL has taken everything sent so far, and wait at its prompt.

        The Ctrl-C / Ctrl-A sent before the banner came may still be on their way (a board
        takes its input late while it boots or while its machine is busy): each makes the raw
        REPL print its banner again, and one arriving in the middle of mpremote's raw-paste
        request breaks it ("unexpected read during raw paste"). The board answers a command
        sent now only after all of them, because it reads its input in order."""
        deadline = time.monotonic() + ANSWER_S
        while True:
            self._nonce += 1
            self.write(b"\x03print('mobiot-sync:%%d:'%%(%d+1))\x04" % self._nonce)
            try:
                # Not a deadline: an answer not come by then is asked for again (a board seen
                # to hang in its command until interrupted, under load), with a new number so
                # that a late answer to the old one is not taken for it.
                self.expect(b"mobiot-sync:%d:" % (self._nonce + 1), SYNC_RETRY_S, "answer in the raw REPL",
                            exact=True)
                break
            except MobiotError:
                if time.monotonic() > deadline:
                    raise
                self.write(b"\r\x03\x03\r\x01")  # interrupt it, back to the raw REPL
        # byte by byte: mpremote reads the ">" prompt that follows the command's end itself
        self.expect(b"\x04\x04", ANSWER_S, "end of the answer in the raw REPL", exact=True)

    def expect(self, marker: bytes, timeout_s: float, what: str, exact: bool = False) -> bytes:
        """Read until `marker` (exact: not one byte past it, for mpremote to read on)."""
        deadline = time.monotonic() + timeout_s
        while marker not in self.seen:
            if time.monotonic() > deadline:
                raise MobiotError(f"{self.port}: no {what} within {timeout_s:g} s (got {bytes(self.seen[-80:])!r})")
            if exact:
                try:
                    self.seen += self.ser.read(1)
                except (OSError, serial.SerialException) as exc:
                    raise MobiotError(f"{self.port}: the board went away ({exc}); run provision again") from exc
            else:
                self.seen += self.read(0.05)
        i = self.seen.index(marker) + len(marker)
        out = bytes(self.seen[:i])
        del self.seen[:i]
        return out

    # -- running code ------------------------------------------------------------------------
    def run(self, code: str, what: str, timeout_s: float = 30.0) -> str:
        """Execute `code` in the raw REPL (raw-paste mode) and return what it printed; a
        traceback becomes a one-line error naming the step."""
        self.send_code(code, what)
        return self.finish(what, timeout_s)

    def send_code(self, code: str, what: str) -> None:
        data = code.encode()
        try:
            self.t.exec_raw_no_follow(data)
        except self.TransportError as exc:
            raise MobiotError(f"{self.port}: board did not take the {what} code ({exc})") from exc
        except (OSError, serial.SerialException) as exc:
            raise MobiotError(f"{self.port}: the board went away ({exc}); run provision again") from exc
        self.wire_bytes += len(data) + 4

    def finish(self, what: str, timeout_s: float) -> str:
        try:
            out, err = self.t.follow(timeout_s)
        except self.TransportError as exc:
            raise MobiotError(f"{self.port}: board stopped answering during {what} ({exc})") from exc
        except (OSError, serial.SerialException) as exc:
            raise MobiotError(f"{self.port}: the board went away ({exc}); run provision again") from exc
        if err:
            lines = err.decode(errors="replace").strip().splitlines()
            raise MobiotError(f"{self.port}: {what} failed on the board: {lines[-1] if lines else err!r}")
        return out.decode(errors="replace")

    def probe(self, want: list[str]) -> dict:
        """prov_board.PROBE's answer: its JSON line, with "hash" (path -> sha256 or None) and
        "mfiles" (the paths of the board's manifest) from the lines that follow it."""
        out = self.run(prov_board.PROBE % {"want": want}, "probe")
        lines = out.strip().splitlines()
        try:
            i = max(k for k, line in enumerate(lines) if line.startswith("{"))
            info = json.loads(lines[i])
            if lines[-1].strip() != "end":
                raise ValueError("no end line")
            info["hash"], mfiles = {}, []
            for line in lines[i + 1:-1]:
                flag, sha, path = line.strip().split(" ", 2)
                info["hash"][path] = None if sha == "-" else sha
                if flag == "M":
                    mfiles.append(path)
            info["mfiles"] = sorted(mfiles)
            return info
        except ValueError as exc:
            raise MobiotError(f"{self.port}: unexpected probe answer {out[-80:]!r}") from exc

    def stream(self, files: list[tuple[str, bytes]], progress: Callable[[int, int], None]) -> None:
        """Send `files` (path, bytes) compressed, flow-controlled by the board's "+"."""
        wire = pack(files)
        total = len(wire)
        code = prov_board.RECEIVE % {"files": [(p, len(d)) for p, d in files], "total": total,
                                     "block": BLOCK, "wbits": WBITS}
        self.send_code(code, "receiver")
        sent = 0
        credit = IN_FLIGHT  # the input buffer holds them while the receiver starts
        progress(0, total)
        while sent < total:
            data = self.read(10.0) if credit == 0 else self.read(0)
            if data:
                n = data.count(b"+")
                if n != len(data):
                    rest = data.replace(b"+", b"") + self._drain(2.0)
                    if rest.startswith(b"\x04"):  # the receiver ended: its traceback follows
                        lines = rest.strip(b"\x04\r\n>").decode(errors="replace").splitlines()
                        raise MobiotError(f"{self.port}: copy failed on the board at {sent} of {total} bytes: "
                                          f"{lines[-1] if lines else rest!r}")
                    raise MobiotError(f"{self.port}: board interrupted the copy at {sent} of {total} bytes "
                                      f"(it reset or was unplugged?): {rest[:80]!r}; run provision again")
                credit += n
            elif credit == 0:
                raise MobiotError(f"{self.port}: board stopped taking data at {sent} of {total} bytes; "
                                  f"run provision again")
            if credit and sent < total:
                k = min(total - sent, credit * BLOCK)
                blocks = -(-k // BLOCK)
                self.write(wire[sent:sent + k])
                credit -= blocks
                sent += k
                progress(sent, total)
        out = self.finish("copy", 60).replace("+", "").strip()
        try:
            res = json.loads(out.splitlines()[-1])
        except (ValueError, IndexError) as exc:
            raise MobiotError(f"{self.port}: unexpected answer after the copy {out[-80:]!r}") from exc
        if res.get("err"):
            raise MobiotError(f"{self.port}: {describe_board_error(res['err'])}")

    def _drain(self, wait_s: float) -> bytes:
        end = time.monotonic() + wait_s
        got = bytearray()
        while time.monotonic() < end:
            got += self.read(0.05)
        return bytes(got)

    # -- resets ------------------------------------------------------------------------------
    def soft_reset_raw(self) -> None:
        """Soft reset in the raw REPL: a clean heap, boot.py run, main.py not (ports/esp32/main.c)."""
        self.seen.clear()
        self.write(b"\x04")
        # both byte by byte: a board that reboots quickly (or a port that delivers late, as an
        # RFC 2217 server does) sends banner and prompt with "soft reboot" in one read, and
        # mpremote then waits for the ">" that this read took
        self.expect(b"soft reboot\r\n", ANSWER_S, "soft reboot", exact=True)
        self.expect(RAW_BANNER, ANSWER_S, "raw REPL after the soft reboot", exact=True)

    def restart_firmware(self) -> None:
        """Leave the raw REPL and soft-reset from the friendly one, which runs boot.py and
        main.py (ports/esp32/main.c: a soft reset in the raw REPL would skip main.py)."""
        self.seen.clear()
        self.write(b"\r\x02")
        self.expect(FRIENDLY, ANSWER_S, "REPL prompt")
        self.write(b"\x04")
        self.t.in_raw_repl = False

    def wait_hello(self, timeout_s: float) -> dict | None:
        """The first hello frame after a reset (None if none came in time); the boot record's
        firmware id is taken from the boot event when the hello has none. A hello after a
        crash comes back with "crashed": True: a `crash` event (the commit cleared the crash
        count, so any is the new firmware's) or safe mode's console line, both sent before the
        hello (docs/protocol.md "Crash guard and safe mode")."""
        dec = Decoder()
        deadline = time.monotonic() + timeout_s
        boot: dict = {}
        safe = False
        pending = bytes(self.seen)
        self.seen.clear()
        while time.monotonic() < deadline:
            data = pending or self.read(0.1)
            pending = b""
            got = dec.feed(data)
            for line in got.logs:
                safe = safe or line.startswith(b"mobiot: safe mode")
            for f in got.frames:
                ev = (f.payload.get("values") or {}).get("event") if f.type == "R" else None
                if ev == "boot":
                    boot = f.payload
                safe = safe or ev in ("crash", "safe_mode")
                if f.type == "H":
                    # hold it awake for the steps after verify (docs/protocol.md "Handshake at wake")
                    self.write(encode_command("hello"))
                    hello: dict = dict(f.payload, crashed=safe)
                    hello.setdefault("fwid", (boot.get("values") or {}).get("fwid"))
                    return hello
        return None


def describe_board_error(err: str) -> str:
    """A receiver error (prov_board.RECEIVE) as a one-line message naming what and where."""
    if err.startswith("OSError "):
        parts = err.split(" ", 2)
        code, path = int(parts[1]), parts[2] if len(parts) > 2 else "?"
        if code == 28:
            return f"flash full writing {path}.new (ENOSPC); nothing was changed"
        if code in (30, 1, 13):
            return f"flash is read-only writing {path}.new (errno {code}); nothing was changed"
        return f"flash error {code} writing {path}.new; nothing was changed"
    return f"copy failed on the board: {err}; nothing was changed"
