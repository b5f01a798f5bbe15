# The platform module (firmware/mobiot_fw/hw.py) reads the board definition: here against a
# fake `machine` that records what hw.py asks of it (the ESP32 port's API and constants:
# ports/esp32/machine_adc.c ATTN_*, machine_pin.c IRQ_*).
import sys


class _ADC:
    ATTN_0DB, ATTN_2_5DB, ATTN_6DB, ATTN_11DB = 0, 1, 2, 3
    made = []

    def __init__(self, pin):
        self.pin = pin
        self.att = None
        _ADC.made.append(self)

    def atten(self, a):
        self.att = a


class _Pin:
    IN, OUT, IRQ_FALLING, IRQ_RISING = 1, 3, 2, 1

    def __init__(self, n, mode=-1, value=None):
        self.n, self.mode, self.v, self.irq_args = n, mode, value, None

    def irq(self, handler=None, trigger=3):
        self.irq_args = (handler, trigger)


class _Machine:
    ADC = _ADC
    Pin = _Pin
    PWRON_RESET, HARD_RESET, WDT_RESET, DEEPSLEEP_RESET, SOFT_RESET = 1, 2, 3, 4, 5


def _hw():
    sys.modules["machine"] = _Machine
    sys.modules.pop("mobiot_fw.hw", None)
    from mobiot_fw import hw

    return hw


def test_battery_atten_comes_from_the_board():
    hw = _hw()
    for db, const in ((11, _ADC.ATTN_11DB), (6, _ADC.ATTN_6DB), (2, _ADC.ATTN_2_5DB), (0, _ADC.ATTN_0DB)):
        adc = hw.Platform({"battery": {"pin": 35, "atten": db}}).battery_adc()
        assert adc.att == const and adc.pin.n == 35, (db, adc.att)
    assert hw.Platform({"battery": {"pin": 35}}).battery_adc().att == _ADC.ATTN_11DB  # the default


def test_a_bad_atten_names_the_key():
    hw = _hw()
    try:
        hw.Platform({"battery": {"pin": 35, "atten": 3}}).battery_adc()
        raise AssertionError("accepted")
    except ValueError as e:
        assert "battery.atten" in str(e), e


def test_pin_in_calls_back_on_a_falling_edge():
    hw = _hw()
    got = []
    p = hw.Platform({}).pin_in(3, lambda: got.append(1))
    handler, trigger = p.irq_args
    assert p.mode == _Pin.IN and trigger == _Pin.IRQ_FALLING
    handler(p)
    assert got == [1]
    assert hw.Platform({}).pin_in(5).irq_args is None
