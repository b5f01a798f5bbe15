# asyncio AT command engine (3GPP TS 27.007 / ITU-T V.250 framing) for one modem UART.
#
# Contract: docs/scenario.md describes the simulator this is tested against; line
# classification (final result / URC / echo / data) is cellular.classify, a pure function.
#
# Design:
# - ONE reader task owns the UART. It splits the byte stream into lines in a preallocated
#   buffer and routes every line: echo -> dropped, URC -> bounded URC queue, data -> the
#   response being collected, final result -> completes that response. URCs may arrive at
#   any time, also between the lines of a response (V.250 does not forbid it and SIMCom /
#   Quectel modems do it), so routing is decided line by line, never by position.
# - cmd() holds a lock, so commands are strictly serialized: a modem answers one command at
#   a time and a second one written mid-response would be lost or interleaved.
# - URCs go to a bounded ring (drop oldest, count the drops): a URC storm must not exhaust
#   the heap; a dispatcher task hands them to urc_handler outside the reader, so a slow or
#   failing handler never stalls response parsing.
# - Works on machine.UART (ESP32, created with timeout=0) and on any io.IOBase stream with
#   ioctl(MP_STREAM_POLL) such as sim/fakeuart.py, both through asyncio.StreamReader.
import asyncio
import errno
import time

from micropython import const

from mobiot_fw.cell import parse as cellular

_LINE_MAX = const(256)  # +CPSI / +QENG lines are ~120 chars; longer lines are truncated
_RESP_MAX = const(24)  # response lines kept per command (AT+CGDCONT? lists a few contexts)
_CHUNK = const(64)  # bytes taken from the UART per wakeup
_URC_QUEUE = const(16)
_CR = const(13)
_LF = const(10)
_PROMPT = const(62)  # '>' : data prompt of AT+CMGS / AT+CASEND / AT+QISEND (V.250 §5.x style)

DEFAULT_TIMEOUT_MS = const(5000)


class ModemError(OSError):
    pass


class AtTimeout(ModemError):
    """No final result in time. errno is ETIMEDOUT, like a real socket timeout."""

    def __init__(self, command=""):
        super().__init__(errno.ETIMEDOUT, command)
        self.command = command


class AtError(ModemError):
    """ERROR / +CME ERROR: n / +CMS ERROR: n.  `code` is the int n when numeric, else the
    text after the colon (verbose +CMEE=2 mode), else None for a bare ERROR."""

    def __init__(self, command, line, code=None):
        super().__init__(errno.EIO, command + ": " + line)
        self.command = command
        self.line = line
        self.code = code


def error_code(line):
    """The code of a final error line: int for '+CME ERROR: 10', str for verbose text,
    None for plain 'ERROR'.  Pure."""
    i = line.find("ERROR:")
    if i < 0:
        return None
    s = line[i + 6 :].strip()
    try:
        return int(s)
    except ValueError:
        return s or None


def _lead_int(buf, i, n):
    # the decimal number at buf[i:n] up to a ",": "12" (+QIRD: 12) or "12,0" (+CIPRXGET: 2,0,12,0,
    # read length then rest length, A76XX / SIM7000 manuals AT+CIPRXGET); -1 when none
    r = -1
    while i < n:
        c = buf[i]
        if c == 44 and r >= 0:
            break
        if not 48 <= c <= 57:
            return -1
        r = (0 if r < 0 else r * 10) + c - 48
        i += 1
    return r


