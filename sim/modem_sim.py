# Scriptable cellular modem simulator for virtual boards and tests (never deployed).
#
# Contract: docs/scenario.md (the "modem" part of a scenario).
#
# ModemSim(model, scenario=None, seed=0, clock=None) speaks the AT dialect of SIM7080G,
# SIM7000G, A7670 or BG95 over a fake UART pair: sim.uart() is the firmware's end (a
# machine.UART look-alike), sim.pwrkey is a Pin-like power key. Response formats follow the
# vendors' AT manuals (cited at each formatter), timing is realistic (10-100 ms per command,
# seconds to register, a boot of seconds after the power key), signal varies smoothly with
# noise, and scenario events (outage, denial, SIM loss, hang, command errors) happen on a
# timeline measured from the simulator's start. modem.responses overrides any command with
# lines pasted from a real modem's log.
#
# Time comes from `clock` (a ticks_ms function) and all waiting is asyncio.sleep_ms, so a
# test can run hours of modem time in milliseconds with VirtualTime below.
import asyncio
import math
import time

from fakeuart import uart_pair

_LOG_MAX = 256

# ------------------------------------------------------------------------------------------
# Virtual time for tests: asyncio's clock is asyncio.core.ticks; when no task is due, jump
# the clock to the next timer instead of sleeping. Tasks that the C scheduler queues with the
# real clock (create_task, I/O wakeups) then sort before any virtual timer, which is right:
# they are ready now.


class _Poller:
    """select.poll stand-in for virtual time: asks each stream's ioctl(MP_STREAM_POLL) directly.
    The unix port's poller sleeps 1 ms whenever it polls a non-fd object, which would turn
    virtual minutes back into real seconds."""

    def __init__(self):
        self.objs = {}

    def register(self, s, flags=5):
        self.objs[id(s)] = [s, flags]

    def modify(self, s, flags):
        self.objs[id(s)][1] = flags

    def unregister(self, s):
        self.objs.pop(id(s), None)

    def ipoll(self, timeout=-1, flags=0):
        out = []
        for s, fl in list(self.objs.values()):
            r = s.ioctl(3, fl)  # MP_STREAM_POLL
            if r and r != -1:
                out.append((s, r))
        return out

    poll = ipoll


class VirtualTime:
    def __init__(self):
        self.offset = 0
        self._orig = None

    def ticks_ms(self):
        return time.ticks_add(time.ticks_ms(), self.offset)

    def install(self):
        import asyncio.core as core

        self._core = core
        self._ticks0 = core.ticks
        core.ticks = self.ticks_ms
        ioq = core._io_queue
        self._ioq = ioq
        self._poller0 = ioq.poller
        p = _Poller()
        for entry in ioq.map.values():  # [read_task, write_task, stream]
            p.register(entry[2], (1 if entry[0] is not None else 0) | (4 if entry[1] is not None else 0))
        ioq.poller = p
        orig = ioq.wait_io_event
        self._orig = orig

        def wait(dt):
            orig(0)  # service any ready fake-UART poll without blocking
            t = core._task_queue.peek()
            if t is not None:
                d = time.ticks_diff(t.ph_key, self.ticks_ms())
                if d > 0:
                    self.offset += d
            elif dt < 0:
                time.sleep_ms(1)  # only I/O waiters and no timers: nothing virtual can happen

        ioq.wait_io_event = wait
        return self

    def uninstall(self):
        if self._orig is not None:
            self._core.ticks = self._ticks0
            self._ioq.poller = self._poller0
            try:
                del self._ioq.wait_io_event
            except (AttributeError, KeyError):
                self._ioq.wait_io_event = self._orig
            self._orig = None

    def run(self, coro):
        """asyncio.run(coro) in virtual time; returns its result."""
        self.install()
        try:
            return asyncio.run(coro)
        finally:
            self.uninstall()
            asyncio.new_event_loop()  # drop tasks left behind (sim and engine loops)


# ------------------------------------------------------------------------------------------
# The models. One row per model; adding a model is adding a row.
#   boot_ms     power key release -> boot URCs (typical, from vendor hardware design notes)
#   on_min_ms   shortest PWRKEY low pulse that powers on
#   off_min_ms  shortest PWRKEY low pulse that powers off (off_max_ms: longer is ignored)
#   down_ms     power-off pulse -> UART dead (after the power-down URC)
_MODELS = {
    "SIM7080G": {
        "vendor": "simcom",
        "cgmm": "SIMCOM_SIM7080G",
        "cgmr": "Revision:1951B08SIM7080",
        "boot_ms": 3000,
        "on_min_ms": 1000,  # SIM7080 Hardware Design: Ton >= 1 s
        "off_min_ms": 1200,  # SIM7080 Hardware Design: Toff >= 1.2 s
        "off_max_ms": 0,
        "down_ms": 1800,
        "boot_urcs": ("RDY", "+CFUN: 1", "+CPIN: READY", "SMS Ready"),
        "down_urc": "NORMAL POWER DOWN",
        "ccid": "AT+CCID",
        "ip_quotes": True,
        "cpsi_tenths": False,
    },
    "SIM7000G": {
        "vendor": "simcom",
        "cgmm": "SIMCOM_SIM7000G",
        "cgmr": "Revision:1529B08SIM7000G",
        "boot_ms": 4500,
        "on_min_ms": 1000,  # SIM7000 Hardware Design V1.04 §3.4.1: Ton >= 1 s
        "off_min_ms": 1200,  # SIM7000 Hardware Design V1.04 Table 9: Toff >= 1.2 s
        "off_max_ms": 0,
        "down_ms": 1800,  # Table 9: Toff(uart) 1.8-6.9 s
        "boot_urcs": ("RDY", "+CFUN: 1", "+CPIN: READY", "SMS Ready"),
        "down_urc": "NORMAL POWER DOWN",
        "ccid": "AT+CCID",
        "ip_quotes": True,
        "cpsi_tenths": False,
    },
    "A7670": {
        "vendor": "simcom",
        "cgmm": "A7670E-LASE",
        "cgmr": "+CGMR: A011B07A7670M7_F",
        "boot_ms": 8000,
        "on_min_ms": 50,  # A7670 Series Hardware Design: Ton >= 50 ms
        "off_min_ms": 2500,  # A7670 Series Hardware Design: Toff >= 2.5 s
        "off_max_ms": 0,
        "down_ms": 2000,
        "boot_urcs": ("*ATREADY: 1", "+CPIN: READY", "SMS DONE", "PB DONE"),
        "down_urc": "NORMAL POWER DOWN",
        "ccid": "AT+CICCID",
        "ip_quotes": False,  # A76xx answers +CGPADDR: 1,10.x.x.x
        "cpsi_tenths": True,  # A76xx/SIM76xx +CPSI: RSRQ/RSRP/RSSI in 0.1 dB (-1089 = -108.9)
    },
    "BG95": {
        "vendor": "quectel",
        "cgmm": "BG95-M3",
        "cgmr": "BG95M3LAR02A03",
        "boot_ms": 5000,
        "on_min_ms": 500,  # BG95 Series Hardware Design §3.6.1: PWRKEY low 500-1000 ms
        "off_min_ms": 650,  # §3.6.2.1: PWRKEY low 650-1500 ms
        "off_max_ms": 1500,
        "down_ms": 1300,  # §3.6.2.1 Figure 9: >= 1.3 s power-down procedure
        "boot_urcs": ("RDY", "+CFUN: 1", "+CPIN: READY", "+QUSIM: 1", "+QIND: SMS DONE", "APP RDY"),
        "down_urc": "POWERED DOWN",
        "ccid": "AT+QCCID",
        "ip_quotes": True,
        "cpsi_tenths": False,
    },
}
_MODELS["BG96"] = dict(_MODELS["BG95"], cgmm="BG96", cgmr="BG96MAR02A07M1G", off_max_ms=0)
# LTE Cat 1 / Cat 1 bis (docs/modem.md, "Models"): rows in the same table, sources at each value.
# A7680C: the A76XX dialect of A7670 (A76XX Series AT Command Manual V1.11); its hardware design
# was not found with the search tool, so the power-key windows are A7670's.
_MODELS["A7680C"] = dict(_MODELS["A7670"], cgmm="A7680C", cgmr="+CGMR: A7680C_TEST")  # test identity
_MODELS["EC200U"] = {
    "vendor": "quectel",
    "cgmm": "EC200U",  # Quectel ATI/AT+CGMM: "Quectel" / "EC200U" / "Revision: ..."
    "cgmr": "EC200UCNAAR02A01M08",  # test identity
    "boot_ms": 5000,
    # Quectel LTE Standard convention (EC25 Hardware Design): PWRKEY low >= 500 ms on, >= 650 ms
    # off; the EC200U Hardware Design was not found, docs/modem.md marks these unverified
    "on_min_ms": 500,
    "off_min_ms": 650,
    "off_max_ms": 0,
    "down_ms": 2000,
    # Quectel boot URCs (EC25&EC21 AT Commands Manual: RDY, +CFUN: 1, +CPIN: READY, +QIND: SMS
    # DONE / PB DONE)
    "boot_urcs": ("RDY", "+CFUN: 1", "+CPIN: READY", "+QIND: SMS DONE", "+QIND: PB DONE"),
    "down_urc": "POWERED DOWN",
    "ccid": "AT+QCCID",
    "ip_quotes": True,
    "cpsi_tenths": False,
    # +QENG <SINR> of the LTE Standard modules has no documented scale: the sim prints its dB value
    # there, and the firmware reports the field as sinr_raw
    "qeng_lte": True,
}


