# Firmware benchmark on the MicroPython unix port (run by bench/run.py, which compiles the
# firmware and the fakes to .mpy first, as they are on a board):
#   micropython -X heapsize=96k bench/fw_bench.py MPYDIR IMAGE CYCLES
# Runs CYCLES report cycles of the real main loop (sensors on fake buses, records into the
# flash queue on littlefs, a host acking every few cycles) and prints one JSON object.
import sys

import os

# As on a board: the modules are found relative to the current directory (the flash root), so a
# module's __file__ is "mobiot_fw/x.mpy", not this machine's temporary directory (every module
# path is a qstr on the heap).
os.chdir(sys.argv[1])
sys.path[:0] = [""]
import asyncio
import gc
import json
import time

def _crc8(a, b):
    # Sensirion CRC-8 (poly 0x31, init 0xFF), SHT4x datasheet section 4.5
    c = 0xFF
    for x in (a, b):
        c ^= x
        for _ in range(8):
            c = ((c << 1) ^ 0x31) & 0xFF if c & 0x80 else (c << 1) & 0xFF
    return c


class StaticI2C:
    """A BME280 at 0x76 (the datasheet's calibration example, section 8.1 / BMP280 3.12) and an
    SHT4x at 0x44, answering fixed conversions."""

    def __init__(self):
        r = bytearray(256)
        r[0xD0] = 0x60
        calib = (27504, 26435, -1000, 36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000)
        for i, v in enumerate(calib):
            r[0x88 + 2 * i] = v & 0xFF
            r[0x89 + 2 * i] = (v >> 8) & 0xFF
        r[0xA1] = 75  # H1
        r[0xE1], r[0xE2] = 0x6A, 0x01  # H2 = 362
        r[0xE3] = 0  # H3
        r[0xE4], r[0xE5], r[0xE6] = 0x13, 0x2E, 0x03  # H4 = 318, H5 = 50
        r[0xE7] = 30  # H6
        p, t, h = 415148, 519888, 30000  # raw ADC values of the datasheet example
        r[0xF7:0xFF] = bytes((p >> 12, (p >> 4) & 0xFF, (p & 15) << 4, t >> 12, (t >> 4) & 0xFF, (t & 15) << 4,
                              h >> 8, h & 0xFF))
        self.bme = r
        st, srh = 0x6666, 0x8000
        self.sht = bytes((st >> 8, st & 0xFF, _crc8(st >> 8, st & 0xFF), srh >> 8, srh & 0xFF,
                          _crc8(srh >> 8, srh & 0xFF)))

    def readfrom_mem_into(self, addr, reg, buf):
        if addr != 0x76:
            raise OSError(19)
        buf[:] = self.bme[reg:reg + len(buf)]

    def writeto_mem(self, addr, reg, data):
        if addr != 0x76:
            raise OSError(19)

    def writeto(self, addr, data):
        if addr != 0x44:
            raise OSError(19)

    def readfrom_into(self, addr, buf):
        if addr != 0x44:
            raise OSError(19)
        buf[:] = self.sht


class StaticADC:
    def read_uv(self):
        return 1900000


class Plat:
    """The platform the Terminal gets: the static bus and ADC above (bench/fw_uplink.py too)."""

    def i2c(self):
        return self.bus

    def battery_adc(self):
        return self.adc

    def unique_id(self):
        return "bench"


class Null:
    """The serial link's output: counted, thrown away."""

    n = 0

    def write(self, b):
        self.n += len(b)


def main():
    image, cycles = sys.argv[2], int(sys.argv[3])
    import fileblockdev as fb

    fb.mount(fb.FileBlockDev(image, 128), "/bq", mkfs=True)
    gc.collect()
    free0 = gc.mem_free()
    # Static register maps, not the simulation's fakes: the fakes invert the datasheet
    # formulas on every read and would be measured instead of the firmware.
    i2c = StaticI2C()
    adc = StaticADC()
    gc.collect()
    fakes = free0 - gc.mem_free()

    # in a board's order: main.py imports the app (and with it the parts' modules), app.main()
    # loads the wiring (build.py), then the config (build.config); Terminal() drops the wiring
    from mobiot_fw.app import Terminal
    import mobiot_fw.build  # noqa: F401
    from mobiot_fw import config

    cfg, _ = config.validate({"device_id": "356938035643809", "status_every": 100})
    # as app.main does: the config module is dropped once the config is loaded
    import mobiot_fw

    del sys.modules["mobiot_fw.config"], config
    delattr(mobiot_fw, "config")
    out = Null()
    plat = Plat()
    plat.bus, plat.adc = i2c, adc
    t = Terminal(plat, cfg, {"name": "bench", "sensors": ["bme280", "sht4x", "battery"]}, out=out,
                 qroot="/bq/q", cfg_path="/bq/config.json")
    t.sensors.setup()
    gc.collect()
    base_alloc = gc.mem_alloc()
    setup_bytes = free0 - gc.mem_free() - fakes
    res = {}

    async def run():
        t0 = time.ticks_ms()
        for i in range(1, cycles + 1):
            await t.cycle.once(wait=False)
            if i % 8 == 0:
                t.q.ack_range(1, t.q.next_seq() - 1)
            if i == 1000 or i == 2000:
                gc.collect()
                res["free_%d" % i] = gc.mem_free()
        gc.collect()
        res["free_end"] = gc.mem_free()
        res["ms"] = time.ticks_diff(time.ticks_ms(), t0)
        res.setdefault("free_1000", res["free_end"])

    asyncio.run(run())

    out_json = {
        "firmware_cycles": cycles,
        "firmware_cycle_ms": round(res["ms"] / max(cycles, 1), 3),
        "firmware_setup_heap_bytes": setup_bytes,
        "firmware_live_heap_bytes": base_alloc,
        "firmware_heap_growth_1000_to_end_bytes": res["free_1000"] - res["free_end"],
        "firmware_heap_growth_2000_to_end_bytes": res.get("free_2000", res["free_end"]) - res["free_end"],
        "firmware_records_written": t.q.next_seq() - 1,
        "firmware_bytes_sent": out.n,
    }
    print(json.dumps(out_json))


if __name__ == "__main__":  # bench/fw_uplink.py imports the fakes above
    main()
