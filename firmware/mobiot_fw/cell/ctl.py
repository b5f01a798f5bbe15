# What the modem driver (mobiot_fw.cell.modem) does rarely: power on/off through the power key,
# recovery of a hung modem, the SIM check, attach (RAT, APN, PSM/eDRX requests, registration
# wait, bearer activation) and the 3GPP TS 24.008 encodings of the requested timers. Modem's
# methods of the same names import this module for the call and drop it again, so none of it
# stays in the board's heap between attaches (the report loop only needs Modem.report). Tests
# reach the encoders as mobiot_fw.cell.modem.encode_t3412 & co. Functions take the Modem as `m`.
import asyncio
import time

from micropython import const

from mobiot_fw.cell.at import AtError, AtTimeout

_PROBE_MS = const(500)  # AT probe timeout while waiting for boot
_NET_MS = const(30000)  # network-bound commands (AT+COPS, PDP activation): manuals allow minutes
_POLL_REG_MS = const(2000)  # +CEREG? poll period while attaching (URCs wake us earlier)
_QUIET_MS = const(2000)  # optional commands (NITZ, clock, radio): a modem without them says ERROR


def _elapsed(at, t0):
    return time.ticks_diff(at.clock(), t0)


# -- power ---------------------------------------------------------------------------------
def _key(m, pressed):
    k = m.pwrkey
    if k is None:
        return
    level = m.pwrkey_active if pressed else 1 - m.pwrkey_active
    if hasattr(k, "value"):
        k.value(level)
    else:
        k(level)


async def _press(m, ms):
    _key(m, True)
    try:
        await asyncio.sleep_ms(ms)
    finally:
        _key(m, False)


async def _probe(m, tries=2):
    for _ in range(tries):
        try:
            await m.at.cmd("AT", _PROBE_MS)
            return True
        except AtTimeout:
            pass
        except AtError:
            return True  # it answered: alive
    return False


async def power_on(m):
    """Make sure the modem is on and answering; True when it is."""
    if await _probe(m):
        await _after_boot(m)
        return True
    if m.pwrkey is None:
        m._event("modem_dead", "no answer and no power key")
        return False
    await _press(m, int(m._get("on_ms")))
    return await _await_boot(m, "power key")


async def _await_boot(m, what):
    """Probe a module that was just started (power key or reset line) until it answers."""
    m.at.reset()
    deadline = int(m._get("boot_ms"))
    waited = 0
    while waited < deadline:
        t0 = m.at.clock()
        if await _probe(m, 1):
            await _after_boot(m)
            return True
        waited += _elapsed(m.at, t0) + 250
        await asyncio.sleep_ms(250)
    m._event("power_on_failed", "no answer %d ms after %s" % (deadline, what))
    return False


async def hard_reset(m):
    """Restart the module through its RESET line (board file modem.reset, asserted at
    modem.reset_active for modem.reset_ms: docs/boards.md). Quicker than a power-key cycle and
    it works on a module so hung that it ignores PWRKEY. True when it answers again."""
    r = m.reset
    r.value(m.reset_active)
    try:
        await asyncio.sleep_ms(m.reset_ms)
    finally:
        r.value(1 - m.reset_active)
    m.reg = None
    m.needs_attach = True
    m._ids = None
    m.rat_now = None
    return await _await_boot(m, "reset")


async def _after_boot(m):
    m._sleep_ok = None  # a fresh boot: the sleep setting is gone
    m.at.timeouts_in_row = 0
    # numeric +CME ERROR codes (TS 27.007 §9.1) so check_sim can tell 10 from 13
    await m._cmd("AT+CMEE=1")


async def power_off(m):
    """Power-down through the key; True when the modem stopped answering."""
    if m.pwrkey is None:
        return False
    m._down_ev.clear()
    await _press(m, int(m._get("off_ms")))
    # The power-down URC comes first, the module is off only after the whole procedure
    # (SIM7000 Hardware Design Table 9: Toff(uart) up to 6.9 s) and a power-on pulse
    # before that is ignored, so always wait it out; a hung modem sends no URC at all.
    await asyncio.sleep_ms(int(m._get("off_wait_ms")))
    m.reg = None
    m.needs_attach = True
    m._ids = None
    m.rat_now = None  # a new power-on may camp on another RAT
    if await _probe(m, 1):
        m._event("power_off_failed", m.model)
        return False
    return True


async def recover(m):
    """Power-cycle a modem that stopped answering. Counted in `recoveries`."""
    m._recovering = True
    try:
        n = m.at.timeouts_in_row
        m._event("modem_hung", "%d timeouts in a row" % n)
        if m.reset is not None:
            ok = await hard_reset(m)
            if not ok and m.pwrkey is not None:
                await power_off(m)
                ok = await power_on(m)
        elif m.pwrkey is None:
            m.at.timeouts_in_row = 0
            m._event("recovery_failed", "no power key")
            return False
        else:
            await power_off(m)
            ok = await power_on(m)
        m.recoveries += 1
        m.needs_attach = True
        m._event("modem_recovered" if ok else "recovery_failed", "recoveries=%d" % m.recoveries)
        return ok
    finally:
        m._recovering = False


