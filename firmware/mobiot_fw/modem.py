# Cellular modem driver: one table row per model, one Modem class driving any of them.
#
# Contract: the connectivity values are the record names of docs/records.md (rat, rssi,
# rsrp, rsrq, sinr, band, earfcn, pci, cell, tac, mcc, mnc, oper, reg, ip, apn, psm, t3412_s,
# t3324_s, edrx, edrx_s, ptw_s, ce_level, imei, iccid, imsi, modem_fw, model, attach_s, ...),
# produced by the pure parsers in cellular.py. The simulator that tests this is described in
# docs/scenario.md.
#
# Failures of the modem never raise out of Modem: they become events through
# on_event(name, detail) and the call returns None / False, so the main loop keeps sampling
# sensors when the modem is dead. A modem that stops answering (hang_limit consecutive AT
# timeouts) is power-cycled through the power key and the recovery is counted.
import asyncio
import time

from micropython import const

from mobiot_fw import cellular
from mobiot_fw.at import AtError, AtTimeout

_PROBE_MS = const(500)  # AT probe timeout while waiting for boot
_CMD_MS = const(5000)  # ordinary commands (V.250 modems answer in < 1 s; margin for busy)
_NET_MS = const(30000)  # network-bound commands (AT+COPS, PDP activation): manuals allow minutes
_POLL_REG_MS = const(2000)  # +CEREG? poll period while attaching (URCs wake us earlier)
_HANG_LIMIT = const(3)

