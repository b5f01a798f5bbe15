# Cellular modem driver: one text block per model (mobiot_fw.cell.models), one Modem class
# driving any of them.
#
# Heap: a Modem keeps only its own model's lines (the table module is imported for the
# constructor and dropped); the power, SIM and attach procedures and the TS 24.008 encoders
# (cell_ctl) are imported for each such call and dropped too, so between attaches the board
# holds what the report loop needs. Tests reach the encoders as mobiot_fw.cell.modem.encode_t3412.
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

from micropython import const

from mobiot_fw.cell import parse as cellular
from mobiot_fw import once
from mobiot_fw.cell.at import AtError, AtTimeout

_CMD_MS = const(5000)  # ordinary commands (V.250 modems answer in < 1 s; margin for busy)
_HANG_LIMIT = const(3)
# RESET held this long when the board file gives no modem.reset_ms: LilyGO's T-A7670 example
# (LilyGo-Modem-Series-MicroPython examples/ATdebug/ATdebug.py: reset, time.sleep(2.6)), the
# only supported board with a RESET line.
_RESET_MS = const(2600)
_WAKE_MS = const(100)  # DTR low -> UART usable: ~50 ms in the SIMCom / Quectel hardware designs

# commands every model answers (TS 27.007). Requested PSM/eDRX first, then what the network
# granted (the model's rdp command, +CEREG n=4 timers) so the granted values win in the merged
# record; then the model's signal commands and its IP command (mobiot_fw.cell.models).
_REPORT_HEAD = "AT+CPSMS?|AT+CEDRXS?"
_REPORT_COMMON = "AT+CEREG?|AT+COPS?|AT+CSQ|AT+CESQ"


