# Deliberate misuse of the ESP32 MicroPython API: the firmware type check must reject each line
# marked BAD. tests/host/test_lint.py runs pyright on this file with firmware/pyrightconfig.json.
import machine
import time

i2c = machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21))
buf = bytearray(8)
i2c.readfrom_mem_into(0x76, 0xF7, buf)  # good: exists on the ESP32
i2c.read_register(0x76, 0xF7)  # BAD: no such I2C method
adc = machine.ADC(machine.Pin(35))
adc.read_mv()  # BAD: the ESP32 ADC has read_uv(), not read_mv()
time.monotonic()  # BAD: MicroPython's time has ticks_ms(), not monotonic()
machine.deepsleep("soon")  # BAD: wants milliseconds