# -- SIM -------------------------------------------------------------------------------------
async def check_sim(m):
    """True when the SIM is ready; otherwise an event (sim_missing / sim_pin / sim_error)."""
    r = await m._cmd("AT+CPIN?")
    if r is not None:
        for line in r[0]:
            if "READY" in line:
                return True
        m._event("sim_pin", " ".join(r[0]))
        return False
    e = m.last_error
    code = getattr(e, "code", None)
    # TS 27.007 §9.2.1: 10 SIM not inserted, 13 SIM failure, 14 SIM busy, 15 SIM wrong
    if code == 10 or (isinstance(code, str) and "not inserted" in code.lower()):
        m._event("sim_missing", "+CME ERROR: 10")
    elif e is not None and isinstance(e, AtError):
        m._event("sim_error", e.line)
    return False


# -- attach ----------------------------------------------------------------------------------
async def attach(m, timeout_s=180):
    """Configure RAT/APN/PSM/eDRX, wait for home or roaming registration. True when
    registered (attach_s measured from the call), False on denial or timeout."""
    at = m.at
    t0 = at.clock()
    if m.rat is not None:
        cmds = m._get("rat " + m.rat)
        if cmds is None:
            m._event("config", "rat %s not offered by %s" % (m.rat, m.model))
        else:
            for c in cmds.split("|"):
                await m._cmd(c)
    if m.apn:
        for c in m._all("apn"):
            await m._cmd(c.replace("{apn}", m.apn))
    await m._cmd("AT+CEREG=" + m._get("cereg"))
    if m.psm is not None:
        await request_psm(m, m.psm[0], m.psm[1])
    if m.edrx is not None:
        e = m.edrx
        if isinstance(e, (tuple, list)):
            await request_edrx(m, e[0], e[1])
        else:
            await request_edrx(m, e)
    limit_ms = int(timeout_s * 1000)
    while True:
        m._reg_ev.clear()
        v = await m._query("AT+CEREG?")
        if v is not None and "reg" in v:
            m._set_reg(v["reg"], v)
        if m.reg in ("home", "roaming"):
            m.attach_s = round(_elapsed(at, t0) / 1000, 1)
            m.needs_attach = False
            await _activate(m)
            return True
        if m.reg == "denied":
            return False
        left = limit_ms - _elapsed(at, t0)
        if left <= 0:
            break
        try:
            await asyncio.wait_for_ms(m._reg_ev.wait(), min(left, _POLL_REG_MS))
        except asyncio.TimeoutError:
            pass
    m._event("attach_timeout", "%s after %d s" % (m.reg, timeout_s))
    return False


async def _activate(m):
    for a in m._all("act"):
        c, _, expect = a.partition("|")
        await m._cmd(c.replace("{apn}", m.apn), _NET_MS, expect or None)


# -- radio, network time ------------------------------------------------------------------------
async def _quiet(m, line):
    # A command whose failure changes nothing (an older firmware without it, say).
    try:
        return await m.at.cmd(line, _QUIET_MS)
    except (AtError, AtTimeout):
        return None


async def set_radio(m, on):
    """AT+CFUN=1 / AT+CFUN=0 (TS 27.007 §8.2: full / minimum functionality). Either way the
    modem must attach again afterwards."""
    await _quiet(m, "AT+CFUN=1" if on else "AT+CFUN=0")
    m.needs_attach = True


async def nitz_on(m):
    """Let the modem set its clock from the network (the model's `nitz` line)."""
    line = m._get("nitz")
    if line:
        await _quiet(m, line)


async def network_utc(m):
    """UTC (epoch s) from the modem's clock (AT+CCLK?, TS 27.007 §8.15), or None."""
    r = await _quiet(m, "AT+CCLK?")
    if r is None:
        return None
    from mobiot_fw.nettime import parse_cclk

    for line in r[0]:
        if line.startswith("+CCLK:"):
            return parse_cclk(line)
    return None


# -- PSM / eDRX --------------------------------------------------------------------------------
async def request_psm(m, t3412_s, t3324_s):
    """AT+CPSMS=1,,,<T3412 ext>,<T3324> (TS 27.007 §7.38); None/None disables PSM."""
    if t3412_s is None and t3324_s is None:
        return await m._cmd("AT+CPSMS=0") is not None
    line = 'AT+CPSMS=1,,,"%s","%s"' % (encode_t3412(t3412_s), encode_t3324(t3324_s))
    return await m._cmd(line) is not None


async def request_edrx(m, edrx_s, ptw_s=None, rat=None):
    """AT+CEDRXS=2,<AcT>,<value> (TS 27.007 §7.40; mode 2 also enables +CEDRXP URCs);
    the paging time window through the vendor command where the model has one."""
    rat = rat or m.rat or "LTE-M"
    act = edrx_act(rat)
    if edrx_s is None:
        return await m._cmd("AT+CEDRXS=0") is not None
    bits = encode_edrx(edrx_s, rat)
    ok = await m._cmd('AT+CEDRXS=2,%d,"%s"' % (act, bits)) is not None
    c = m._get("ptw")
    if ptw_s is not None and c:
        c = c.replace("{act}", str(act)).replace("{ptw}", encode_ptw(ptw_s, rat))
        ok = await m._cmd(c.replace("{edrx}", bits)) is not None and ok
    return ok


