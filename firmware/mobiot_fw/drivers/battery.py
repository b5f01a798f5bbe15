# Battery voltage through a resistor divider into an ESP32 ADC pin.
#
# The ADC object is machine.ADC with read_uv() (MicroPython ESP32 port, "ADC (analog to
# digital conversion)" in docs/esp32/quickref: read_uv() returns the eFuse-calibrated
# input in microvolts). The divider brings a 4.2 V Li-ion cell under the pin's range:
# with ADC.ATTN_11DB the ESP32's usable range is about 150..2450 mV (ESP-IDF ADC docs), so a
# 1:2 divider (100k/100k) maps 3.0..4.2 V to 1.5..2.1 V.
#
# V_bat = read_uv / 1e6 * divider * scale + offset
#   divider  nominal ratio (R_top + R_bottom) / R_bottom
#   scale    per-board gain correction from a two-point calibration (1.0 if none)
#   offset   per-board offset in volts (0.0 if none)
from micropython import const  # MicroPython only: the host never imports drivers

_DEFAULT_SAMPLES = const(8)
_MAX_SAMPLES = const(64)


class Battery:
    NAMES = ("bat",)

    def __init__(self, adc, divider=2.0, scale=1.0, offset=0.0, samples=_DEFAULT_SAMPLES):
        if not 1 <= samples <= _MAX_SAMPLES:
            raise ValueError("samples")
        self._adc = adc
        self._k = divider * scale / 1e6  # uV at the pin -> V at the cell, one multiply
        self._offset = offset
        self._n = samples
        self.mean_uv = 0

    def start(self):
        return 0  # the ADC converts synchronously inside read_uv()

    def read_raw(self):
        """Average `samples` conversions into self.mean_uv (int). Averaging in integers keeps
        the loop allocation-free (a running sum, no list): tested with heap_lock."""
        adc = self._adc
        total = 0
        for _ in range(self._n):
            total += adc.read_uv()
        self.mean_uv = (total + self._n // 2) // self._n

    def read(self):
        """(bat V, rounded to 1 mV)."""
        self.read_raw()
        return (round(self.mean_uv * self._k + self._offset, 3),)