class At:
    def __init__(
        self, uart, urc_handler=None, echo_ok=True, clock=None, urc_queue=_URC_QUEUE, line_max=_LINE_MAX
    ):
        self.uart = uart  # public: a data call (PPP, uplink/ppp.py) borrows it while stop()ped
        self.urc_handler = urc_handler  # callable(line) or None (then use get_urc())
        self.echo_ok = echo_ok  # False: echo lines are kept as data (to diagnose ATE state)
        self.clock = clock or time.ticks_ms  # tests inject the virtual clock
        self._lock = asyncio.Lock()
        self._buf = bytearray(line_max)
        self._n = 0
        self._chunk = bytearray(_CHUNK)
        self._mv = memoryview(self._chunk)
        self._lbuf = memoryview(self._buf)
        # state of the command in flight
        self._cmd = None
        self._lines = []
        self.final = None
        self._expect = None
        self._seen_expect = False
        self._done = asyncio.Event()
        # URC ring
        self._urcs = [None] * urc_queue
        self._uhead = 0
        self._ucount = 0
        self._uev = asyncio.Event()
        # counters (exported in status records)
        self.urc_drops = 0
        self.urc_count = 0
        self.stray = 0  # finals/data with no command in flight (late answers)
        self.truncated = 0
        self.timeouts = 0  # total
        self.timeouts_in_row = 0
        self._tasks = None
        # Binary socket data in a response, armed by a socket transport for one read command
        # (cell/vendor/sock_*.py): a data line "<raw_pre><n>" followed by "," and n raw bytes
        # (SIMCom +CARECV) or, with raw_next, by CR LF and n raw bytes (Quectel +QIRD). The
        # bytes go into raw_mv (at most its length kept) and raw_n counts them; the line is
        # delivered as "<raw_pre><n>" and raw_pre is cleared.
        self.raw_pre = None
        self.raw_mv = memoryview(bytearray(0))
        self.raw_next = False
        self.raw_n = 0
        self._raw_left = 0
        self._raw_lf = False

    # -- lifecycle ---------------------------------------------------------------------
    def start(self):
        if self._tasks is None:
            self._tasks = (asyncio.create_task(self._reader()), asyncio.create_task(self._dispatch()))
        return self

    def stop(self):
        if self._tasks:
            for t in self._tasks:
                t.cancel()
        self._tasks = None

    def reset(self):
        """Forget a partial line (after a power cycle the modem starts a new stream)."""
        self._n = 0

    # -- commands ----------------------------------------------------------------------
    async def cmd(self, line, timeout_ms=DEFAULT_TIMEOUT_MS, expect=None):
        """Send one command; return (lines, final) where lines are the response's data lines
        (echo and URCs removed) and final the final result line.  Raises AtError on ERROR /
        +CME ERROR / +CMS ERROR and AtTimeout when no final arrives within timeout_ms.
        expect: '>' waits for the data prompt instead of a final (final is then '>'); '=WORD'
        waits for a prompt line WORD instead (final is then WORD);
        any other string also waits, after the final, for a line starting with it (a
        command whose real completion is a later line, e.g. '+APP PDP:')."""
        if self._tasks is None:
            self.start()
        async with self._lock:
            return await self._exec(line, line, timeout_ms, expect)

    async def send_data(self, data, timeout_ms=DEFAULT_TIMEOUT_MS, expect=None, cmd=None, prompt=">"):
        """After cmd(..., expect='>'): write the payload and wait for its final (e.g. SEND OK).
        With cmd: that command, its ">" prompt and the payload as one transaction, so that no
        other task's command lands in the modem's data mode (AT+CASEND, AT+QISEND, AT+CMGS)."""
        async with self._lock:
            if cmd is not None:
                await self._exec(cmd, cmd, timeout_ms, prompt)
            return await self._exec(None, data, timeout_ms, expect)

    async def _exec(self, line, data, timeout_ms, expect):
        # line: the command (data is the command line, CR appended), None for a payload
        self._lines = []
        self.final = None
        self._expect = expect
        self._seen_expect = False
        self._done.clear()
        self._cmd = "" if line is None else line
        self.uart.write(data)
        if line is not None:
            self.uart.write(b"\r")  # V.250 §5.2.1: S3 (CR) ends a command line
        try:
            await asyncio.wait_for_ms(self._done.wait(), timeout_ms)
        except asyncio.TimeoutError:
            self.timeouts += 1
            self.timeouts_in_row += 1
            raise AtTimeout("<data>" if line is None else line)
        finally:
            self._cmd = None
        self.timeouts_in_row = 0
        final = self.final
        lines = self._lines
        self._lines = []
        if final != ">" and cellular.classify(final, line) == cellular.FINAL_ERROR:
            line = "<data>" if line is None else line
            raise AtError(line, final, error_code(final))
        return lines, final

    # -- URCs --------------------------------------------------------------------------
    def pop_urc(self):
        """Oldest queued URC line, or None."""
        if not self._ucount:
            return None
        q = self._urcs
        i = (self._uhead - self._ucount) % len(q)
        line = q[i]
        q[i] = None
        self._ucount -= 1
        return line

    async def get_urc(self):
        """Wait for the next URC (only meaningful when urc_handler is None)."""
        while not self._ucount:
            self._uev.clear()
            await self._uev.wait()
        return self.pop_urc()

    def _put_urc(self, line):
        q = self._urcs
        q[self._uhead] = line
        self._uhead = (self._uhead + 1) % len(q)
        if self._ucount == len(q):
            self.urc_drops += 1  # the oldest was just overwritten
        else:
            self._ucount += 1
        self.urc_count += 1
        self._uev.set()

    async def _dispatch(self):
        while True:
            await self._uev.wait()
            self._uev.clear()
            h = self.urc_handler
            if h is None:
                continue  # get_urc() consumers pull from the ring themselves
            while self._ucount:
                line = self.pop_urc()
                try:
                    h(line)
                except Exception as e:  # a handler bug must not kill URC delivery
                    print("at: urc handler:", repr(e))
                # yield between URCs so a storm cannot starve command tasks
                await asyncio.sleep_ms(0)

    # -- the reader ----------------------------------------------------------------------
    async def _reader(self):
        sr = asyncio.StreamReader(self.uart)
        buf = self._buf
        cap = len(buf)
        chunk = self._chunk
        mv = self._mv
        while True:
            n = await sr.readinto(mv)
            if not n:
                await asyncio.sleep_ms(1)  # spurious wakeup; do not spin
                continue
            for i in range(n):
                c = chunk[i]
                if self._raw_lf:
                    self._raw_lf = False
                    if c == _LF:
                        continue
                if self._raw_left:
                    k = self.raw_n
                    if k < len(self.raw_mv):
                        self.raw_mv[k] = c
                    self.raw_n = k + 1
                    self._raw_left -= 1
                    continue
                if self.raw_pre is not None and (c == _CR if self.raw_next else c == 44) and self._cmd is not None:
                    # "<prefix><n>" then "," (inline data) or CR LF (data on the next line)
                    pre = self.raw_pre
                    k = len(pre)
                    r = -1
                    if self._n > k and buf[:k] == pre:
                        r = _lead_int(buf, k, self._n)
                    if r >= 0:
                        self._raw_left = r
                        self.raw_pre = None
                        self._raw_lf = c == _CR  # the LF of this line's CR LF is not data
                        self._line(self._n)
                        self._n = 0
                        continue
                if c == _LF or c == _CR:
                    if self._n:
                        self._line(self._n)
                        self._n = 0
                    continue
                if c == _PROMPT and self._n == 0 and self._expect == ">" and self._cmd is not None:
                    self.final = ">"
                    self._done.set()
                    continue
                if c == 32 and self._n == 0:
                    continue  # V.250 lines never start with a blank; eats the '> ' space
                if self._n < cap:
                    # keep the line printable ASCII so decoding can never fail
                    buf[self._n] = c if 32 <= c < 127 else 63
                    self._n += 1
                elif self._n == cap:
                    self.truncated += 1
                    self._n += 1  # count each long line once; extra bytes are dropped
                # else: still inside a long line, drop

    def _line(self, n):
        if n > len(self._buf):
            n = len(self._buf)
        line = str(self._lbuf[:n], "ascii")
        cmd = self._cmd
        kind = cellular.classify(line, cmd)
        if cmd is None:
            # nothing in flight: anything that is not a final is unsolicited by definition
            if kind == cellular.FINAL_OK or kind == cellular.FINAL_ERROR or kind == cellular.ECHO:
                self.stray += 1
            else:
                self._put_urc(line)
            return
        exp = self._expect
        if exp is not None and exp[0] == "=" and line == exp[1:]:
            # a data prompt that is a whole line: DOWNLOAD (SIM7080 AT+CFSWFILE), CONNECT
            # (Quectel AT+QFUPL): it ends the command phase like ">"
            self.final = line
            self._done.set()
            return
        if exp is not None and exp != ">" and line.startswith(exp):
            self._add(line)
            self._seen_expect = True
            if self.final is not None:
                self._done.set()
            return
        if kind == cellular.ECHO:
            if not self.echo_ok:
                self._add(line)
            return
        if kind == cellular.URC:
            self._put_urc(line)
            return
        if kind == cellular.FINAL_OK or kind == cellular.FINAL_ERROR:
            if self.final is not None:
                self.stray += 1  # a second final for one command: keep the first
                return
            self.final = line
            if kind == cellular.FINAL_ERROR or exp is None or exp == ">" or self._seen_expect:
                self._done.set()
            return
        self._add(line)

    def _add(self, line):
        if len(self._lines) < _RESP_MAX:
            self._lines.append(line)
        else:
            self.truncated += 1