# -- TS 24.008 encodings (pure) ---------------------------------------------------------------
# A timer value is an 8-character bit string, as AT+CPSMS takes it (TS 27.007 §7.38).
# §10.5.7.4a GPRS Timer 3 (T3412 extended): bits 8-6 unit, bits 5-1 value
_T3412_UNITS = (
    (0b011, 2),
    (0b100, 30),
    (0b101, 60),
    (0b000, 600),
    (0b001, 3600),
    (0b010, 36000),
    (0b110, 1152000),
)
# §10.5.7.3 GPRS Timer 2 (T3324): 000 2 s, 001 1 min, 010 decihours; 111 deactivated
_T3324_UNITS = ((0b000, 2), (0b001, 60), (0b010, 360))
_DEACTIVATED = const(0b111)


def _bits(x, n=8):
    s = ""
    for i in range(n - 1, -1, -1):
        s += "1" if (x >> i) & 1 else "0"
    return s


def _enc_timer(seconds, units):
    if seconds is None:
        return _bits(_DEACTIVATED << 5)
    seconds = int(seconds)
    if seconds < 0:
        raise ValueError("timer < 0")
    # finest unit that can hold the value; round up so the device never sleeps shorter
    for unit, mult in units:
        v = (seconds + mult - 1) // mult
        if v <= 31:
            return _bits((unit << 5) | v)
    unit, mult = units[-1]
    return _bits((unit << 5) | 31)


def _dec_timer(bits, units):
    x = int(bits, 2)
    unit = x >> 5
    if unit == _DEACTIVATED:
        return None
    for u, mult in units:
        if u == unit:
            return (x & 31) * mult
    # TS 24.008: other unit values "shall be interpreted as multiples of 1 minute (T3412) /
    # as deactivated"; only the deactivated meaning matters to a receiver here
    return None


def encode_t3412(seconds):
    """Requested periodic TAU (T3412 extended) -> GPRS Timer 3 bit string; None deactivates."""
    return _enc_timer(seconds, _T3412_UNITS)


def decode_t3412(bits):
    return _dec_timer(bits, _T3412_UNITS)


def encode_t3324(seconds):
    """Requested active time (T3324) -> GPRS Timer 2 bit string; None deactivates."""
    return _enc_timer(seconds, _T3324_UNITS)


def decode_t3324(bits):
    return _dec_timer(bits, _T3324_UNITS)


# §10.5.5.32 Extended DRX parameters, S1 mode: eDRX cycle per 4-bit value, in units of
# 10.24 ms frames... expressed here in ms. WB-S1 (LTE-M) allows all 16; NB-S1 a subset.
_EDRX_MS = (
    5120,
    10240,
    20480,
    40960,
    61440,
    81920,
    102400,
    122880,
    143360,
    163840,
    327680,
    655360,
    1310720,
    2621440,
    5242880,
    10485760,
)
_EDRX_NB = (2, 3, 5, 9, 10, 11, 12, 13, 14, 15)
# AcT-type of AT+CEDRXS (TS 27.007 §7.40): 4 E-UTRAN (WB-S1), 5 E-UTRAN (NB-S1)
_ACT_WB = const(4)
_ACT_NB = const(5)


def edrx_act(rat):
    return _ACT_NB if rat == "NB-IoT" else _ACT_WB


def encode_edrx(seconds, rat="LTE-M"):
    """Shortest allowed eDRX cycle >= seconds -> 4-bit string (longest if none is)."""
    ms = int(seconds * 1000 + 0.5)
    allowed = _EDRX_NB if rat == "NB-IoT" else range(16)
    best = None
    for v in allowed:
        if _EDRX_MS[v] >= ms:
            best = v
            break
    if best is None:
        best = allowed[-1]
    return _bits(best, 4)


def decode_edrx(bits, rat="LTE-M"):
    v = int(bits, 2)
    if rat == "NB-IoT" and v not in _EDRX_NB:
        v = 2  # §10.5.5.32: other values are interpreted as 0010 in NB-S1 mode
    return _EDRX_MS[v] / 1000


def encode_ptw(seconds, rat="LTE-M"):
    """Paging time window: WB-S1 1.28 s x (n+1), NB-S1 2.56 s x (n+1) (§10.5.5.32)."""
    step = 2560 if rat == "NB-IoT" else 1280
    n = (int(seconds * 1000 + 0.5) + step - 1) // step - 1
    n = 0 if n < 0 else 15 if n > 15 else n
    return _bits(n, 4)


def decode_ptw(bits, rat="LTE-M"):
    step = 2.56 if rat == "NB-IoT" else 1.28
    return round((int(bits, 2) + 1) * step, 2)
