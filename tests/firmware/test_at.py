# AT engine (firmware/mobiot_fw/cell/at.py) against a scripted peer on a fake UART pair.
# The peer writes exactly the bytes a modem would put on the wire (V.250 §5.7.1: responses are
# framed <CR><LF>text<CR><LF>; echo is the command line followed by <CR>).
# Every test runs in virtual time (@virtual): the peer's delays and the engine's timeouts pass
# in no real time, so which comes first never depends on how loaded the machine is.
import asyncio
import errno

from fakeuart import uart_pair
from mobiot_fw.cell.at import At, AtError, AtTimeout, ModemError
from fwtest import until, virtual


class Peer:
    """A scripted modem: answers each command with a list of (delay_ms, bytes) writes."""

    def __init__(self, uart, script, echo=True):
        self.uart = uart
        self.script = script  # command -> [(delay_ms, bytes), ...]
        self.echo = echo
        self.got = []
        self._acc = bytearray()
        uart.on_rx = self._rx

    def _rx(self):
        data = self.uart.read()
        self._acc.extend(data)
        while b"\r" in self._acc:
            i = self._acc.find(b"\r")
            line = bytes(self._acc[:i]).decode()
            self._acc = self._acc[i + 1 :]
            self.got.append(line)
            asyncio.create_task(self._answer(line))

    async def _answer(self, line):
        if self.echo:
            self.uart.write(line.encode() + b"\r")
        for delay_ms, data in self.script.get(line, ()):
            await asyncio.sleep_ms(delay_ms)
            self.uart.write(data)


def crlf(*lines):
    return b"".join(b"\r\n" + l.encode() + b"\r\n" for l in lines)


def setup(script, echo=True, **kw):
    fw, modem = uart_pair(4096)
    at = At(fw, clock=asyncio.core.ticks, **kw)  # the (virtual) clock asyncio runs on
    peer = Peer(modem, script, echo)
    return at, peer


@virtual
async def test_ok_with_echo():
    at, peer = setup({"AT+CSQ": [(20, crlf("+CSQ: 20,99", "OK"))]})
    lines, final = await at.cmd("AT+CSQ", 10000)
    assert lines == ["+CSQ: 20,99"], lines
    assert final == "OK"
    assert peer.got == ["AT+CSQ"]
    at.stop()


@virtual
async def test_ok_without_echo():
    at, peer = setup({"AT+CGSN": [(10, crlf("868822040061234", "OK"))]}, echo=False)
    lines, final = await at.cmd("AT+CGSN", 10000)
    assert lines == ["868822040061234"], lines
    assert final == "OK"
    at.stop()


@virtual
async def test_echo_kept_when_not_ok():
    # echo_ok=False keeps the echo as data: a way to see that ATE0 did not take
    at, peer = setup({"AT": [(5, crlf("OK"))]}, echo_ok=False)
    lines, final = await at.cmd("AT", 10000)
    assert lines == ["AT"], lines
    at.stop()


@virtual
async def test_urc_in_middle_of_response():
    got = []
    at, peer = setup(
        {
            "AT+CGDCONT?": [
                (10, crlf('+CGDCONT: 1,"IP","iot.example","0.0.0.0",0,0')),
                (10, crlf("+CEREG: 5")),  # network registration URC mid-response
                (10, crlf('+CGDCONT: 2,"IP","ims","0.0.0.0",0,0', "OK")),
            ]
        },
        urc_handler=got.append,
    )
    lines, final = await at.cmd("AT+CGDCONT?", 10000)
    assert lines == [
        '+CGDCONT: 1,"IP","iot.example","0.0.0.0",0,0',
        '+CGDCONT: 2,"IP","ims","0.0.0.0",0,0',
    ], lines
    await until(lambda: got, what="the URC")
    assert got == ["+CEREG: 5"], got
    at.stop()


@virtual
async def test_urc_in_same_chunk_as_final():
    # URC and final arrive in one write: the split must still be line by line
    got = []
    at, peer = setup({"AT": [(5, crlf("+CEREG: 1", "OK", "+CEREG: 2"))]}, urc_handler=got.append)
    lines, final = await at.cmd("AT", 10000)
    assert lines == [] and final == "OK"
    await until(lambda: len(got) >= 2, what="both URCs")
    assert got == ["+CEREG: 1", "+CEREG: 2"], got
    at.stop()


@virtual
async def test_cme_error_code():
    at, peer = setup({"AT+CPIN?": [(10, crlf("+CME ERROR: 10"))]})
    try:
        await at.cmd("AT+CPIN?", 10000)
        raise AssertionError("no AtError")
    except AtError as e:
        # 3GPP TS 27.007 §9.2.1: CME error 10 = SIM not inserted
        assert e.code == 10, e.code
        assert e.line == "+CME ERROR: 10"
        assert isinstance(e, ModemError) and isinstance(e, OSError)
    at.stop()


@virtual
async def test_plain_error_and_next_command_ok():
    at, peer = setup({"AT+FOO": [(5, crlf("ERROR"))], "AT": [(5, crlf("OK"))]})
    try:
        await at.cmd("AT+FOO", 10000)
        raise AssertionError("no AtError")
    except AtError as e:
        assert e.code is None
    lines, final = await at.cmd("AT", 10000)
    assert final == "OK"
    at.stop()


