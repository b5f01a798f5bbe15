# The terminal's main loop: the same code on an ESP32 and on a virtual board.
# Contracts: docs/records.md (what a record holds), docs/protocol.md (the serial link),
# docs/config.md (what the config may say).
#
# Tasks (asyncio): sampler (sensors -> reading records), link (host commands in, records
# out, resends while a host is attached), gnss (NMEA reader), modem (connectivity), and the
# supervisor, which feeds the watchdog only while every task has checked in recently.
# Every record goes into the flash queue before it is first sent and leaves it only when acked.
import errno
import gc
import sys
import time

import asyncio
from micropython import const

from .link import proto
from .store.flashq import Queue

FW_VERSION = "0.1.0"

_LINE_MAX = const(200)  # longest host command line accepted (docs/protocol.md: short lines)
_REPL_WDT_MS = const(3600000)
_EV_MAX = const(4)  # config errors reported per boot: a broken file must not flood the queue
_RECOVER_CYCLES = const(30)  # a failed sensor is retried (re-initialised) every N cycles
_GNSS_QUIET_MS = const(60000)  # no GNSS error reported in the first minute after boot

# Let the modem set its clock from the network's NITZ: SIMCom AT+CLTS=1 (SIM7080 Series AT
# Command Manual, "AT+CLTS"), Quectel AT+CTZU=1 (BG95 AT Commands Manual, "AT+CTZU").
_NITZ_ON = {"BG95": "AT+CTZU=1", "BG96": "AT+CTZU=1"}


class _Slot:
    """One configured sensor: its driver (made lazily: the device may be absent at boot),
    its value names with the configured prefix, and its error state."""

    def __init__(self, name, make, prefix):
        self.name = name
        self.make = make
        self.prefix = prefix
        self.drv = None
        self.keys = ()
        self.err = 0  # errno of the current failure, 0 when healthy
        self.failed_at = 0
        self.retry = 0
        self.live = False  # started this cycle

    def ensure(self):
        if self.drv is None:
            drv = self.make()
            self.keys = tuple(self.prefix + n for n in drv.NAMES)
            self.drv = drv
        return self.drv