def _row_name(model):
    # The model's row name from the firmware's one model table (mobiot_fw.cell.models: names and
    # aliases, the table vboard's scenario check and `modem decode --model` use too)
    from mobiot_fw.cell import models

    return models.row(model)[0] or model

# 3GPP TS 27.007 §10.1.22 (+CEREG) <stat>
_STAT_NOT = 0
_STAT_HOME = 1
_STAT_SEARCH = 2
_STAT_DENIED = 3
_STAT_ROAM = 5
# <AcT>: 7 = E-UTRAN, 9 = E-UTRAN (NB-S1 mode), 0 = GSM (TS 27.007 §7.3)
_ACT = {"LTE": 7, "LTE-M": 7, "NB-IoT": 9, "GSM": 0}
# Quectel reports eMTC as AcT 8 in +COPS? (BG95 AT Commands Manual, AT+COPS)
_ACT_QUECTEL = {"LTE": 7, "LTE-M": 8, "NB-IoT": 9, "GSM": 0}
# Resource blocks a UE measures RSSI over: LTE-M narrowband 6 PRB, NB-IoT 1 PRB, LTE 5 MHz 25 PRB
_NRB = {"LTE-M": 6, "NB-IoT": 1, "LTE": 25, "GSM": 1}

_DEFAULT = {
    "rat": "LTE-M",
    "operator": {"long": "Sim Operator", "short": "SIMOP", "numeric": None},
    "mcc": 262,
    "mnc": "01",
    "band": 20,
    "earfcn": 6300,
    "pci": 287,
    "cell": 0x1A2B3C4,
    "tac": 0x1816,
    "signal": {"rsrp": -95, "rsrq": -10, "sinr": 8, "jitter": 3},
    "roaming": False,
    "reg_delay_s": 6,
    "reselect_s": 3,
    "ip": "10.45.12.7",
    "imei": "868822040061234",
    "imsi": "262011234567890",
    "iccid": "89490200001234567890",
    "powered": True,
    "echo": True,
    "psm": {"grant": True},
    "edrx": {"grant": True},
}


# modem.gnss: the position the module's GNSS reports (docs/scenario.md). Munich Marienplatz,
# like sim_gnss's default route centre. utc0 is the UTC (Unix s) at simulator time 0.
_GNSS_DEFAULT = {
    "lat": 48.1374,
    "lon": 11.5755,
    "alt": 520.0,
    "ttff_s": 30,
    "sats": 9,
    "view": 12,
    "speed_kmh": 0.0,
    "course": 0.0,
    "hdop": 0.9,
    "utc0": None,  # None: the host's clock when the simulator starts
    "exclusive": None,  # None: true for SIM7080G (GNSS and LTE share one RF chain)
}


class _Line:
    """Pin-like input of the module, asserted at level `active`; `changed(asserted)` is called
    on every change of level. The power key: level `active` means the module's PWRKEY is pulled
    low (boards drive it through an NPN, so a high GPIO presses the key); the sim measures pulse
    widths. The RESET input: LilyGO T-A7670 drives it through a transistor (MODEM_RESET_LEVEL
    HIGH); released after being asserted, the module restarts as from power-on."""

    def __init__(self, changed, active=1):
        self._changed = changed
        self._active = active
        self._level = 1 - active

    def value(self, v=None):
        if v is None:
            return self._level
        v = 1 if v else 0
        if v != self._level:
            self._level = v
            self._changed(v == self._active)
        return None

    def __call__(self, v=None):
        return self.value(v)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


class _Rng:
    # xorshift32: seeded, independent of the global random state (tests stay reproducible)
    def __init__(self, seed):
        self.s = (seed * 2654435761 + 0x9E3779B9) & 0xFFFFFFFF or 1

    def next(self):
        s = self.s
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        self.s = s
        return s

    def uniform(self, a, b):
        return a + (b - a) * (self.next() / 4294967296)


