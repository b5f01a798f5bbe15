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

from fw_fakes import Null, Plat, StaticADC, StaticI2C


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


main()
