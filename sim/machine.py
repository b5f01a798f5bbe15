# The `machine` module of a virtual board: the ESP32 port's API over simulated peripherals.
# Shadows the unix port's built-in `machine` (an extensible module) because vboot.py imports
# it first. Only what the firmware and mpremote use is here; a call the ESP32 does not have
# must not be added (pyright checks the firmware against the ESP32 stubs).
# Simulation only: never deployed to a real board.
import sys
import time
import simworld

# Reset causes, values of the ESP32 port (ports/esp32/modmachine.c, MP_PWRON_RESET ...)
PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5



def reset_cause():
    return simworld.reset_cause


def _down(mark):
    # vboard powers the board off when it sees the mark (sys.exit() cannot end the process
    # from a script run with -i), so nothing after this line runs, as on the chip.
    print(mark)
    while True:
        time.sleep_ms(1000)


def reset():
    _down("\x1b[vboard-reset]")


def soft_reset():
    sys.exit(0)


def deepsleep(time_ms=0):
    # vboard powers the board down for time_ms, then boots it with DEEPSLEEP_RESET; flash
    # (and so the queue and the counters) is kept, RAM is not.
    _down("\x1b[vboard-sleep %d]" % int(time_ms))


def lightsleep(time_ms=0):
    time.sleep_ms(time_ms)


def idle():
    time.sleep_ms(1)


def freq(hz=None):
    return 240000000


def unique_id():
    did = simworld.info.get("device_id", "0")
    n = int(did) & 0xFFFFFFFFFFFF
    return bytes((n >> s) & 0xFF for s in (40, 32, 24, 16, 8, 0))


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 2
    PULL_DOWN = 1
    IRQ_RISING = 1
    IRQ_FALLING = 2

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.id = id
        self._v = 0 if value is None else value
        pk = simworld.device("pin", id)
        self._hook = pk

    def init(self, *a, **k):
        pass

    def irq(self, handler=None, trigger=3):
        # kept for a simulator to call (an edge on the modem's RI, say); none does yet
        self._irq = (handler, trigger)
        return None

    def value(self, v=None):
        if v is None:
            return self._v
        self._v = 1 if v else 0
        if self._hook is not None:
            self._hook(self._v)
        return None

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def __call__(self, v=None):
        return self.value(v)


class _Absent:
    """A bus with nothing on it: every transfer is NACKed, as the ESP32 I2C driver reports
    with OSError(ENODEV)."""

    def _nack(self, *a, **k):
        raise OSError(19)

    readfrom_mem_into = readfrom_mem = writeto_mem = writeto = readfrom_into = readfrom = _nack

    def scan(self):
        return []


def I2C(id=0, scl=None, sda=None, freq=400000, timeout=50000):  # noqa: N802 (machine API)
    return simworld.device("i2c", id) or _Absent()


SoftI2C = I2C


class ADC:
    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3
    WIDTH_12BIT = 3

    def __init__(self, pin, atten=None):
        pid = pin.id if isinstance(pin, Pin) else pin
        self._dev = simworld.device("adc", pid)

    def atten(self, a):
        self.attenuation = a

    def read_uv(self):
        if self._dev is None:
            return 0
        return self._dev.read_uv()

    def read_u16(self):
        return self.read_uv() * 65535 // 3300000


class _NoUart:
    def __init__(self):
        pass

    def read(self, n=-1):
        return None

    def readinto(self, buf, n=-1):
        return None

    def readline(self):
        return None

    def write(self, b):
        return len(b)

    def any(self):
        return 0

    def ioctl(self, req, arg):
        return 0

    def init(self, *a, **k):
        pass

    def deinit(self):
        pass


def UART(id, baudrate=115200, **kw):  # noqa: N802 (machine API)
    return simworld.device("uart", id) or _NoUart()


class WDT:
    """The ESP32's task watchdog: once started it cannot be stopped; calling WDT() again
    changes its timeout (ports/esp32/machine_wdt.c reconfigures it). Every feed rewrites the
    board's watchdog file on the host (simworld.wdt_write: the timeout, the file's mtime is the
    feed); vboard powers the board down when a feed is overdue and boots it again with
    machine.WDT_RESET, as the chip does. No thread: a watcher thread in the board's process
    hung its REPL about once in 100 runs on a loaded machine (the unix port's GC stops every
    thread with a signal)."""

    _active = None

    def __new__(cls, id=0, timeout=5000):
        w = WDT._active
        if w is None:
            w = object.__new__(cls)
            WDT._active = w
        return w

    def __init__(self, id=0, timeout=5000):
        self.timeout = timeout
        self.feed()

    def feed(self):
        simworld.wdt_write(self.timeout)


class RTC:
    def datetime(self, dt=None):
        if dt is None:
            t = time.gmtime()
            return (t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0)
        return None
