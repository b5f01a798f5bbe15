# Firmware benchmark on the MicroPython unix port (run by bench/run.py, which compiles the
# firmware and the fakes to .mpy first, as they are on a board):
#   micropython -X heapsize=96k bench/fw_bench.py MPYDIR IMAGE CYCLES
# Runs CYCLES report cycles of the real main loop (sensors on fake buses, records into the
# flash queue on littlefs, a host acking every few cycles) and prints one JSON object.
import sys

sys.path[:0] = [sys.argv[1]]
import asyncio
import gc
import json
import time

_vt = [0]


def vclock():
    # Simulated time for the fake sensors: a BME280 conversion is done by the time it is read.
    _vt[0] += 20
    return _vt[0]


def main():
    image, cycles = sys.argv[2], int(sys.argv[3])
    import fileblockdev as fb

    fb.mount(fb.FileBlockDev(image, 128), "/bq", mkfs=True)
    gc.collect()
    free0 = gc.mem_free()
    from fake_bme280 import FakeBme280
    from fake_sht4x import FakeSht4x
    from fakebus import FakeADC, FakeI2C

    i2c = FakeI2C({0x76: FakeBme280(clock=vclock), 0x44: FakeSht4x(clock=vclock)})
    adc = FakeADC(1900000)
    gc.collect()
    fakes = free0 - gc.mem_free()

    from mobiot_fw import config
    from mobiot_fw.app import Terminal

    class Plat:
        def i2c(self):
            return self.bus

        def battery_adc(self):
            return self.adc

        def unique_id(self):
            return "bench"

    class Null:
        n = 0

        def write(self, b):
            self.n += len(b)

    cfg, _ = config.validate({"device_id": "356938035643809", "status_every": 100})
    out = Null()
    plat = Plat()
    plat.bus, plat.adc = i2c, adc
    t = Terminal(plat, cfg, {"name": "bench", "sensors": ["bme280", "sht4x", "battery"]}, out=out,
                 qroot="/bq/q", cfg_path="/bq/config.json")
    t.setup_sensors()
    gc.collect()
    base_alloc = gc.mem_alloc()
    setup_bytes = free0 - gc.mem_free() - fakes
    res = {}

    async def run():
        t0 = time.ticks_ms()
        for i in range(1, cycles + 1):
            await t.sample(wait=False)
            if i % 8 == 0:
                t.q.ack_range(1, t.q.next_seq() - 1)
            if i == 1000:
                gc.collect()
                res["free_1000"] = gc.mem_free()
                res["t_1000"] = time.ticks_ms()
        gc.collect()
        res["free_end"] = gc.mem_free()
        res["ms"] = time.ticks_diff(time.ticks_ms(), t0)
        res["ms_after_1000"] = time.ticks_diff(time.ticks_ms(), res["t_1000"])

    asyncio.run(run())

    out_json = {
        "firmware_cycles": cycles,
        "firmware_cycle_ms": round(res["ms"] / cycles, 3),
        "firmware_setup_heap_bytes": setup_bytes,
        "firmware_live_heap_bytes": base_alloc,
        "firmware_heap_growth_1000_to_end_bytes": res["free_1000"] - res["free_end"],
        "firmware_records_written": t.q.next_seq() - 1,
        "firmware_bytes_sent": out.n,
    }
    print(json.dumps(out_json))


main()