class Terminal:
    def __init__(self, plat, cfg, board, out=None, qroot="/q", cfg_path="config.json"):
        self.plat = plat
        self.cfg_path = cfg_path
        self.cfg = cfg
        self.board = board
        self.out = out if out is not None else getattr(sys.stdout, "buffer", sys.stdout)
        self.device = cfg.get("device_id") or plat.unique_id()
        self.board_name = board.get("name", cfg.get("board", "?"))
        q = cfg["queue"]
        self.q = Queue(qroot, max_records=q["max_records"], max_bytes=q["max_bytes"])
        self.boot = self.q.bump_boot()
        self.buf = bytearray(proto.FRAME_MAX)
        self.vals = {}
        self.slots = []
        self.gnss = None
        self.mgnss = None  # GNSS inside the cellular module, read over AT
        self.pmu = None
        self.modem = None
        self.conn = {}  # latest connectivity values from the modem
        self.store_errors = 0  # records the flash would not take (sent anyway, not kept)
        self.cycles = 0
        self.boot_ms = time.ticks_ms()
        self.utc = None  # (epoch s, ticks_ms) of the last time fix
        self.hold = False  # a host said !hello and has not said !bye
        self.host_ms = 0
        li = cfg["link"]
        self.window = li["window"]
        self.resend_ms = li["resend_s"] * 1000
        self.inflight = {}  # seq -> ticks_ms of its last send (only while a host is attached)
        self.drops_seen = self.q.drops
        self.drop_ms = None
        self.in_drop = False
        gc.collect()
        self.heap_min = gc.mem_free()  # lowest free heap seen after a collection (status records)
        self.beats = {}  # task name -> ticks_ms of its last check-in
        self.wake = asyncio.Event()
        self.stop = False

    # -- set-up ----------------------------------------------------------------------------
    def setup_sensors(self):
        """Build the sensor slots from the board definition and the config (config may add
        sensors the board does not list, or disable one with false)."""
        want = list(self.board.get("sensors", ()))
        scfg = self.cfg.get("sensors", {})
        for name in scfg:
            if scfg[name] is False and name in want:
                want.remove(name)
            elif scfg[name] is not False and name not in want:
                want.append(name)
        plat = self.plat
        for name in want:
            o = scfg.get(name) or {}
            pre = o.get("prefix", "")
            if name == "bme280":
                from .drivers.bme280 import Bme280

                self.slots.append(_Slot(name, lambda o=o: Bme280(plat.i2c(), o.get("addr", 0x76)), pre))
            elif name == "sht4x":
                from .drivers.sht4x import Sht4x

                self.slots.append(_Slot(name, lambda o=o: Sht4x(plat.i2c(), o.get("addr", 0x44)), pre or "sht_"))
            elif name == "ds18b20":
                from .drivers.ds18b20 import Ds18b20

                self.slots.append(_Slot(name, lambda: Ds18b20(plat.onewire()), pre or "ds_"))
            elif name == "battery":
                from .drivers.battery import Battery

                bc = self.board.get("battery", {})
                if bc.get("source") == "pmu":
                    self.slots.append(_Slot(name, lambda: self.pmu_dev().battery(), pre))
                    continue
                if "pin" not in bc:
                    continue

                def mk(o=o, bc=bc):
                    return Battery(plat.battery_adc(), o.get("divider", bc.get("divider", 2.0)),
                                   o.get("scale", 1.0), o.get("offset", 0.0))

                self.slots.append(_Slot(name, mk, pre))
            elif name == "gnss":
                gc_ = self.board.get("gnss", {})
                if gc_.get("uart") is not None:
                    from .drivers.nmea import Gnss

                    self.gnss = Gnss(plat.uart("gnss"))
                    self.slots.append(_Slot(name, lambda: self.gnss, pre))
                elif gc_.get("source") == "modem":
                    # read over AT by the modem task (modem_gnss.py); absent until it runs
                    self.slots.append(_Slot(name, self._modem_gnss, pre))

    def pmu_dev(self):
        """The board's power-management chip (modem.pmu in the board definition), made once."""
        if self.pmu is None:
            from .drivers.axp2101 import Axp2101

            pc = self.board["modem"]["pmu"]
            self.pmu = Axp2101(self.plat.i2c(), pc.get("addr", 0x34), pc.get("keep_on", ()))
        return self.pmu

    def _modem_gnss(self):
        if self.mgnss is None:
            raise OSError(errno.ETIMEDOUT)
        return self.mgnss

    # -- time ------------------------------------------------------------------------------
    def clock(self):
        now = time.ticks_ms()
        g = self.gnss or self.mgnss
        if g is not None:
            e = g.utc_epoch()
            if e is not None:
                self.utc = (e, g.utc_ticks_ms)
        if self.utc is not None:
            return self.utc[0] + time.ticks_diff(now, self.utc[1]) // 1000, "utc"
        return time.ticks_diff(now, self.boot_ms) // 1000, "uptime"

    # -- records ---------------------------------------------------------------------------
    def write(self, n):
        self.out.write(memoryview(self.buf)[:n])  # pyright: ignore[reportCallIssue, reportArgumentType]

    def emit(self, kind, values):
        """Make a record, store it on flash, then send it once. Returns its seq."""
        seq = self.q.next_seq()
        t, clk = self.clock()
        end = proto.encode_record(self.buf, proto.PAYLOAD_OFF, self.device, self.boot, seq, t, clk, kind, values)
        try:
            self.q.append(seq, memoryview(self.buf)[proto.PAYLOAD_OFF:end])
            kept = True
        except OSError:
            # The flash would not take it (worn out, file system damaged): the record still
            # goes out live, and the count shows in status records; the loop keeps running.
            self.store_errors += 1
            kept = False
        self.write(proto.frame(self.buf, b"R", end))
        if self.hold and kept:
            self.inflight[seq] = time.ticks_ms()
        if self.q.drops != self.drops_seen and not self.in_drop:
            # A full queue drops its oldest record for each new one: say so at the first drop
            # and then at most once a minute, or the events would push out the data.
            now = time.ticks_ms()
            if self.drop_ms is None or time.ticks_diff(now, self.drop_ms) >= 60000:
                n = self.q.drops - self.drops_seen
                self.drops_seen = self.q.drops
                self.drop_ms = now
                self.in_drop = True
                try:
                    self.emit("event", (("event", "queue_drop"), ("dropped", n), ("total", self.q.drops)))
                finally:
                    self.in_drop = False
        return seq

    def event(self, name, *pairs):
        return self.emit("event", (("event", name),) + pairs)

    def status(self):
        gc.collect()
        free = gc.mem_free()
        if free < self.heap_min:
            self.heap_min = free
        return self.emit("status", (
            ("heap", free), ("heap_min", self.heap_min),
            ("uptime", time.ticks_diff(time.ticks_ms(), self.boot_ms) // 1000),
            ("qdepth", self.q.depth), ("qdrops", self.q.drops), ("qerr", self.store_errors),
            ("fw", FW_VERSION)))

    def hello(self):
        self.write(proto.encode_hello(self.buf, self.device, FW_VERSION, self.board_name, self.boot, self.hold))

    def reply(self, cmd, ok, err=None, extra=None):
        self.write(proto.encode_reply(self.buf, cmd, ok, err, extra))

    # -- sensors ---------------------------------------------------------------------------
    def _fail(self, s, e):
        code = e.args[0] if e.args and isinstance(e.args[0], int) else 0
        if s.name != "gnss":  # a stream, not a bus device: nothing to re-initialise
            s.drv = None
            s.retry = _RECOVER_CYCLES
        if s.name == "gnss" and not s.err and time.ticks_diff(time.ticks_ms(), self.boot_ms) < _GNSS_QUIET_MS:
            return  # a receiver says nothing for a while after power-on: not yet an error
        if s.err != code or code == 0:
            if not s.err:
                s.failed_at = time.ticks_ms()
            s.err = code or -1
            self.event("sensor_error", ("sensor", s.name), ("err", _errname(code, e)), ("errno", code))

    def _ok(self, s):
        if s.err:
            s.err = 0
            self.event("sensor_recovered", ("sensor", s.name),
                       ("after_s", time.ticks_diff(time.ticks_ms(), s.failed_at) / 1000))

    async def sample(self, wait=True):
        """One report cycle: a reading record, a connectivity record, and every
        status_every cycles a status record."""
        wait_ms = 0
        for s in self.slots:
            s.live = False
            if s.err and s.retry > 0:
                s.retry -= 1
                continue
            try:
                ms = s.ensure().start()
                if ms > wait_ms:
                    wait_ms = ms
                s.live = True
            except OSError as e:
                self._fail(s, e)
        if wait and wait_ms:
            await asyncio.sleep_ms(wait_ms)
        vals = self.vals
        vals.clear()
        for s in self.slots:
            if not s.live:
                continue
            try:
                got = s.drv.read()
            except OSError as e:
                self._fail(s, e)
                continue
            keys = s.keys
            for i in range(len(keys)):
                v = got[i]
                if v is not None:
                    vals[keys[i]] = v
            self._ok(s)
        if vals:
            self.emit("reading", vals)
        if self.conn:
            self.emit("connectivity", self.conn)
        self.cycles += 1
        if self.cycles % self.cfg["status_every"] == 1 or self.cfg["status_every"] == 1:
            self.status()

    # -- host link -------------------------------------------------------------------------
    def command(self, line):
        """Handle one host command line (docs/protocol.md). Never raises: a command that
        fails is answered with its error, and the link goes on."""
        try:
            verb, args = proto.parse_command(line)
        except ValueError as e:
            if "!" in line:
                self.reply("?", False, str(e))
            return
        try:
            self._command(verb, args)
        except OSError as e:  # the flash refused an ack-log write, say
            self.reply(verb, False, "OSError %s" % (e.args[0] if e.args else "?"))

    def _command(self, verb, args):
        self.host_ms = time.ticks_ms()
        if verb == "ack":
            try:
                self.q.ack_ranges(proto.iter_ack_ranges(args))
            except ValueError as e:
                self.reply("ack", False, str(e))
                return
            for seq in list(self.inflight):
                if not self.q.is_queued(seq):
                    del self.inflight[seq]
        elif verb == "hello":
            self.hold = True
            self.inflight.clear()
            self.hello()
        elif verb == "bye":
            self.hold = False
            self.inflight.clear()
            self.reply("bye", True)
        elif verb == "status":
            self.status()
        elif verb == "sample":
            self.wake.set()
            self.reply("sample", True)
        elif verb == "interval":
            try:
                s = int(args)
                if not 1 <= s <= 86400:
                    raise ValueError
            except ValueError:
                self.reply("interval", False, "interval must be 1..86400 s")
                return
            self.cfg["interval_s"] = s
            from . import config

            try:
                config.save_key("interval_s", s, self.cfg_path)
            except OSError as e:
                self.reply("interval", False, "not saved: %s" % e)
                return
            self.reply("interval", True, None, (("interval_s", s),))
            self.wake.set()
        else:
            self.reply(verb, False, "unknown command")

    def pump(self):
        """Send queued records a host has not acked: oldest first, at most `window` unacked
        in flight, each resent after resend_s. Only while a host is attached."""
        if not self.hold:
            return 0
        now = time.ticks_ms()
        sent = 0
        seq = 0
        inflight = self.inflight
        while True:
            seq = self.q.first_unacked(seq)
            if not seq:
                break
            t = inflight.get(seq)
            if t is not None and time.ticks_diff(now, t) < self.resend_ms:
                continue
            if t is None and len(inflight) >= self.window:
                break
            payload = self.q.read(seq)
            if payload is None:
                continue
            self.write(proto.frame_payload(self.buf, b"R", payload))
            inflight[seq] = now
            sent += 1
            if sent >= self.window:
                break
        return sent

    async def link(self, reader):
        """Host commands in. One byte at a time: a blocking stream read would wait for a whole
        buffer (the ESP32's and the unix port's stdin both do), and a line without its end
        must never stall the loop."""
        line = bytearray(_LINE_MAX)
        one = bytearray(1)
        n = 0
        while not self.stop:
            got = await reader.readinto(one)
            if not got:
                await asyncio.sleep_ms(50)
                continue
            c = one[0]
            if c == 10 or c == 13:
                if n:
                    try:
                        self.command(bytes(line[:n]).decode())
                    except UnicodeError:
                        pass  # line noise: not a command
                    n = 0
            elif n < _LINE_MAX:
                line[n] = c
                n += 1

    async def sender(self):
        """Records out: resends and backlog while a host is attached."""
        while not self.stop:
            self.beats["link"] = time.ticks_ms()
            self.pump()
            await asyncio.sleep_ms(200)

    # -- modem -----------------------------------------------------------------------------
    def _modem_event(self, name, detail):
        if name == "modem_recovered":
            self.event("modem_recovered", ("tries", self.modem.recoveries if self.modem else 0))
        else:
            self.event("modem_error", ("err", name), ("at", str(detail)[:80]))

    def _on_reg(self, reg, values):
        # A connectivity record on every registration change, with what the URC carried
        # merged over the last full report.
        old = self.conn.get("reg")
        for k in values:
            self.conn[k] = values[k]
        self.conn["reg"] = reg
        if old != reg:
            self.event("reg_change", ("old", old or "unknown"), ("new", reg))
            self.emit("connectivity", self.conn)

    async def _at_quiet(self, m, line):
        # A command whose failure changes nothing (an older firmware without it, say).
        try:
            return await m.at.cmd(line, 2000)
        except Exception:  # noqa: BLE001 - AtError, AtTimeout: both mean "not available"
            return None

    async def network_time(self, m):
        """UTC from the network (NITZ through the modem's clock) until GNSS gives better."""
        r = await self._at_quiet(m, "AT+CCLK?")
        if r is None:
            return
        from .nettime import parse_cclk

        for line in r[0]:
            if line.startswith("+CCLK:"):
                e = parse_cclk(line)
                if e is not None and self.utc is None:
                    up = time.ticks_diff(time.ticks_ms(), self.boot_ms) // 1000
                    self.utc = (e, time.ticks_ms())
                    self.event("time_set", ("delta_s", e - up), ("source", "network"))

    async def modem_task(self):
        from .cell.at import At
        from .cell.modem import Modem

        mc = self.board["modem"]
        mcfg = self.cfg["modem"]
        gcfg = self.board.get("gnss", {})
        gnss_in_modem = gcfg.get("source") == "modem" and "gnss" in [sl.name for sl in self.slots]
        pc = mc.get("pmu")
        while pc and not self.stop:
            # The modem's supply is a PMU rail (LilyGO T-SIM7080G-S3: AXP2101 DC3, GNSS antenna
            # on BLDO2; MinimalModemGPSExample.ino). After a cold boot LilyGO cycles the rail
            # off for 200 ms so the module starts from a clean power-on.
            try:
                pmu = self.pmu_dev()
                if self.plat.reset_cause() == "power_on":
                    pmu.disable(pc["modem_rail"])
                    await asyncio.sleep_ms(200)
                pmu.power_modem(pc, gnss=gnss_in_modem)
                break
            except OSError as e:
                self.event("modem_error", ("err", "pmu"), ("at", str(e)[:40]))
                await asyncio.sleep(60)
        at = At(self.plat.uart("modem")).start()
        if gnss_in_modem:
            from .cell.gnss import ModemGnss

            self.mgnss = ModemGnss(at, mc["model"], on_at=gcfg.get("on_at"), read_at=gcfg.get("at"),
                                   exclusive=gcfg.get("exclusive"),
                                   stale_ms=(3 * self.cfg["interval_s"] + 300) * 1000)
        pk = self.plat.pin_out(mc["pwrkey"], 1 - mc.get("pwrkey_active", 1)) if "pwrkey" in mc else None
        psm = mcfg["psm"]
        edrx = mcfg["edrx"]["cycle_s"]
        m = Modem(at, mc["model"], pwrkey=pk, apn=mcfg["apn"],
                  psm=(psm["t3412_s"], psm["t3324_s"]) if psm["t3412_s"] else None,
                  edrx=edrx or None, on_event=self._modem_event, on_reg=self._on_reg,
                  pwrkey_active=mc.get("pwrkey_active", 1))
        self.modem = m
        while not self.stop:
            self.beats["modem"] = time.ticks_ms()
            if not await m.power_on():
                await asyncio.sleep(30)
                continue
            if not await m.check_sim():
                await asyncio.sleep(60)
                continue
            if m.needs_attach:
                await self._at_quiet(m, _NITZ_ON.get(m.model, "AT+CLTS=1"))
                await m.attach(mcfg["attach_timeout_s"])
                if not m.needs_attach:
                    await self.network_time(m)
            while not self.stop and not m.needs_attach:
                self.beats["modem"] = time.ticks_ms()
                vals = await m.report()
                old = self.conn.get("reg")
                self.conn = vals
                if vals.get("reg") != old and old is not None:
                    self.event("reg_change", ("old", old), ("new", vals.get("reg", "unknown")))
                if m.at.timeouts_in_row >= 3:
                    await m.recover()
                    if self.mgnss is not None:
                        self.mgnss.reset()
                    break
                mg = self.mgnss
                if mg is not None:
                    if not mg.exclusive:
                        await mg.update()
                    elif self.cfg["modem"]["gnss_every"] and self.cycles % self.cfg["modem"]["gnss_every"] == 0:
                        # SIM7080G: GNSS and LTE share the RF path (LilyGO T-SIM7080G README,
                        # Tips 1): radio off, take a fix, radio on, attach again.
                        await self._at_quiet(m, "AT+CFUN=0")
                        await mg.acquire(90)
                        await self._at_quiet(m, "AT+CFUN=1")
                        m.needs_attach = True
                        break
                if vals.get("reg") not in ("home", "roaming"):
                    m.needs_attach = True
                    break
                await asyncio.sleep(self.cfg["interval_s"])

    # -- tasks -----------------------------------------------------------------------------
    async def sampler(self):
        while not self.stop:
            self.beats["sampler"] = time.ticks_ms()
            await self.sample()
            self.pump()
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), self.cfg["interval_s"])
            except asyncio.TimeoutError:
                pass

    async def supervisor(self, wdt):
        # Feed the watchdog only while every task checked in within its allowance: a wedged
        # task (a driver stuck in a loop, a lost await) ends in a watchdog reset.
        allow = {"link": 10000, "sampler": (self.cfg["interval_s"] + 60) * 1000,
                 "modem": (self.cfg["interval_s"] + self.cfg["modem"]["attach_timeout_s"] + 300) * 1000}
        while not self.stop:
            now = time.ticks_ms()
            healthy = True
            for name in allow:
                t = self.beats.get(name)
                if t is not None and time.ticks_diff(now, t) > allow[name]:
                    healthy = False
            if healthy and wdt is not None:
                wdt.feed()
            await asyncio.sleep_ms(1000)

    async def maybe_sleep(self):
        """Deep sleep between reports when configured: after the maintenance window, unless a
        host holds the board awake."""
        if not self.cfg["sleep"]["deep"]:
            return
        await asyncio.sleep_ms(self.cfg["maint_window_ms"])
        while self.hold or self.q.depth and self.inflight:
            await asyncio.sleep_ms(200)
            if self.hold and time.ticks_diff(time.ticks_ms(), self.host_ms) > 600000:
                self.hold = False  # a host that vanished without !bye
        self.plat.deepsleep(self.cfg["interval_s"] * 1000)