class ModemSim:
    def __init__(self, model, scenario=None, seed=0, clock=None):
        model = _row_name(model or "SIM7080G")
        if model not in _MODELS:
            raise ValueError("unknown modem model: %s" % model)
        self.model = model
        self.m = _MODELS[model]
        sc = (scenario or {}).get("modem") or {}
        cfg = dict(_DEFAULT)
        cfg.update(sc)
        sig = dict(_DEFAULT["signal"])
        sig.update(sc.get("signal") or {})
        cfg["signal"] = sig
        op = cfg.get("operator")
        if isinstance(op, str):
            op = {"long": op, "short": op}
        cfg["operator"] = op or {}
        g = dict(_GNSS_DEFAULT)
        g.update(sc.get("gnss") or {})
        if g.get("exclusive") is None:
            g["exclusive"] = model == "SIM7080G"
        cfg["gnss"] = g
        self.cfg = cfg
        self.clock = clock or time.ticks_ms
        self._rng = _Rng(seed)
        self._phase = self._rng.uniform(0, 6.283)
        self._fw, self._mdm = uart_pair(2048)
        self._mdm.on_rx = self._rx
        self._fw.on_write = self.start  # a powered modem boots even if nobody presses the key
        self._acc = bytearray()
        self.pwrkey = _Line(self._key)
        self.reset_line = _Line(self._reset)
        self.resets = 0
        self.events = list(cfg.get("events") or ())
        self.responses = cfg.get("responses") or {}
        self._resp_n = {}
        self.log = []  # (t_ms, "<"|">", line): the last _LOG_MAX lines exchanged, for tests
        self._q = []  # command lines waiting to be answered
        self._qev = asyncio.Event()
        self._tasks = None
        self._t0 = self.clock()
        self.utc_start = time.time()  # unix port: seconds since 1970, as on the host
        # modem state
        self.state = "off"  # off | booting | on
        self.hung = False
        self._hung_until = None
        self.power_cycles = 0
        self.boots = 0
        self._press_t = None
        self._reset_runtime()
        self._fw.enabled = self._mdm.enabled = False
        if cfg.get("powered"):
            self._power_on(0)

    # -- public ----------------------------------------------------------------------------
    def uart(self):
        """The firmware's end of the UART (machine.UART look-alike). Starts the simulator's
        tasks (queued until the event loop runs)."""
        self.start()
        return self._fw

    def now_s(self):
        return time.ticks_diff(self.clock(), self._t0) / 1000

    def start(self):
        if self._tasks is None:
            self._tasks = (asyncio.create_task(self._serve()), asyncio.create_task(self._timeline()))
        return self

    def stop(self):
        if self._tasks:
            for t in self._tasks:
                t.cancel()
        self._tasks = None

    def truth(self):
        """What the scenario says the network looks like right now (for tests)."""
        return {"reg": self._reg_name(self._stat()), "rsrp": self._rsrp(), "sinr": self._sinr()}

    # -- power -----------------------------------------------------------------------------
    def _reset_runtime(self):
        if getattr(self, "sockets", None) is not None:
            self.sockets.reset()  # sim_sockets: a power cycle drops every connection
        self.echo = bool(self.cfg.get("echo", True))
        self.cfun = 1
        self.cereg_n = 0
        self.creg_n = 0
        self.apn = ""
        self.pdp_active = False
        self.psm_req = None  # (t3412 bits, t3324 bits)
        self.edrx_req = None  # (act, bits)
        self.gnss_on_s = None  # sim time GNSS was powered on, None while off
        # PPP data mode (sim/sim_ppp.py): data while the UART carries PPP, call from CONNECT
        # until the call ends (also in online command state, after "+++"); ppp: the sim_ppp.Call
        self.data = self.call = False
        self.ppp = None
        self._last_stat = None
        self._reg_from_s = None

    def _reset(self, asserted):
        # RESET released: the module restarts as from power-on, hung or not (the pulse width
        # is not checked)
        if not asserted and self.state != "off":
            self.resets += 1
            self._power_on(self.now_s())

    def _key(self, pressed):
        self.start()
        t = self.now_s()
        if pressed:
            self._press_t = t
            return
        if self._press_t is None:
            return
        held_ms = (t - self._press_t) * 1000
        self._press_t = None
        m = self.m
        if self.state == "off":
            if held_ms >= m["on_min_ms"]:
                self._power_on(t)
        elif held_ms >= m["off_min_ms"] and (not m["off_max_ms"] or held_ms <= m["off_max_ms"]):
            asyncio.create_task(self._power_down(bool(self.hung)))

    def _power_on(self, t):
        self.state = "booting"
        self.hung = False
        self._hung_until = None
        self._reset_runtime()
        self._boot_at = t + self.m["boot_ms"] / 1000
        self._fw.clear()
        self._mdm.clear()
        self._q = []
        self.boots += 1

    async def _power_down(self, silent):
        self.state = "stopping"  # the power-down procedure has begun: no more commands
        if not silent:
            await asyncio.sleep_ms(100)
            self._urc(self.m["down_urc"])
        await asyncio.sleep_ms(self.m["down_ms"])
        self.state = "off"
        self.hung = False
        self.power_cycles += 1
        self._fw.enabled = self._mdm.enabled = False
        self._q = []

    def _boot_done(self):
        self.state = "on"
        self._fw.enabled = self._mdm.enabled = True
        self._reg_from_s = self.now_s()
        for u in self.m["boot_urcs"]:
            if u.startswith("+CPIN:") and not self._sim_present():
                u = "+CPIN: NOT INSERTED"
            self._urc(u)

    # -- scenario timeline -------------------------------------------------------------------
    def _active(self, what, t=None):
        """The event of kind `what` in force at time t (s since start), or None."""
        if t is None:
            t = self.now_s()
        for ev in self.events:
            if ev.get("do") != what:
                continue
            a = ev.get("at_s", 0)
            f = ev.get("for_s")
            if a <= t and (f is None or t < a + f):
                return ev
        return None

    def _sim_present(self):
        return self._active("sim_missing") is None

    def _stat(self):
        if self.state != "on" or self.cfun != 1 or not self._sim_present():
            return _STAT_NOT
        t = self.now_s()
        if self._active("denied", t):
            return _STAT_DENIED
        if self._active("no_service", t):
            return _STAT_SEARCH
        ready = self._reg_from_s + self.cfg["reg_delay_s"]
        # after an outage the modem needs a cell reselection before it is back
        for ev in self.events:
            if ev.get("do") in ("no_service", "denied", "sim_missing") and ev.get("for_s") is not None:
                end = ev["at_s"] + ev["for_s"]
                if end <= t < end + self.cfg["reselect_s"]:
                    return _STAT_SEARCH
        if t < ready:
            return _STAT_SEARCH
        return _STAT_ROAM if self.cfg.get("roaming") else _STAT_HOME

    @staticmethod
    def _reg_name(st):
        return ("not_registered", "home", "searching", "denied", "unknown", "roaming")[st]

    def _registered(self):
        return self._stat() in (_STAT_HOME, _STAT_ROAM)

    async def _timeline(self):
        seen_hang = set()
        while True:
            await asyncio.sleep_ms(200)
            t = self.now_s()
            if self.state == "booting" and t >= self._boot_at:
                self._boot_done()
            if self.state != "on":
                continue
            for i, ev in enumerate(self.events):
                if ev.get("do") == "hang" and i not in seen_hang and ev.get("at_s", 0) <= t:
                    seen_hang.add(i)
                    self.hung = True
                    f = ev.get("for_s")
                    self._hung_until = None if f is None else ev["at_s"] + f
                if ev.get("do") == "reboot" and i not in seen_hang and ev.get("at_s", 0) <= t:
                    seen_hang.add(i)
                    self._power_on(t)
            if self.hung:
                if self._hung_until is not None and t >= self._hung_until:
                    self.hung = False
                else:
                    continue
            if self.call and self._active("no_carrier") is not None:
                import sim_ppp

                sim_ppp.hangup(self)
            st = self._stat()
            if st != self._last_stat:
                if self._last_stat is not None or st != _STAT_NOT:
                    if self.cereg_n:
                        self._urc(self._cereg_line(st, urc=True))
                if st == _STAT_NOT and not self._sim_present() and self._last_stat is not None:
                    self._urc("+CPIN: NOT READY")
                self._last_stat = st

    # -- signal (smooth + noise, bounded by jitter) ------------------------------------------
    def _wobble(self, j, k):
        t = self.now_s()
        smooth = 0.7 * j * math.sin(2 * math.pi * t / (90 + 30 * k) + self._phase + k)
        return smooth + self._rng.uniform(-0.3 * j, 0.3 * j)

    def _rsrp(self):
        s = self.cfg["signal"]
        return s.get("rsrp", -95) + self._wobble(s.get("jitter", 3), 0)

    def _rsrq(self):
        s = self.cfg["signal"]
        return s.get("rsrq", -10) + self._wobble(min(2, s.get("jitter", 3)), 1)

    def _sinr(self):
        s = self.cfg["signal"]
        return s.get("sinr", 8) + self._wobble(s.get("jitter", 3), 2)

    def _rssi(self, rsrp):
        # RSSI over N resource blocks of 12 subcarriers ~ RSRP + 10 log10(12 N) at full load
        return rsrp + 10 * math.log10(12 * _NRB.get(self.cfg["rat"], 6))

    # -- line I/O ----------------------------------------------------------------------------
    def _log(self, d, line):
        log = self.log
        if len(log) >= _LOG_MAX:
            del log[: _LOG_MAX // 4]  # amortized trim: keep memory bounded in long runs
        log.append((self.clock(), d, line))

    def _urc(self, line):
        if self.data:
            self.ppp.urcs.append(line)  # a modem in data mode keeps its URCs for later
            return
        self._log(">", line)
        self._mdm.write(b"\r\n" + line.encode() + b"\r\n")

    def _send(self, lines):
        out = bytearray()
        for l in lines:
            if l:  # blank entries of a pasted log are the V.250 blank line, framing covers it
                self._log(">", l)
                out.extend(b"\r\n" + l.encode() + b"\r\n")
        self._mdm.write(out)

    def _rx(self):
        self.start()
        data = self._mdm.read()
        if not data or self.state != "on" or self.hung:
            return  # a dead or hung modem does not even echo
        if self.data:
            import sim_ppp

            sim_ppp.rx(self, data)
            return
        sk = getattr(self, "sockets", None)
        if sk is not None and sk.want:
            data = sk.feed(data)  # sim_sockets: the payload after a ">" prompt, raw
        self._acc.extend(data)
        while True:
            i = self._acc.find(b"\r")
            if i < 0:
                break
            line = bytes(self._acc[:i]).decode().strip("\n ")
            self._acc = self._acc[i + 1 :]
            if not line:
                continue
            self._log("<", line)
            if self.echo:
                self._mdm.write(line.encode() + b"\r")  # V.250 §6.2.4: echo of the command line
            self._q.append(line)
            self._qev.set()

    async def _serve(self):
        while True:
            if not self._q:
                self._qev.clear()
                await self._qev.wait()
                continue
            line = self._q.pop(0)
            # typical command turnaround of LPWA modules: tens of ms
            await asyncio.sleep_ms(int(self._rng.uniform(10, 100)))
            if self.state != "on" or self.hung:
                continue
            out = self._answer(line)
            if out:
                self._send(out)

    # -- the dialect -----------------------------------------------------------------------
    def _answer(self, line):
        up = line.upper()
        if line in self.responses:
            return self._override(line)
        if up.startswith(("ATD*99", "ATH", "ATO")):
            import sim_ppp  # PPP dial-up and its call control (V.250 D, H, O)

            return sim_ppp.answer(self, up)
        ev = self._active("error")
        if ev is not None and ev.get("command", "").upper() == up:
            code = ev.get("code")
            return ["ERROR" if code is None else "+CME ERROR: %d" % code]
        if not up.startswith("AT"):
            return ["ERROR"]
        h = _HANDLERS.get(_head(up)) or _socket_handler(_head(up))
        if h is None:
            return ["ERROR"]
        try:
            r = h(self, up[len(_head(up)) :], line)
        except (ValueError, IndexError):
            return ["ERROR"]
        return r

    def _override(self, line):
        r = self.responses[line]
        if r and isinstance(r[0], list):
            n = self._resp_n.get(line, 0)
            self._resp_n[line] = n + 1
            r = r[min(n, len(r) - 1)]
        if r and r[0] == line:  # a pasted log may carry the echo; the sim echoes per ATE
            r = r[1:]
        return list(r)

    def _need_sim(self):
        return None if self._sim_present() else ["+CME ERROR: 10"]  # TS 27.007 §9.2.1: SIM not inserted

    def _rat_name(self):
        return self.cfg["rat"]

    def _act(self):
        t = _ACT_QUECTEL if self.m["vendor"] == "quectel" else _ACT
        return t.get(self.cfg["rat"], 7)

    def _cereg_line(self, st, urc=False, n=None):
        n = self.cereg_n if n is None else n
        head = "+CEREG: " if urc else "+CEREG: %d," % n
        if n < 2 or st not in (_STAT_HOME, _STAT_ROAM, _STAT_DENIED):
            if st == _STAT_DENIED and n >= 3:
                return head + "%d,,,,0,15" % st  # cause_type 0 (EMM), #15 no suitable cells
            return head + "%d" % st
        c = self.cfg
        s = head + '%d,"%04X","%08X",%d' % (st, c["tac"], c["cell"], _ACT.get(c["rat"], 7))
        if n >= 4 and st != _STAT_DENIED:
            g = self._psm_grant()
            if g:
                # TS 27.007 §10.1.22: Active-Time (T3324) comes before Periodic-TAU (T3412)
                s += ',,,"%s","%s"' % (g[1], g[0])
        return s

    def _psm_grant(self):
        if self.psm_req is None:
            return None
        p = self.cfg.get("psm") or {}
        if not p.get("grant", True):
            return None
        t3412, t3324 = self.psm_req
        if "t3412_s" in p:
            t3412 = _enc_t3412(p["t3412_s"])
        if "t3324_s" in p:
            t3324 = _enc_t3324(p["t3324_s"])
        return t3412, t3324

    def _ip(self):
        return self.cfg["ip"] if (self._registered() and self.pdp_active) else "0.0.0.0"


def _head(up):
    # command name: AT, ATE0/ATE1/ATI, or AT+XXXX up to '=', '?' or end
    if up.startswith("ATE") or up == "ATI" or up == "AT":
        return up
    i = 2
    while i < len(up) and up[i] not in "=?":
        i += 1
    return up[:i]


# -- TS 24.008 timer encodings (kept here too: the sim must not trust the firmware's) --------
def _enc_t3412(s):
    for unit, mult in (
        (0b011, 2),
        (0b100, 30),
        (0b101, 60),
        (0b000, 600),
        (0b001, 3600),
        (0b010, 36000),
        (0b110, 1152000),
    ):
        v = (s + mult - 1) // mult
        if v <= 31:
            return _bits(unit, v)
    return _bits(0b110, 31)


def _enc_t3324(s):
    for unit, mult in ((0b000, 2), (0b001, 60), (0b010, 360)):
        v = (s + mult - 1) // mult
        if v <= 31:
            return _bits(unit, v)
    return _bits(0b010, 31)


def _bits(unit, v):
    x = (unit << 5) | v
    return "".join("1" if x & (1 << (7 - i)) else "0" for i in range(8))


# -- command handlers: (sim, rest_after_name_uppercased, original_line) -> lines -------------
def _ok(*lines):
    return list(lines) + ["OK"]


def _h_at(sim, rest, line):
    return ["OK"]


def _h_ate(sim, rest, line):
    sim.echo = line.upper() != "ATE0"
    return ["OK"]


def _h_ati(sim, rest, line):
    return _ok(sim.m["cgmm"], sim.m["cgmr"].split(":")[-1].strip())


def _h_cgmm(sim, rest, line):
    return _ok(sim.m["cgmm"])


def _h_cgmr(sim, rest, line):
    return _ok(sim.m["cgmr"])


def _h_cgsn(sim, rest, line):
    return _ok(str(sim.cfg["imei"]))


def _h_cimi(sim, rest, line):
    return sim._need_sim() or _ok(str(sim.cfg["imsi"]))


def _h_ccid(sim, rest, line):
    e = sim._need_sim()
    if e:
        return e
    head = _head(line.upper())
    if head != sim.m["ccid"]:
        return ["ERROR"]
    icc = str(sim.cfg["iccid"])
    if head == "AT+QCCID":
        return _ok("+QCCID: " + icc)  # BG95 AT Commands Manual: +QCCID: <ICCID>
    if head == "AT+CICCID":
        return _ok("+ICCID: " + icc)  # A76xx AT Command Manual: +ICCID: <ICCID>
    return _ok(icc)  # SIM7000/SIM7080: bare ICCID line


def _h_cpin(sim, rest, line):
    if rest == "?":
        return sim._need_sim() or _ok("+CPIN: READY")
    return ["OK"]


def _h_cmee(sim, rest, line):
    return ["OK"]


def _h_cfun(sim, rest, line):
    if rest == "?":
        return _ok("+CFUN: %d" % sim.cfun)
    if rest.startswith("="):
        a = rest[1:].split(",")
        v = int(a[0])
        if len(a) > 1 and a[1] == "1":
            sim._power_on(sim.now_s())  # reset
            sim.state = "booting"
            return ["OK"]
        if v == 1 and sim.cfun != 1:
            sim._reg_from_s = sim.now_s()
        sim.cfun = v
        return ["OK"]
    return ["ERROR"]


def _h_cereg(sim, rest, line):
    if rest == "?":
        return _ok(sim._cereg_line(sim._stat()))
    if rest.startswith("="):
        n = int(rest[1:] or "0")
        if n > 5:
            return ["ERROR"]
        sim.cereg_n = n
        return ["OK"]
    return ["ERROR"]


def _h_creg(sim, rest, line):
    name = _head(line.upper())[3:]
    if rest == "?":
        st = sim._stat()
        return _ok("%s: %d,%d" % (name, sim.creg_n, st))
    if rest.startswith("="):
        sim.creg_n = int(rest[1:] or "0")
        return ["OK"]
    return ["ERROR"]


def _h_cops(sim, rest, line):
    if rest == "?":
        if not sim._registered():
            return _ok("+COPS: 0")
        op = sim.cfg["operator"]
        name = op.get("long") or op.get("short") or "%d%s" % (sim.cfg["mcc"], sim.cfg["mnc"])
        return _ok('+COPS: 0,0,"%s",%d' % (name, sim._act()))  # TS 27.007 §7.3 format 0 = long alphanumeric
    return ["OK"]


def _h_csq(sim, rest, line):
    # TS 27.007 §8.5: <rssi> 0 <= -113 dBm, 1 = -111, 2..30 = -109..-53 (2 dB steps), 31 >= -51
    if not sim._registered() and sim._stat() != _STAT_DENIED:
        return _ok("+CSQ: 99,99")
    rssi = sim._rssi(sim._rsrp())
    v = int((rssi + 113) // 2)
    v = 0 if v < 0 else 31 if v > 31 else v
    return _ok("+CSQ: %d,99" % v)


def _h_cesq(sim, rest, line):
    # TS 27.007 §8.69: rsrq 0 < -19.5 dB .. 34 >= -3 dB (0.5 dB steps); rsrp 0 < -140 .. 97 >= -44 dBm
    if not sim._registered():
        return _ok("+CESQ: 99,99,255,255,255,255")
    q = int(math.floor((sim._rsrq() + 20) * 2))
    p = int(math.floor(sim._rsrp() + 141))
    q = 0 if q < 0 else 34 if q > 34 else q
    p = 0 if p < 0 else 97 if p > 97 else p
    return _ok("+CESQ: 99,99,255,255,%d,%d" % (q, p))


def _h_cpsi(sim, rest, line):
    # SIM7000/SIM7080 AT Command Manual, AT+CPSI?: <System Mode>,<Operation Mode>,<MCC>-<MNC>,
    # <TAC>,<SCellID>,<PCellID>,<Frequency Band>,<earfcn>,<dlbw>,<ulbw>,<RSRQ>,<RSRP>,<RSSI>,<RSSNR>
    if sim.m["vendor"] != "simcom" or rest != "?":
        return ["ERROR"]
    if not sim._registered():
        return _ok("+CPSI: NO SERVICE,Online")
    c = sim.cfg
    rat = c["rat"]
    if rat == "GSM":
        rssi = int(round(sim._rssi(sim._rsrp())))
        return _ok(
            "+CPSI: GSM,Online,%03d-%s,0x%04X,%d,%d EGSM 900,%d,0,%d-%d"
            % (c["mcc"], c["mnc"], c["tac"], c["cell"], c["earfcn"], rssi, 40, 40)
        )
    sysm = {"LTE-M": "LTE CAT-M1", "NB-IoT": "LTE NB-IOT"}.get(rat, "LTE")
    rsrp = sim._rsrp()
    rsrq = sim._rsrq()
    rssi = sim._rssi(rsrp)
    if sim.m["cpsi_tenths"]:
        # A76XX manual: no scale for <RSSNR>; the sim prints its SINR in dB there
        sinr = int(round(sim._sinr()))
    else:
        # SIM7000 / SIM7080 manuals: SINR = 2 * <RSSNR> - 20 (-20..30 dB), so RSSNR 0..25
        sinr = int(round((sim._sinr() + 20) / 2))
        sinr = 0 if sinr < 0 else 25 if sinr > 25 else sinr
    if sim.m["cpsi_tenths"]:
        q, p, r = int(round(rsrq * 10)), int(round(rsrp * 10)), int(round(rssi * 10))
    else:
        q, p, r = int(round(rsrq)), int(round(rsrp)), int(round(rssi))
    return _ok(
        "+CPSI: %s,Online,%03d-%s,0x%04X,%d,%d,EUTRAN-BAND%d,%d,5,5,%d,%d,%d,%d"
        % (sysm, c["mcc"], c["mnc"], c["tac"], c["cell"], c["pci"], c["band"], c["earfcn"], q, p, r, sinr)
    )


def _sinr_fifth(sinr):
    # BG95/BG96 AT+QCSQ / AT+QENG: SINR as 0..250 in 1/5 dB steps for -20..+30 dB
    v = int(round((sinr + 20) * 5))
    return 0 if v < 0 else 250 if v > 250 else v


def _h_qeng(sim, rest, line):
    # BG95 AT Commands Manual, AT+QENG="servingcell" (eMTC): "servingcell",<state>,"eMTC",
    # <is_tdd>,<MCC>,<MNC>,<cellID>,<PCID>,<earfcn>,<freq_band_ind>,<UL_bw>,<DL_bw>,<TAC>,
    # <RSRP>,<RSRQ>,<RSSI>,<SINR>,<srxlev>; NB-IoT has no bandwidths
    if sim.m["vendor"] != "quectel" or '"SERVINGCELL"' not in rest:
        return ["ERROR"]
    if not sim._registered():
        return _ok('+QENG: "servingcell","SEARCH"')
    c = sim.cfg
    rsrp = sim._rsrp()
    p, q, r = int(round(rsrp)), int(round(sim._rsrq())), int(round(sim._rssi(rsrp)))
    # BG95 gives <SINR> in dB; BG96 in 1/5 dB (0..250) as in its +QCSQ
    s = _sinr_fifth(sim._sinr()) if sim.model == "BG96" else int(round(sim._sinr()))
    srx = int(round(rsrp + 140))
    if c["rat"] == "NB-IoT":
        return _ok(
            '+QENG: "servingcell","NOCONN","NBIoT","FDD",%d,%s,%X,%d,%d,%d,%X,%d,%d,%d,%d,%d'
            % (c["mcc"], c["mnc"], c["cell"], c["pci"], c["earfcn"], c["band"], c["tac"], p, q, r, s, srx)
        )
    # LTE Standard modules (EC200U; EC25&EC21 AT Commands Manual, AT+QENG LTE) name the RAT "LTE"
    # in the same layout (field line: tests/data/modem_logs/field/ec200t-3ginfo-lite-43.log)
    mode = "LTE" if sim.m.get("qeng_lte") else "eMTC"
    return _ok(
        '+QENG: "servingcell","NOCONN","%s","FDD",%d,%s,%X,%d,%d,%d,5,5,%X,%d,%d,%d,%d,%d'
        % (mode, c["mcc"], c["mnc"], c["cell"], c["pci"], c["earfcn"], c["band"], c["tac"], p, q, r, s, srx)
    )


def _h_qcsq(sim, rest, line):
    # BG95 AT Commands Manual, AT+QCSQ: +QCSQ: <sysmode>,<rssi>,<rsrp>,<sinr>,<rsrq>
    if sim.m["vendor"] != "quectel":
        return ["ERROR"]
    if not sim._registered():
        return _ok('+QCSQ: "NOSERVICE"')
    rsrp = sim._rsrp()
    mode = "NBIoT" if sim.cfg["rat"] == "NB-IoT" else "eMTC"
    return _ok(
        '+QCSQ: "%s",%d,%d,%d,%d'
        % (
            mode,
            int(round(sim._rssi(rsrp))),
            int(round(rsrp)),
            _sinr_fifth(sim._sinr()),
            int(round(sim._rsrq())),
        )
    )


def _h_cgdcont(sim, rest, line):
    if rest == "?":
        return _ok('+CGDCONT: 1,"IP","%s","0.0.0.0",0,0' % sim.apn)
    if rest.startswith("="):
        a = line.split("=", 1)[1].split(",")
        if a[0] == "1" and len(a) >= 3:
            sim.apn = a[2].strip('"')
        return ["OK"]
    return ["ERROR"]


def _h_cgpaddr(sim, rest, line):
    ip = sim.cfg["ip"] if sim._registered() else "0.0.0.0"  # default bearer comes with attach
    if sim.m["ip_quotes"]:
        return _ok('+CGPADDR: 1,"%s"' % ip)
    return _ok("+CGPADDR: 1,%s" % ip)


def _h_cgatt(sim, rest, line):
    if rest == "?":
        return _ok("+CGATT: %d" % (1 if sim._registered() else 0))
    return ["OK"]


def _h_cgact(sim, rest, line):
    if rest == "?":
        return _ok("+CGACT: 1,%d" % (1 if sim._registered() else 0))
    if not sim._registered():
        return ["ERROR"]
    sim.pdp_active = True
    return ["OK"]


def _h_cnmp(sim, rest, line):
    return ["OK"] if sim.m["vendor"] == "simcom" else ["ERROR"]


def _h_cmnb(sim, rest, line):
    return ["OK"] if sim.model in ("SIM7080G", "SIM7000G") else ["ERROR"]


def _h_cncfg(sim, rest, line):
    if sim.model != "SIM7080G":
        return ["ERROR"]
    a = line.split("=", 1)[1].split(",") if "=" in line else []
    if len(a) >= 3:
        sim.apn = a[2].strip('"')
    return ["OK"]


def _h_cnact(sim, rest, line):
    # SIM7080 AT Command Manual, AT+CNACT=<pdpidx>,<action>; AT+CNACT? lists
    # +CNACT: <pdpidx>,<statusx>,<addressx>; SIM7000: AT+CNACT=<mode>,<apn>, +CNACT: <status>,<ip>
    if sim.model not in ("SIM7080G", "SIM7000G"):
        return ["ERROR"]
    if rest == "?":
        if sim.model == "SIM7080G":
            return _ok(
                '+CNACT: 0,%d,"%s"' % (1 if sim.pdp_active else 0, sim._ip()),
                '+CNACT: 1,0,"0.0.0.0"',
                '+CNACT: 2,0,"0.0.0.0"',
                '+CNACT: 3,0,"0.0.0.0"',
            )
        return _ok('+CNACT: %d,"%s"' % (1 if sim.pdp_active else 0, sim._ip()))
    if not sim._registered():
        return ["ERROR"]
    sim.pdp_active = True
    if sim.model == "SIM7080G":
        asyncio.create_task(_later(sim, 300, "+APP PDP: 0,ACTIVE"))
    else:
        asyncio.create_task(_later(sim, 300, "+APP PDP: ACTIVE"))
    return ["OK"]


async def _later(sim, ms, urc):
    await asyncio.sleep_ms(ms)
    if sim.state == "on" and not sim.hung:
        sim._urc(urc)


def _h_qicsgp(sim, rest, line):
    if sim.m["vendor"] != "quectel":
        return ["ERROR"]
    a = line.split("=", 1)[1].split(",") if "=" in line else []
    if len(a) >= 3:
        sim.apn = a[2].strip('"')
    return ["OK"]


def _h_qiact(sim, rest, line):
    if sim.m["vendor"] != "quectel":
        return ["ERROR"]
    if rest == "?":
        if sim.pdp_active and sim._registered():
            return _ok('+QIACT: 1,1,1,"%s"' % sim.cfg["ip"])
        return ["OK"]
    if not sim._registered():
        return ["ERROR"]
    sim.pdp_active = True
    return ["OK"]


def _h_qcfg(sim, rest, line):
    return ["OK"] if sim.m["vendor"] == "quectel" else ["ERROR"]


def _h_cpsms(sim, rest, line):
    # TS 27.007 §7.38: AT+CPSMS=<mode>,,,<Requested_Periodic-TAU>,<Requested_Active-Time>
    if rest == "?":
        if sim.psm_req is None:
            return _ok("+CPSMS: 0,,,,")
        return _ok('+CPSMS: 1,,,"%s","%s"' % sim.psm_req)
    a = line.split("=", 1)[1].split(",")
    if a[0] == "0":
        sim.psm_req = None
        return ["OK"]
    if len(a) < 5:
        return ["ERROR"]
    t3412, t3324 = a[3].strip('"'), a[4].strip('"')
    if len(t3412) != 8 or len(t3324) != 8:
        return ["ERROR"]
    sim.psm_req = (t3412, t3324)
    return ["OK"]


def _h_cedrxs(sim, rest, line):
    # TS 27.007 §7.40: AT+CEDRXS=<mode>,<AcT-type>,<Requested_eDRX_value>
    if rest == "?":
        if sim.edrx_req is None:
            return _ok("+CEDRXS: 0")
        return _ok('+CEDRXS: %d,"%s"' % sim.edrx_req)
    a = line.split("=", 1)[1].split(",")
    if a[0] in ("0", "3"):
        sim.edrx_req = None
        return ["OK"]
    sim.edrx_req = (int(a[1]), a[2].strip('"'))
    return ["OK"]


def _h_cedrxrdp(sim, rest, line):
    # TS 27.007 §7.41: +CEDRXRDP: <AcT-type>,<Requested>,<NW-provided eDRX>,<Paging time window>
    g = (sim.cfg.get("edrx") or {}).get("grant", True)
    if sim.edrx_req is None or not g or not sim._registered():
        return _ok("+CEDRXRDP: 0")
    act, v = sim.edrx_req
    return _ok('+CEDRXRDP: %d,"%s","%s","0011"' % (act, v, v))


def _h_ptw(sim, rest, line):
    return ["OK"]


def _h_powd(sim, rest, line):
    head = _head(line.upper())
    if (head == "AT+QPOWD") != (sim.m["vendor"] == "quectel"):
        return ["ERROR"]
    asyncio.create_task(sim._power_down(False))
    return ["OK"] if head == "AT+QPOWD" else []


# -- GNSS in the module (modem.gnss) -------------------------------------------------------
def _gnss_fix(sim):
    """The module has a fix: GNSS on for at least ttff_s and, on a model whose GNSS shares the
    RF chain with LTE (SIM7080G), the LTE side not registered (AT+CFUN=0 or no service)."""
    g = sim.cfg["gnss"]
    if sim.gnss_on_s is None or sim.now_s() - sim.gnss_on_s < g["ttff_s"]:
        return False
    return not (g["exclusive"] and sim._registered())


def _gnss_utc(sim):
    # (y, m, d, hh, mm, ss) now, from scenario utc0 + simulator seconds
    from sim_gnss import civil_from_days

    u0 = sim.cfg["gnss"]["utc0"]
    if u0 is None:
        u0 = sim.utc_start
    t = int(u0 + sim.now_s())
    y, m, d = civil_from_days(t // 86400)
    s = t % 86400
    return y, m, d, s // 3600, s // 60 % 60, s % 60


def _ddmm(v, lat, dec=6):
    # NMEA-style ddmm.mmmmmm (lat) / dddmm.mmmmmm (lon) and the hemisphere letter
    hemi = ("N" if v >= 0 else "S") if lat else ("E" if v >= 0 else "W")
    v = abs(v)
    deg = int(v)
    mins = round((v - deg) * 60, dec)
    if mins >= 60:
        deg, mins = deg + 1, 0.0
    return ("%02d%0*.*f" if lat else "%03d%0*.*f") % (deg, dec + 3, dec, mins), hemi


def _gnss_power(sim, rest):
    if rest == "?":
        return None
    on = rest[1:2] == "1"
    if on and sim.gnss_on_s is None:
        sim.gnss_on_s = sim.now_s()
    elif not on:
        sim.gnss_on_s = None
    return on


def _h_cgnspwr(sim, rest, line):
    # SIM7000/SIM7080 AT Command Manual, AT+CGNSPWR=<mode>: 1 on, 0 off; ? -> +CGNSPWR: <mode>
    if sim.model not in ("SIM7080G", "SIM7000G"):
        return ["ERROR"]
    if rest == "?":
        return _ok("+CGNSPWR: %d" % (sim.gnss_on_s is not None))
    _gnss_power(sim, rest)
    return ["OK"]


def _h_cgpio(sim, rest, line):
    # SIM7000 AT Command Manual, AT+CGPIO=<operation>,<pin>,<function>,<level>: the T-SIM7000G
    # switches its active GNSS antenna with AT+CGPIO=0,48,1,1 (board gnss.on_at)
    return ["OK"] if sim.model in ("SIM7080G", "SIM7000G") else ["ERROR"]


def _h_cgnsinf(sim, rest, line):
    # SIM7000/SIM7080 AT Command Manual, AT+CGNSINF: 21 fields (run, fix, UTC yyyyMMddhhmmss.sss,
    # lat, lon, MSL alt, speed km/h, course, fix mode, rsv, HDOP, PDOP, VDOP, rsv, in view,
    # used, GLONASS in view, rsv, C/N0 max, HPA, VPA)
    if sim.model not in ("SIM7080G", "SIM7000G"):
        return ["ERROR"]
    if sim.gnss_on_s is None:
        return _ok("+CGNSINF: 0" + "," * 20)
    g = sim.cfg["gnss"]
    utc = "%04d%02d%02d%02d%02d%02d.000" % _gnss_utc(sim)
    if not _gnss_fix(sim):
        return _ok("+CGNSINF: 1,0,%s,,,,0.00,0.0,0,,,,,,%d,0,,,,," % (utc, g["view"]))
    return _ok(
        "+CGNSINF: 1,1,%s,%.6f,%.6f,%.3f,%.2f,%.1f,1,,%.1f,%.1f,%.1f,,%d,%d,,,39,,"
        % (
            utc,
            g["lat"],
            g["lon"],
            g["alt"],
            g["speed_kmh"],
            g["course"],
            g["hdop"],
            g["hdop"] * 1.3,
            g["hdop"] * 0.9,
            g["view"],
            g["sats"],
        )
    )


def _h_cgnsspwr(sim, rest, line):
    # A76XX AT Command Manual, AT+CGNSSPWR=<on>: OK, then the URC +CGNSSPWR: READY! once the
    # GNSS engine has started
    if sim.model != "A7670":
        return ["ERROR"]
    if rest == "?":
        return _ok("+CGNSSPWR: %d" % (sim.gnss_on_s is not None))
    was = sim.gnss_on_s is not None
    if _gnss_power(sim, rest) and not was:
        asyncio.create_task(_later(sim, 500, "+CGNSSPWR: READY!"))
    return ["OK"]


def _a76_fields(sim):
    g = sim.cfg["gnss"]
    y, mo, d, hh, mm, ss = _gnss_utc(sim)
    lat, ns = _ddmm(g["lat"], True)
    lon, ew = _ddmm(g["lon"], False)
    kn = g["speed_kmh"] / 1.852  # A76XX: speed over ground in knots
    return (
        lat,
        ns,
        lon,
        ew,
        "%02d%02d%02d" % (d, mo, y % 100),
        "%02d%02d%02d.0" % (hh, mm, ss),
        "%.1f" % g["alt"],
        "%.1f" % kn,
        "%.1f" % g["course"],
    )


def _h_cgnssinfo(sim, rest, line):
    # A76XX AT Command Manual, AT+CGNSSINFO: <mode>,<GPS-SVs>,<GLONASS-SVs>,<BEIDOU-SVs>,<lat>,
    # <N/S>,<log>,<E/W>,<date>,<UTC-time>,<alt>,<speed>,<course>,<PDOP>,<HDOP>,<VDOP>
    # (the manual's example: 2,09,05,00,3113.330650,N,12121.262554,E,131117,091918.0,...)
    if sim.model != "A7670":
        return ["ERROR"]
    if not _gnss_fix(sim):
        return _ok("+CGNSSINFO: " + "," * 15)
    g = sim.cfg["gnss"]
    n = g["sats"]
    glo = n // 3
    h = g["hdop"]
    return _ok(
        "+CGNSSINFO: 3,%02d,%02d,00,%s,%s,%s,%s,%s,%s,%s,%s,%s,%.1f,%.1f,%.1f"
        % ((n - glo, glo) + _a76_fields(sim) + (h * 1.3, h, h * 0.9))
    )


def _h_cgpsinfo(sim, rest, line):
    # A76XX AT Command Manual, AT+CGPSINFO: <lat>,<N/S>,<log>,<E/W>,<date>,<UTC time>,<alt>,
    # <speed>,<course>; all fields empty without a fix
    if sim.model != "A7670":
        return ["ERROR"]
    if not _gnss_fix(sim):
        return _ok("+CGPSINFO: " + "," * 8)
    return _ok("+CGPSINFO: " + ",".join(_a76_fields(sim)))


def _h_qgps(sim, rest, line):
    # BG95 GNSS Application Note, AT+QGPS=1 starts a session; +CME ERROR: 504 if one runs
    if sim.m["vendor"] != "quectel":
        return ["ERROR"]
    if rest == "?":
        return _ok("+QGPS: %d" % (sim.gnss_on_s is not None))
    if sim.gnss_on_s is not None:
        return ["+CME ERROR: 504"]
    _gnss_power(sim, rest)
    return ["OK"]


def _h_qgpsend(sim, rest, line):
    if sim.m["vendor"] != "quectel":
        return ["ERROR"]
    if sim.gnss_on_s is None:
        return ["+CME ERROR: 505"]  # session not active
    sim.gnss_on_s = None
    return ["OK"]


def _h_qgpsloc(sim, rest, line):
    # BG95 GNSS Application Note, AT+QGPSLOC=<mode>: +QGPSLOC: <UTC>,<latitude>,<longitude>,
    # <HDOP>,<altitude>,<fix>,<COG>,<spkm>,<spkn>,<date>,<nsat>; mode 2 +-dd.ddddd, mode 0
    # ddmm.mmmmN. 505 GNSS off, 516 not fixed now.
    if sim.m["vendor"] != "quectel":
        return ["ERROR"]
    if sim.gnss_on_s is None:
        return ["+CME ERROR: 505"]
    if not _gnss_fix(sim):
        return ["+CME ERROR: 516"]
    g = sim.cfg["gnss"]
    y, mo, d, hh, mm, ss = _gnss_utc(sim)
    if rest == "=2":
        lat, lon = "%.5f" % g["lat"], "%.5f" % g["lon"]
    else:
        a, ns = _ddmm(g["lat"], True, 4)
        b, ew = _ddmm(g["lon"], False, 4)
        lat, lon = a + ns, b + ew
    cog = g["course"]
    return _ok(
        "+QGPSLOC: %02d%02d%02d.000,%s,%s,%.1f,%.1f,3,%06.2f,%.1f,%.1f,%02d%02d%02d,%02d"
        % (
            hh,
            mm,
            ss,
            lat,
            lon,
            g["hdop"],
            g["alt"],
            cog,
            g["speed_kmh"],
            g["speed_kmh"] / 1.852,
            d,
            mo,
            y % 100,
            g["sats"],
        )
    )


_HANDLERS = {
    "AT": _h_at,
    "ATE0": _h_ate,
    "ATE1": _h_ate,
    "ATI": _h_ati,
    "AT+CGMM": _h_cgmm,
    "AT+GMM": _h_cgmm,
    "AT+CGMR": _h_cgmr,
    "AT+GMR": _h_cgmr,
    "AT+CGSN": _h_cgsn,
    "AT+GSN": _h_cgsn,
    "AT+CIMI": _h_cimi,
    "AT+CCID": _h_ccid,
    "AT+QCCID": _h_ccid,
    "AT+CICCID": _h_ccid,
    "AT+CPIN": _h_cpin,
    "AT+CMEE": _h_cmee,
    "AT+CFUN": _h_cfun,
    "AT+CEREG": _h_cereg,
    "AT+CREG": _h_creg,
    "AT+CGREG": _h_creg,
    "AT+COPS": _h_cops,
    "AT+CSQ": _h_csq,
    "AT+CESQ": _h_cesq,
    "AT+CPSI": _h_cpsi,
    "AT+QENG": _h_qeng,
    "AT+QCSQ": _h_qcsq,
    "AT+CGDCONT": _h_cgdcont,
    "AT+CGPADDR": _h_cgpaddr,
    "AT+CGATT": _h_cgatt,
    "AT+CGACT": _h_cgact,
    "AT+CNMP": _h_cnmp,
    "AT+CMNB": _h_cmnb,
    "AT+CNCFG": _h_cncfg,
    "AT+CNACT": _h_cnact,
    "AT+QICSGP": _h_qicsgp,
    "AT+QIACT": _h_qiact,
    "AT+QCFG": _h_qcfg,
    "AT+CPSMS": _h_cpsms,
    "AT+CEDRXS": _h_cedrxs,
    "AT+CEDRXRDP": _h_cedrxrdp,
    "AT+CPTWEDRXS": _h_ptw,
    "AT+QPTWEDRXS": _h_ptw,
    "AT+CPOWD": _h_powd,
    "AT+QPOWD": _h_powd,
    "AT+CGNSPWR": _h_cgnspwr,
    "AT+CGPIO": _h_cgpio,
    "AT+CGNSINF": _h_cgnsinf,
    "AT+CGNSSPWR": _h_cgnsspwr,
    "AT+CGNSSINFO": _h_cgnssinfo,
    "AT+CGPSINFO": _h_cgpsinfo,
    "AT+QGPS": _h_qgps,
    "AT+QGPSEND": _h_qgpsend,
    "AT+QGPSLOC": _h_qgpsloc,
}


# Quectel's socket and file commands only (AT+QI*, AT+QSSL*, AT+QF*): "AT+Q" alone took in
# AT+QGMR, AT+QNWINFO, AT+QSPN... and loaded the module into every BG95 board's heap (+34 KB in make bench).
_SOCKET_HEADS = ("AT+CA", "AT+CSSL", "AT+QI", "AT+QSSL", "AT+QF", "AT+CIP", "AT+CCH", "AT+CCERT", "AT+CFS",
                 "AT+NET", "AT+CSTT", "AT+CIICR", "AT+CIFSR")


def _socket_handler(head):
    # TCP/TLS socket commands (sim/sim_sockets.py), loaded with the first one: a board that never
    # opens a socket does not carry the module or `socket` in its interpreter's heap
    if not head.startswith(_SOCKET_HEADS):
        return None
    import sim_sockets

    return sim_sockets.HANDLERS.get(head)