# ---------------------------------------------------------------------------------------
# The models. Power-key times are the module pin's (PWRKEY pulled low); a board with an NPN
# inverter presses the key with a high GPIO (pwrkey_active=1, the default).
#   on_ms / off_ms   pulse widths used (>= the hardware design's minimum, with margin)
#   boot_ms          longest wait for the first AT answer after the on pulse
#   off_wait_ms      power-off pulse -> UART dead
#   rat              RAT name -> commands that select it
#   apn              commands that set the APN ("{apn}" is replaced)
#   activate         (command, expect) pairs that bring the data bearer up after attach
#   signal, ip       vendor commands read by report()
#   ccid             the ICCID command
#   cereg            AT+CEREG=<n> mode: 4 reports PSM timers (TS 27.007 §10.1.22)
MODELS = {
    "SIM7080G": {
        # SIM7080 Series Hardware Design V1.04 §3.4 (power on/off): Ton >= 1 s, Toff >= 1.2 s
        "on_ms": 1100,
        "off_ms": 1500,
        "boot_ms": 15000,
        "off_wait_ms": 4000,
        "down_urc": "NORMAL POWER DOWN",
        # SIM7080 Series AT Command Manual: AT+CNMP=38 LTE only; AT+CMNB=1 CAT-M, 2 NB-IoT
        "rat": {
            "LTE-M": ("AT+CNMP=38", "AT+CMNB=1"),
            "NB-IoT": ("AT+CNMP=38", "AT+CMNB=2"),
            "GSM": ("AT+CNMP=13",),
        },
        # AT+CNCFG=<pdpidx>,<ip_type>,<APN> configures the app PDP; AT+CNACT=0,1 activates it
        "apn": ('AT+CGDCONT=1,"IP","{apn}"', 'AT+CNCFG=0,1,"{apn}"'),
        "activate": (("AT+CNACT=0,1", "+APP PDP:"),),
        "signal": ("AT+CPSI?",),
        "ip": "AT+CNACT?",
        "ccid": "AT+CCID",
        "cereg": 4,
        "ptw": 'AT+CPTWEDRXS=2,{act},"{ptw}","{edrx}"',
        "rdp": ("AT+CEDRXRDP",),  # TS 27.007 §7.41: eDRX the network granted
    },
    "SIM7000G": {
        # SIM7000 Hardware Design V1.04 §3.4: Ton >= 1 s; Table 9: Toff >= 1.2 s,
        # Toff(uart) 1.8-6.9 s
        "on_ms": 1100,
        "off_ms": 1500,
        "boot_ms": 15000,
        "off_wait_ms": 7000,
        "down_urc": "NORMAL POWER DOWN",
        # SIM7000 Series AT Command Manual: AT+CNMP=38 LTE only; AT+CMNB=1 CAT-M, 2 NB-IoT
        "rat": {
            "LTE-M": ("AT+CNMP=38", "AT+CMNB=1"),
            "NB-IoT": ("AT+CNMP=38", "AT+CMNB=2"),
            "GSM": ("AT+CNMP=13",),
        },
        "apn": ('AT+CGDCONT=1,"IP","{apn}"',),
        # SIM7000: AT+CNACT=<mode>,<APN> opens the app network; +APP PDP: ACTIVE follows
        "activate": (('AT+CNACT=1,"{apn}"', "+APP PDP:"),),
        "signal": ("AT+CPSI?",),
        "ip": "AT+CNACT?",
        "ccid": "AT+CCID",
        "cereg": 4,
        "ptw": None,
        "rdp": ("AT+CEDRXRDP",),
    },
    "A7670": {
        # A7670 Series Hardware Design: PWRKEY Ton >= 50 ms, Toff >= 2.5 s
        "on_ms": 200,
        "off_ms": 3000,
        "boot_ms": 20000,
        "off_wait_ms": 6000,
        "down_urc": "NORMAL POWER DOWN",
        # A76xx AT Command Manual: AT+CNMP=38 LTE only, 2 automatic (GSM fallback on A7670E)
        "rat": {"LTE": ("AT+CNMP=38",), "GSM": ("AT+CNMP=13",), "auto": ("AT+CNMP=2",)},
        "apn": ('AT+CGDCONT=1,"IP","{apn}"',),
        "activate": (("AT+CGACT=1,1", None),),
        "signal": ("AT+CPSI?",),
        "ip": "AT+CGPADDR=1",
        "ccid": "AT+CICCID",
        "cereg": 2,  # Cat-1: no PSM timers to report
        "ptw": None,
        "rdp": (),
    },
    "BG95": {
        # BG95 Series Hardware Design §3.6.1: PWRKEY low 500-1000 ms turns on;
        # §3.6.2.1: 650-1500 ms turns off, >= 1.3 s power-down procedure
        "on_ms": 600,
        "off_ms": 900,
        "boot_ms": 15000,
        "off_wait_ms": 4000,
        "down_urc": "POWERED DOWN",
        # BG95 AT Commands Manual AT+QCFG: "iotopmode" 0 eMTC, 1 NB-IoT;
        # "nwscanseq" 02 = eMTC first, 03 = NB-IoT first, 01 = GSM
        "rat": {
            "LTE-M": ('AT+QCFG="nwscanseq",020301', 'AT+QCFG="iotopmode",0,1'),
            "NB-IoT": ('AT+QCFG="nwscanseq",030201', 'AT+QCFG="iotopmode",1,1'),
            "GSM": ('AT+QCFG="nwscanseq",010203', 'AT+QCFG="nwscanmode",1,1'),
        },
        # TCP/IP AT manual: AT+QICSGP=<contextID>,<context_type 1=IPv4>,<APN>; AT+QIACT=1
        "apn": ('AT+CGDCONT=1,"IP","{apn}"', 'AT+QICSGP=1,1,"{apn}"'),
        "activate": (("AT+QIACT=1", None),),
        "signal": ('AT+QENG="servingcell"', "AT+QCSQ"),
        "ip": "AT+CGPADDR=1",
        "ccid": "AT+QCCID",
        "cereg": 4,
        "ptw": 'AT+QPTWEDRXS=2,{act},"{ptw}","{edrx}"',
        "rdp": ("AT+CEDRXRDP",),
    },
}
MODELS["BG96"] = dict(MODELS["BG95"], off_ms=800)
_ALIASES = {
    "SIM7080": "SIM7080G",
    "SIM7000": "SIM7000G",
    "A7670E": "A7670",
    "A7670G": "A7670",
    "A7670SA": "A7670",
    "BG95-M3": "BG95",
}