def __getattr__(name):
    # PEP 562: the encoders/decoders (encode_t3412, decode_edrx, edrx_act, ...) for tests and
    # hosts, and MODELS (model name -> its cell_models lines) for docs/boards.md's model check
    if name == "MODELS":
        m = once("mobiot_fw.cell.models")
        return {n: m.row(n)[1] for n in m.names()}
    return getattr(once("mobiot_fw.cell.ctl"), name)


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
        dtr=None,
        reset=None,
        reset_active=1,
        reset_ms=_RESET_MS,
    ):
        name, self._row = once("mobiot_fw.cell.models").row(model)
        if name is None:
            raise ValueError("unknown modem model: %s" % model)
        self.at = at
        self.model = name
        self._down = self._get("down_urc")
        self.pwrkey = pwrkey
        self.pwrkey_active = pwrkey_active
        self.apn = apn or ""
        self.psm = psm  # None or (t3412_s, t3324_s)
        self.edrx = edrx  # None or edrx_s or (edrx_s, ptw_s)
        self.rat = rat
        self.on_event = on_event
        self.on_reg = on_reg  # called (reg, values) when registration changes
        self.hang_limit = hang_limit
        self.dtr = dtr  # DTR output (low: awake), None when the board has no DTR line
        self.reset = reset  # RESET line (Pin-like), None when the board has none
        self.reset_active = reset_active
        self.reset_ms = reset_ms
        self.asleep = False
        self._sleep_ok = None  # the model's sleep command took (None: not tried since power-on)
        self.reg = None
        self.reg_values = {}
        self.attach_s = None
        self.recoveries = 0
        self.events = 0
        self.needs_attach = True
        self.last_error = None
        self._ids = None
        self.rat_now = None  # RAT from the model's serving-cell command (_set_reg)
        self._recovering = False
        self.held = False  # a data call (PPP) owns the UART: no AT command (_cmd, sleep)
        self._reg_ev = asyncio.Event()
        self._down_ev = asyncio.Event()
        self._prev_urc = at.urc_handler
        at.urc_handler = self._urc

    # -- the model's lines (mobiot_fw.cell.models) -----------------------------------------------
    def _get(self, key):
        """The value of the model's first `key` line, or None."""
        v = self._all(key)
        return v[0] if v else None

    def _all(self, key):
        """The values of every `key` line of the model, in order."""
        return cellular.row_values(self._row, key)

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
        # One board on one network reports one RAT, decided by the most specific source: the
        # model's serving-cell command (+CPSI "LTE CAT-M1", +QENG "eMTC") names LTE-M or LTE
        # (rat_now); a TS 27.007 <AcT> 7 (+CEREG/+COPS, and the registration URC behind the
        # first record after each registration) only says E-UTRAN, so it takes that name. Any
        # other RAT (NB-IoT, GSM) is a real change and stands.
        r = values.get("rat")
        if r != self.rat_now and r in ("LTE", "LTE-M") and self.rat_now in ("LTE", "LTE-M"):
            values["rat"] = self.rat_now
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
        if line == self._down:
            self._down_ev.set()
        elif line.startswith("+CPIN:") and line[6:].strip() != "READY":
            # +CPIN: NOT INSERTED / NOT READY at boot or on removal (TS 27.007 §8.3)
            self._event("sim_missing", line)
        try:
            r = cellular.parse_urc(line, self.model)  # <AcT> as this model means it
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
        """(lines, final) or None on error/timeout (reported as events). None at once, with no
        event and no timeout counted, while a data call holds the UART (held: PPP, uplink/ppp.py
        through ModemPart.hold): the command could not reach the modem, and its timeout must not
        count toward the hang policy and power-cycle a modem that is busy carrying our data."""
        if self.held:
            return None
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

    # -- power, SIM, attach: mobiot_fw.cell.ctl, imported for the call and dropped again --------
    async def power_on(self):
        """Make sure the modem is on and answering; True when it is."""
        return await once("mobiot_fw.cell.ctl").power_on(self)

    async def power_off(self):
        """Power-down through the key; True when the modem stopped answering."""
        return await once("mobiot_fw.cell.ctl").power_off(self)

    async def recover(self):
        """Power-cycle a modem that stopped answering. Counted in `recoveries`."""
        return await once("mobiot_fw.cell.ctl").recover(self)

    async def check_sim(self):
        """True when the SIM is ready; otherwise an event (sim_missing / sim_pin / sim_error)."""
        return await once("mobiot_fw.cell.ctl").check_sim(self)

    async def attach(self, timeout_s=180):
        """Configure RAT/APN/PSM/eDRX, wait for home or roaming registration. True when
        registered (attach_s measured from the call), False on denial or timeout."""
        return await once("mobiot_fw.cell.ctl").attach(self, timeout_s)

    async def request_psm(self, t3412_s, t3324_s):
        """AT+CPSMS=1,,,<T3412 ext>,<T3324> (TS 27.007 §7.38); None/None disables PSM."""
        return await once("mobiot_fw.cell.ctl").request_psm(self, t3412_s, t3324_s)

    async def request_edrx(self, edrx_s, ptw_s=None, rat=None):
        """AT+CEDRXS=2,<AcT>,<value> (TS 27.007 §7.40; mode 2 also enables +CEDRXP URCs);
        the paging time window through the vendor command where the model has one."""
        return await once("mobiot_fw.cell.ctl").request_edrx(self, edrx_s, ptw_s, rat)

    async def sleep(self):
        """Let the modem sleep until wake() (DTR high, after the model's sleep command took
        once per power-on). False when it cannot: no DTR line, or no such command."""
        if self.dtr is None or self.held:
            return False  # (held: DTR high would end the data call, AT&D)
        if self._sleep_ok is None:
            line = self._get("sleep")
            try:
                self._sleep_ok = line is not None and await self.at.cmd(line, _CMD_MS) is not None
            except (AtError, AtTimeout):
                self._sleep_ok = False
        if not self._sleep_ok:
            return False
        self.dtr.value(1)
        self.asleep = True
        return True

    async def wake(self):
        """DTR low, then the UART's wake-up time; nothing when the modem is not asleep."""
        if self.asleep:
            self.dtr.value(0)
            self.asleep = False
            await asyncio.sleep_ms(_WAKE_MS)

    def registered(self):
        return self.reg in ("home", "roaming")

    # -- report ------------------------------------------------------------------------------------
    async def identities(self):
        if self._ids is None:
            ids = {}
            for c in ("AT+CGSN", "AT+CIMI", self._get("ccid"), "AT+CGMR"):
                v = await self._query(c)
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
        signal = self._all("signal")
        cmds = _REPORT_HEAD.split("|") + self._all("rdp") + _REPORT_COMMON.split("|") + signal
        cmds += self._all("ip")
        for c in cmds:
            v = await self._query(c)
            if v:
                if c in signal and "rat" in v:
                    self.rat_now = v["rat"]  # the serving cell's own name for its RAT
                vals.update(v)
        if "reg" in vals:
            self._set_reg(vals["reg"], vals)
        if self.apn and "apn" not in vals:
            vals["apn"] = self.apn
        if self.attach_s is not None:
            vals["attach_s"] = self.attach_s
        vals["model"] = self.model
        return vals
