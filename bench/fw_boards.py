# The firmware's heap on top of the simulation, for one board definition (run by bench/run.py):
#   micropython -X heapsize=H bench/fw_boards.py SIMMPY FWMPY STATE_DIR MODE
# STATE_DIR/sim.json holds the board definition (boards/<name>.json) as a virtual board's does,
# STATE_DIR/device.json its device form (mobiot.boarddef.device_json), the board's /board.json.
# MODE "sim": build the simulated world (sensors, PMU, modem simulator) and print the heap it
# holds. MODE "run": the same, then the firmware as app.main() runs it (board.json read from
# flash, the config, app.Terminal, sensors, the modem part) for CYCLES report cycles in virtual
# time; prints "ok <modem reports>" or raises (MemoryError under too small a heap).
import sys

sys.path[:0] = [sys.argv[1], sys.argv[2]]
import gc
import json
import os

import fileblockdev as fb
import simworld

CYCLES = 8
state, mode = sys.argv[3], sys.argv[4]
simworld.setup(state, 1)
simworld.preload()
import machine  # noqa: E402,F401  the simulated one: hw.py finds it in sys.modules
import modem_sim  # noqa: E402
import onewire  # noqa: E402,F401

# The simulator keeps a log of the AT lines for tests (256 by default): its growth would count
# as the firmware's here, so it keeps the last 8 only.
modem_sim._LOG_MAX = 8
vt = modem_sim.VirtualTime()
simworld.clock = vt.ticks_ms
b = simworld.board
# every simulated device now, so that the simulation's heap is all counted before the firmware
for kind, key in (("i2c", (b.get("i2c") or {}).get("id", 0)), ("adc", (b.get("battery") or {}).get("pin")),
                  ("ow", (b.get("onewire") or {}).get("pin")), ("uart", (b.get("gnss") or {}).get("uart")),
                  ("uart", (b.get("modem") or {}).get("uart"))):
    if key is not None:
        simworld.device(kind, key)
fb.mount(fb.FileBlockDev(state + "/flash.img", 256), "/bq", mkfs=True)
with open(state + "/device.json") as fi, open("/bq/board.json", "w") as f:
    f.write(fi.read())  # the board file's device form, as provisioning writes it
with open("/bq/config.json", "w") as f:
    json.dump({"device_id": "356938035643809", "interval_s": 60, "modem": {"apn": "iot.test"}}, f)
os.chdir("/bq")
gc.collect()
if mode == "sim":
    print("sim", gc.mem_alloc())
    sys.exit(0)

import asyncio  # noqa: E402

from mobiot_fw import app  # noqa: E402
from mobiot_fw import build  # noqa: E402  - as app.main(): the wiring before the config
from mobiot_fw.hw import Platform  # noqa: E402


class Null:
    def write(self, b):
        return len(b)


with open("board.json") as f:
    board = json.load(f)
cfg, errors = build.config()
del build  # Terminal() drops the wiring module, as app.main() does
t = app.Terminal(Platform(board), cfg, board, out=Null(), qroot="/bq/q", cfg_path="/bq/config.json",
                 at_clock=vt.ticks_ms)
t.sensors.setup()


failed = []


async def guarded(coro):
    # as app.run(): a task that raises fails the run (a MemoryError in the modem task must
    # not pass for a board that fits)
    try:
        await coro
    except Exception as e:  # noqa: BLE001
        failed.append(e)


async def run():
    if t.modem is not None:
        asyncio.create_task(guarded(t.modem.run()))
    if t.sensors.gnss is not None:
        asyncio.create_task(guarded(t.sensors.gnss.run()))
    for _ in range(CYCLES):
        await t.cycle.once()
        await asyncio.sleep(cfg["interval_s"])
        if failed:
            raise failed[0]


vt.run(run())
if t.modem is not None and t.modem.reports < CYCLES // 2:
    raise SystemExit("the modem part reported %d times in %d cycles" % (t.modem.reports, CYCLES))
print("ok", t.modem.reports if t.modem is not None else -1)