def _errname(code, e):
    names = {19: "ENODEV", 5: "EIO", 110: "ETIMEDOUT", 116: "ETIMEDOUT"}
    return names.get(code) or str(e)[:40]


def _stdin_reader():
    # bytes, not str: the command parser works on bytes and a stray non-UTF-8 byte (line
    # noise) must not raise
    return asyncio.StreamReader(getattr(sys.stdin, "buffer", sys.stdin))


async def run(term, wdt=None):
    term.hello()
    tasks = [asyncio.create_task(term.link(_stdin_reader())), asyncio.create_task(term.sender()),
             asyncio.create_task(term.supervisor(wdt))]
    if term.gnss is not None:
        tasks.append(asyncio.create_task(term.gnss.run()))
    if term.board.get("modem") and term.cfg["modem"]["enabled"]:
        tasks.append(asyncio.create_task(term.modem_task()))
    if term.cfg["sleep"]["deep"]:
        await term.sample()
        await term.maybe_sleep()
    await term.sampler()


def main():
    from . import config
    from .hw import Platform
    import json

    try:
        with open("board.json") as f:
            board = json.load(f)
    except (OSError, ValueError) as e:
        print("mobiot: board.json unreadable (%s); no peripherals" % e)
        board = {}
    cfg, errors = config.load("config.json")
    plat = Platform(board)
    term = Terminal(plat, cfg, board)
    term.event("boot", ("reset", plat.reset_cause()), ("fw", FW_VERSION))
    for msg in errors[:_EV_MAX]:
        term.event("config_fallback", ("reason", msg[:120]))
    term.setup_sensors()
    wdt = plat.watchdog(cfg["wdt_ms"]) if cfg["wdt_ms"] else None
    try:
        asyncio.run(run(term, wdt))
    except KeyboardInterrupt:
        # Ctrl-C: a person or a host tool (mpremote) takes the REPL. The ESP32 watchdog cannot
        # be stopped, only given a new timeout: an hour for the session, after which a board
        # left at the REPL resets and goes back to work.
        if wdt is not None:
            plat.watchdog(_REPL_WDT_MS)
        raise
