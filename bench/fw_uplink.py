# Uplink heap bench on the MicroPython unix port (run by bench/bench_uplink.py, firmware and fakes
# compiled to .mpy as on a board):
#   micropython -X heapsize=128k bench/fw_uplink.py MPYDIR IMAGE CYCLES PORT
# The real main loop's report cycles (as bench/fw_bench.py) with the MQTT uplink beside the
# serial link, over the firmware's own TCP stream (uplink/net.py NetSock, as a board without a
# modem has it) to the broker on 127.0.0.1:PORT (bench/ackbroker.py, in the host process: no
# broker in this heap), which acks the records down on the device's down topic as the collector
# does; the acks go through the terminal's one command dispatcher.
# Prints one JSON object: the uplink's heap cost, free heap at cycles 1000 / 2000 / end.
import sys

import os

# as bench/fw_bench.py: modules found relative to the current directory, as on a board's flash,
# so a module's __file__ (a qstr on the heap) is "mobiot_fw/x.mpy", not a temporary directory's path
os.chdir(sys.argv[1])
sys.path[:0] = [""]
import asyncio
import gc
import json

import fw_fakes as parts


def main():
    image, cycles = sys.argv[2], int(sys.argv[3])
    import fileblockdev as fb

    fb.mount(fb.FileBlockDev(image, 128), "/bq", mkfs=True)
    from mobiot_fw.app import Terminal
    import mobiot_fw.build  # noqa: F401  - as app.main(): the wiring before the config
    from mobiot_fw import config

    cfg, _ = config.validate({"device_id": "356938035643809", "status_every": 100,
                              "uplink": {"enabled": True, "host": "127.0.0.1", "port": int(sys.argv[4]),
                                         "encoding": "compact"}})
    # the Terminal is built with the uplink off (uplink/part.py would look for a modem or a
    # WLAN interface, which the unix port has not); the Uplink is built below over NetSock with
    # the validated section and registered as app.py's part does
    ucfg = cfg["uplink"]
    cfg["uplink"] = {"enabled": False}
    # as app.main does (build.config()) and bench/fw_bench.py: the config module is dropped once
    # the config is loaded; a config change loads it again
    import mobiot_fw

    del sys.modules["mobiot_fw.config"], config
    delattr(mobiot_fw, "config")
    plat = parts.Plat()
    plat.bus, plat.adc = parts.StaticI2C(), parts.StaticADC()
    out = parts.Null()
    t = Terminal(plat, cfg, {"name": "bench", "sensors": ["bme280", "sht4x", "battery"]}, out=out,
                 qroot="/bq/q", cfg_path="/bq/config.json")
    t.sensors.setup()
    gc.collect()
    free0 = gc.mem_free()
    from mobiot_fw.uplink.net import NetSock
    from mobiot_fw.uplink.session import Uplink

    def stream():  # as uplink/net.py wlan_uplink's factory, without TLS secrets
        return NetSock("wlan")

    up = Uplink(t.q, ucfg, t.outbox.device, stream, t.dispatch, t.outbox.event)
    t.outbox.transports.append(up)
    gc.collect()
    uplink_bytes = free0 - gc.mem_free()
    res = {}

    async def until_sent():
        # every record published and PUBACKed, over loopback TCP: wait for it (10 s at most, a
        # deadline only a broken bench reaches), never for a fixed time
        for _ in range(10000):
            if up.q.first_unacked(up.cursor) == 0 and up.inflight == 0:
                return
            await asyncio.sleep_ms(1)
        raise SystemExit("uplink stalled: %d in flight after %d messages" % (up.inflight, up.published))

    async def run():
        task = asyncio.create_task(up.run())
        for _ in range(10000):
            if up.mq is not None and up.mq.connected:
                break
            await asyncio.sleep_ms(1)
        else:
            raise SystemExit("uplink did not connect: %r" % (up.mq and up.mq.err))
        gc.collect()
        res["connected_free"] = gc.mem_free()
        for i in range(1, cycles + 1):
            await t.cycle.once(wait=False)
            await until_sent()
            if i == 1000 or i == 2000:
                gc.collect()
                res["free_%d" % i] = gc.mem_free()
        await until_sent()
        gc.collect()
        res["free_end"] = gc.mem_free()
        up.shutdown()
        await task

    asyncio.run(run())
    print(json.dumps({
        "uplink_cycles": cycles,
        "uplink_heap_bytes": uplink_bytes,  # Uplink object: encoder tables, MQTT buffers, record scanner
        "uplink_connected_heap_bytes": free0 - res["connected_free"],  # plus a live connection
        "uplink_heap_growth_1000_to_end_bytes": res.get("free_1000", res["free_end"]) - res["free_end"],
        "uplink_heap_growth_2000_to_end_bytes": res.get("free_2000", res["free_end"]) - res["free_end"],
        "uplink_messages_published": up.published,
        "uplink_records_left_in_queue": t.q.depth,
    }))


main()