# commands every model answers (TS 27.007). Requested PSM/eDRX first, then what the network
# granted (+CEDRXRDP, +CEREG n=4 timers) so the granted values win in the merged record.
_REPORT_HEAD = ("AT+CPSMS?", "AT+CEDRXS?")
_REPORT_COMMON = ("AT+CEREG?", "AT+COPS?", "AT+CSQ", "AT+CESQ")
_IDS = ("AT+CGSN", "AT+CIMI", None, "AT+CGMR")  # None: the model's ICCID command

# ---------------------------------------------------------------------------------------
# 3GPP TS 24.008 timer encodings (pure). A value is an 8-character bit string, as
# AT+CPSMS takes it (TS 27.007 §7.38).
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


# ---------------------------------------------------------------------------------------
class Modem:
    def __init__(
        self,
        at,
        model,
        pwrkey=None,
        apn="",
        psm=None,
        edrx=None,
        rat=None,
        on_event=None,
        on_reg=None,
        pwrkey_active=1,
        hang_limit=_HANG_LIMIT,
    ):
        model = _ALIASES.get(model, model)
        if model not in MODELS:
            raise ValueError("unknown modem model: %s" % model)
        self.at = at
        self.model = model
        self.m = MODELS[model]
        self.pwrkey = pwrkey
        self.pwrkey_active = pwrkey_active
        self.apn = apn or ""
        self.psm = psm  # None or (t3412_s, t3324_s)
        self.edrx = edrx  # None or edrx_s or (edrx_s, ptw_s)
        self.rat = rat
        self.on_event = on_event
        self.on_reg = on_reg  # called (reg, values) when registration changes
        self.hang_limit = hang_limit
        self.reg = None
        self.reg_values = {}
        self.attach_s = None
        self.recoveries = 0
        self.events = 0
        self.needs_attach = True
        self.last_error = None
        self._ids = None
        self._recovering = False
        self._reg_ev = asyncio.Event()
        self._down_ev = asyncio.Event()
        self._prev_urc = at.urc_handler
        at.urc_handler = self._urc

    # -- events ----------------------------------------------------------------------------
    def _event(self, name, detail=""):
        self.events += 1
        h = self.on_event
        if h is not None:
            try:
                h(name, detail)
            except Exception as e:  # a sink bug must not take the modem down
                print("modem: event handler:", repr(e))

    def _set_reg(self, reg, values):
        if reg is None:
            return
        self.reg_values = values
        if reg != self.reg:
            old = self.reg
            self.reg = reg
            self._reg_ev.set()
            if reg == "denied":
                self._event("reg_denied", self.model)
            elif old in ("home", "roaming") and reg not in ("home", "roaming"):
                self._event("reg_lost", reg)
            h = self.on_reg
            if h is not None:
                try:
                    h(reg, values)
                except Exception as e:
                    print("modem: reg handler:", repr(e))

    def _urc(self, line):
        if line == self.m["down_urc"]:
            self._down_ev.set()
        elif line.startswith("+CPIN:") and line[6:].strip() != "READY":
            # +CPIN: NOT INSERTED / NOT READY at boot or on removal (TS 27.007 §8.3)
            self._event("sim_missing", line)
        try:
            r = cellular.parse_urc(line)
        except Exception as e:  # parser bug on a strange line: report, keep going
            self._event("parse_error", "%s: %r" % (line, e))
            r = None
        if r is not None:
            name, values = r
            if values and "reg" in values:
                self._set_reg(values["reg"], values)
        if self._prev_urc is not None:
            self._prev_urc(line)

    # -- AT with hang accounting ---------------------------------------------------------------
    async def _cmd(self, line, timeout_ms=_CMD_MS, expect=None):
        """(lines, final) or None on error/timeout (reported as events)."""
        self.last_error = None
        try:
            return await self.at.cmd(line, timeout_ms, expect)
        except AtError as e:
            self.last_error = e
            self._event("at_error", "%s -> %s" % (line, e.line))
        except AtTimeout as e:
            self.last_error = e
            self._event("at_timeout", line)
            if self.at.timeouts_in_row >= self.hang_limit and not self._recovering:
                await self.recover()
        return None

    async def _query(self, line, timeout_ms=_CMD_MS):
        r = await self._cmd(line, timeout_ms)
        if r is None:
            return None
        try:
            values, errors = cellular.parse_response(line, r[0], self.model)
        except Exception as e:
            self._event("parse_error", "%s: %r" % (line, e))
            return None
        for err in errors:
            self._event("parse_error", "%s: %s" % (line, err))
        return values

    # -- power ---------------------------------------------------------------------------------
    def _key(self, pressed):
        k = self.pwrkey
        if k is None:
            return
        level = self.pwrkey_active if pressed else 1 - self.pwrkey_active
        if hasattr(k, "value"):
            k.value(level)
        else:
            k(level)

    async def _press(self, ms):
        self._key(True)
        try:
            await asyncio.sleep_ms(ms)
        finally:
            self._key(False)

    async def _probe(self, tries=2):
        for _ in range(tries):
            try:
                await self.at.cmd("AT", _PROBE_MS)
                return True
            except AtTimeout:
                pass
            except AtError:
                return True  # it answered: alive
        return False

    async def power_on(self):
        """Make sure the modem is on and answering; True when it is."""
        if await self._probe():
            await self._after_boot()
            return True
        if self.pwrkey is None:
            self._event("modem_dead", "no answer and no power key")
            return False
        await self._press(self.m["on_ms"])
        self.at.reset()
        deadline = self.m["boot_ms"]
        waited = 0
        while waited < deadline:
            t0 = self.at.clock()
            if await self._probe(1):
                await self._after_boot()
                return True
            waited += _elapsed(self.at, t0) + 250
            await asyncio.sleep_ms(250)
        self._event("power_on_failed", "no answer %d ms after power key" % deadline)
        return False

    async def _after_boot(self):
        self.at.timeouts_in_row = 0
        # numeric +CME ERROR codes (TS 27.007 §9.1) so check_sim can tell 10 from 13
        await self._cmd("AT+CMEE=1")

    async def power_off(self):
        """Power-down through the key; True when the modem stopped answering."""
        if self.pwrkey is None:
            return False
        self._down_ev.clear()
        await self._press(self.m["off_ms"])
        # The power-down URC comes first, the module is off only after the whole procedure
        # (SIM7000 Hardware Design Table 9: Toff(uart) up to 6.9 s) and a power-on pulse
        # before that is ignored, so always wait it out; a hung modem sends no URC at all.
        await asyncio.sleep_ms(self.m["off_wait_ms"])
        self.reg = None
        self.needs_attach = True
        self._ids = None
        if await self._probe(1):
            self._event("power_off_failed", self.model)
            return False
        return True

    async def recover(self):
        """Power-cycle a modem that stopped answering. Counted in `recoveries`."""
        self._recovering = True
        try:
            n = self.at.timeouts_in_row
            self._event("modem_hung", "%d timeouts in a row" % n)
            if self.pwrkey is None:
                self.at.timeouts_in_row = 0
                self._event("recovery_failed", "no power key")
                return False
            await self.power_off()
            ok = await self.power_on()
            self.recoveries += 1
            self.needs_attach = True
            self._event("modem_recovered" if ok else "recovery_failed", "recoveries=%d" % self.recoveries)
            return ok
        finally:
            self._recovering = False

    # -- SIM -------------------------------------------------------------------------------------
    async def check_sim(self):
        """True when the SIM is ready; otherwise an event (sim_missing / sim_pin / sim_error)."""
        r = await self._cmd("AT+CPIN?")
        if r is not None:
            for line in r[0]:
                if "READY" in line:
                    return True
            self._event("sim_pin", " ".join(r[0]))
            return False
        e = self.last_error
        code = getattr(e, "code", None)
        # TS 27.007 §9.2.1: 10 SIM not inserted, 13 SIM failure, 14 SIM busy, 15 SIM wrong
        if code == 10 or (isinstance(code, str) and "not inserted" in code.lower()):
            self._event("sim_missing", "+CME ERROR: 10")
        elif e is not None and isinstance(e, AtError):
            self._event("sim_error", e.line)
        return False

    # -- attach ----------------------------------------------------------------------------------
    async def attach(self, timeout_s=180):
        """Configure RAT/APN/PSM/eDRX, wait for home or roaming registration. True when
        registered (attach_s measured from the call), False on denial or timeout."""
        at = self.at
        t0 = at.clock()
        m = self.m
        if self.rat is not None:
            cmds = m["rat"].get(self.rat)
            if cmds is None:
                self._event("config", "rat %s not offered by %s" % (self.rat, self.model))
            else:
                for c in cmds:
                    await self._cmd(c)
        if self.apn:
            for c in m["apn"]:
                await self._cmd(c.replace("{apn}", self.apn))
        await self._cmd("AT+CEREG=%d" % m["cereg"])
        if self.psm is not None:
            await self.request_psm(self.psm[0], self.psm[1])
        if self.edrx is not None:
            e = self.edrx
            if isinstance(e, (tuple, list)):
                await self.request_edrx(e[0], e[1])
            else:
                await self.request_edrx(e)
        limit_ms = int(timeout_s * 1000)
        while True:
            self._reg_ev.clear()
            v = await self._query("AT+CEREG?")
            if v is not None and "reg" in v:
                self._set_reg(v["reg"], v)
            if self.reg in ("home", "roaming"):
                self.attach_s = round(_elapsed(at, t0) / 1000, 1)
                self.needs_attach = False
                await self._activate()
                return True
            if self.reg == "denied":
                return False
            left = limit_ms - _elapsed(at, t0)
            if left <= 0:
                break
            try:
                await asyncio.wait_for_ms(self._reg_ev.wait(), min(left, _POLL_REG_MS))
            except asyncio.TimeoutError:
                pass
        self._event("attach_timeout", "%s after %d s" % (self.reg, timeout_s))
        return False

    async def _activate(self):
        for c, expect in self.m["activate"]:
            await self._cmd(c.replace("{apn}", self.apn), _NET_MS, expect)

    # -- PSM / eDRX --------------------------------------------------------------------------------
    async def request_psm(self, t3412_s, t3324_s):
        """AT+CPSMS=1,,,<T3412 ext>,<T3324> (TS 27.007 §7.38); None/None disables PSM."""
        if t3412_s is None and t3324_s is None:
            return await self._cmd("AT+CPSMS=0") is not None
        line = 'AT+CPSMS=1,,,"%s","%s"' % (encode_t3412(t3412_s), encode_t3324(t3324_s))
        return await self._cmd(line) is not None

    async def request_edrx(self, edrx_s, ptw_s=None, rat=None):
        """AT+CEDRXS=2,<AcT>,<value> (TS 27.007 §7.40; mode 2 also enables +CEDRXP URCs);
        the paging time window through the vendor command where the model has one."""
        rat = rat or self.rat or "LTE-M"
        act = edrx_act(rat)
        if edrx_s is None:
            return await self._cmd("AT+CEDRXS=0") is not None
        bits = encode_edrx(edrx_s, rat)
        ok = await self._cmd('AT+CEDRXS=2,%d,"%s"' % (act, bits)) is not None
        if ptw_s is not None and self.m["ptw"]:
            c = self.m["ptw"].replace("{act}", str(act)).replace("{ptw}", encode_ptw(ptw_s, rat))
            ok = await self._cmd(c.replace("{edrx}", bits)) is not None and ok
        return ok

    # -- report ------------------------------------------------------------------------------------
    async def identities(self):
        if self._ids is None:
            ids = {}
            for c in _IDS:
                v = await self._query(c or self.m["ccid"])
                if v:
                    ids.update(v)
            if ids:
                self._ids = ids
            return ids
        return self._ids

    async def report(self):
        """Connectivity values right now, merged from the model's command set. Never raises;
        missing values are simply absent."""
        vals: dict = {"model": self.model}
        ids = await self.identities()
        vals.update(ids)
        cmds = _REPORT_HEAD + self.m["rdp"] + _REPORT_COMMON + self.m["signal"] + (self.m["ip"],)
        for c in cmds:
            v = await self._query(c)
            if v:
                vals.update(v)
        if "reg" in vals:
            self._set_reg(vals["reg"], vals)
        if self.apn and "apn" not in vals:
            vals["apn"] = self.apn
        if self.attach_s is not None:
            vals["attach_s"] = self.attach_s
        vals["model"] = self.model
        return vals


def _elapsed(at, t0):
    return time.ticks_diff(at.clock(), t0)