@virtual
async def test_timeout_errno_and_recovery():
    at, peer = setup({"AT": [(5, crlf("OK"))]})  # AT+HANG gets no answer at all
    t0 = at.clock()
    try:
        await at.cmd("AT+HANG", 200)
        raise AssertionError("no timeout")
    except AtTimeout as e:
        assert e.errno == errno.ETIMEDOUT
        assert isinstance(e, ModemError)
    import time

    took = time.ticks_diff(at.clock(), t0)
    # virtual time: 200 ms on the dot, plus the real milliseconds the test itself ran
    assert 200 <= took < 2200, took
    assert at.timeouts_in_row == 1
    lines, final = await at.cmd("AT", 10000)
    assert final == "OK" and at.timeouts_in_row == 0
    at.stop()


@virtual
async def test_late_answer_after_timeout_is_not_taken_by_next_command():
    # the modem answers AT+SLOW after the firmware gave up: that OK must not complete AT+CSQ
    at, peer = setup(
        {"AT+SLOW": [(300, crlf("+SLOW: 1", "OK"))], "AT+CSQ": [(400, crlf("+CSQ: 9,99", "OK"))]}
    )
    try:
        await at.cmd("AT+SLOW", 100)
    except AtTimeout:
        pass
    await until(lambda: at.stray >= 1, what="the stray OK")  # arrives while nothing is in flight
    lines, final = await at.cmd("AT+CSQ", 10000)
    assert lines == ["+CSQ: 9,99"], lines
    assert at.stray >= 1
    at.stop()


@virtual
async def test_commands_serialized():
    at, peer = setup({"AT+A": [(30, crlf("+A: 1", "OK"))], "AT+B": [(5, crlf("+B: 2", "OK"))]})
    ra, rb = await asyncio.gather(at.cmd("AT+A", 10000), at.cmd("AT+B", 10000))
    assert ra[0] == ["+A: 1"] and rb[0] == ["+B: 2"], (ra, rb)
    # B was written only after A completed
    assert peer.got == ["AT+A", "AT+B"]
    at.stop()


@virtual
async def test_prompt_and_send_data():
    at, peer = setup({"AT+CASEND=0,5": [(10, b"\r\n> ")], "hello": [(10, crlf("SEND OK"))]}, echo=False)
    lines, final = await at.cmd("AT+CASEND=0,5", 10000, expect=">")
    assert final == ">"
    lines, final = await at.send_data(b"hello\r", 10000)
    assert final == "SEND OK", final
    at.stop()


@virtual
async def test_expect_waits_for_completion_line():
    at, peer = setup({"AT+CNACT=0,1": [(10, crlf("OK")), (200, crlf("+APP PDP: 0,ACTIVE"))]})
    lines, final = await at.cmd("AT+CNACT=0,1", 10000, expect="+APP PDP:")
    assert final == "OK" and lines == ["+APP PDP: 0,ACTIVE"], (lines, final)
    at.stop()


@virtual
async def test_urc_storm_commands_complete():
    # 1200 URCs (2 bursts of 30 per command) interleaved with 20 commands; every command
    # gets exactly its own answer
    got = []
    storm = crlf(*["+CEREG: %d" % (i % 2 + 1) for i in range(30)])
    script = {}
    for k in range(20):
        script["AT+N%d" % k] = [(2, storm), (2, crlf("+N%d: %d" % (k, k * 7))), (1, storm), (1, crlf("OK"))]
    at, peer = setup(script, urc_handler=got.append, urc_queue=16)
    for k in range(20):
        lines, final = await at.cmd("AT+N%d" % k, 2000)
        assert lines == ["+N%d: %d" % (k, k * 7)], lines
        assert final == "OK"
    await until(lambda: len(got) + at.urc_drops >= 1200, what="all URCs")
    # nothing lost silently: delivered + dropped == sent
    assert len(got) + at.urc_drops == 1200, (len(got), at.urc_drops)
    assert at.urc_count == 1200
    at.stop()


@virtual
async def test_bounded_urc_queue_drops_oldest():
    at, peer = setup({"AT": [(5, crlf(*["+CEREG: %d" % i for i in range(40)] + ["OK"]))]}, urc_queue=8)
    await at.cmd("AT", 10000)
    # no handler: URCs stay queued; only the newest 8 are kept
    assert at._ucount == 8  # queued
    assert at.urc_drops == 32, at.urc_drops
    first = at.pop_urc()
    assert first == "+CEREG: 32", first
    rest = [at.pop_urc() for _ in range(7)]
    assert rest[-1] == "+CEREG: 39"
    assert at.pop_urc() is None
    at.stop()


@virtual
async def test_long_line_truncated_not_crashing():
    at, peer = setup({"AT+LONG": [(5, crlf("+LONG: " + "x" * 600, "OK"))]}, line_max=64)
    lines, final = await at.cmd("AT+LONG", 10000)
    assert final == "OK" and len(lines[0]) == 64 and at.truncated == 1
    at.stop()


@virtual
async def test_garbage_bytes_are_sanitized():
    fw, modem = uart_pair()
    at = At(fw)
    at.start()
    modem.write(b"\r\n\xff\xfeRDY\x00\r\n")
    got = await asyncio.wait_for_ms(at.get_urc(), 10000)
    assert got == "??RDY?", got
    at.stop()
