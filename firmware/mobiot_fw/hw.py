# The one module that touches `machine` (and `onewire`, and `network`): builds the board's peripherals from
# its board definition (boards/<name>.json, copied to /board.json at provisioning; schema in
# docs/boards.md). Everything else takes what this returns as arguments, so tests pass fakes.
# On a virtual board the same code runs against the simulated `machine` of sim/.
import machine

# machine.reset_cause() values of the ESP32 port (ports/esp32/modmachine.c) -> record names
_CAUSES = {
    machine.PWRON_RESET: "power_on",
    machine.HARD_RESET: "hard",
    machine.WDT_RESET: "wdt",
    machine.DEEPSLEEP_RESET: "deepsleep",
    machine.SOFT_RESET: "soft",
}


# battery.atten in dB -> machine.ADC constant (ESP32 port: ATTN_0DB, ATTN_2_5DB, ATTN_6DB,
# ATTN_11DB; "2" stands for 2.5 dB)
_ATTEN = {0: machine.ADC.ATTN_0DB, 2: machine.ADC.ATTN_2_5DB, 6: machine.ADC.ATTN_6DB, 11: machine.ADC.ATTN_11DB}


class Platform:
    def __init__(self, board):
        self.board = board
        self._i2c = None

    def has(self, part):
        return bool(self.board.get(part))

    def i2c(self):
        # One bus object for the sensors and the PMU: re-creating machine.I2C re-initialises
        # the controller under a driver that is using it.
        if self._i2c is None:
            c = self.board["i2c"]
            self._i2c = machine.I2C(c.get("id", 0), scl=machine.Pin(c["scl"]), sda=machine.Pin(c["sda"]),
                                    freq=c.get("freq", 400000))
        return self._i2c

    def onewire(self):
        import onewire

        return onewire.OneWire(machine.Pin(self.board["onewire"]["pin"]))

    def battery_adc(self):
        c = self.board["battery"]
        adc = machine.ADC(machine.Pin(c["pin"]))
        # battery.atten (dB, docs/boards.md), 11 when absent: the ESP32 ADC's widest range
        # (about 0.15-2.45 V calibrated); ESP32 TRM / ESP-IDF ADC docs, "ADC attenuation".
        # read_uv() is calibrated for the attenuation set, so only the usable range changes.
        db = c.get("atten", 11)
        a = _ATTEN.get(db)
        if a is None:
            raise ValueError("board.json: battery.atten=%r is not 0, 2, 6 or 11" % (db,))
        adc.atten(a)
        return adc

    def uart(self, part):
        c = self.board[part]
        return machine.UART(c["uart"], baudrate=c.get("baud", 115200), tx=c["tx"], rx=c["rx"],
                            timeout=0, rxbuf=1024)

    def pin_out(self, n, value=0):
        return machine.Pin(n, machine.Pin.OUT, value=value)

    def pin_in(self, n, on_fall=None):
        """An input; on_fall() is called (scheduled, not in hard IRQ context) on each
        falling edge."""
        p = machine.Pin(n, machine.Pin.IN)
        if on_fall is not None:
            p.irq(handler=lambda _: on_fall(), trigger=machine.Pin.IRQ_FALLING)
        return p

    def watchdog(self, timeout_ms):
        return machine.WDT(timeout=timeout_ms)

    def reset_cause(self):
        return _CAUSES.get(machine.reset_cause(), "unknown")

    def deepsleep(self, ms):
        machine.deepsleep(ms)

    def reset(self):
        machine.reset()

    def unique_id(self):
        return "".join("%02x" % b for b in machine.unique_id())

    # -- network interfaces (uplink/net.py; docs/uplink.md "Transports"). `network` is imported
    # here only: the unix port has none, and a board that never uses them never loads it.
    def wlan(self):
        """The station interface, active (MicroPython docs "class WLAN": WLAN(STA_IF),
        active(True); connect(ssid, key) then joins in the background)."""
        import network

        nic = network.WLAN(network.STA_IF)
        nic.active(True)
        return nic

    def ppp(self, stream=None):
        """network.PPP over the modem's UART (MicroPython docs "class PPP", 1.24 and later:
        PPP(stream), connect(security, user, key), isconnected(), disconnect()). Without a
        stream: whether this firmware has network.PPP at all (the ESP32 port with
        CONFIG_LWIP_PPP_SUPPORT; the unix port has no `network` module)."""
        try:
            import network
        except ImportError:
            return None
        if stream is None:
            return hasattr(network, "PPP") or None
        return network.PPP(stream)
