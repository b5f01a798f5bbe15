# Heap that importing each firmware module costs (.mpy, unix port), in the order a modem
# board loads them; run by bench/run.py: micropython bench/fw_imports.py MPYDIR
import sys

sys.path[:0] = [sys.argv[1]]
import gc
import json

MODULES = ("asyncio", "mobiot_fw.proto", "mobiot_fw.queue", "mobiot_fw.config", "mobiot_fw.app",
           "mobiot_fw.drivers.bme280", "mobiot_fw.drivers.battery", "mobiot_fw.drivers.nmea",
           "mobiot_fw.cellular", "mobiot_fw.at", "mobiot_fw.modem", "mobiot_fw.cell_simcom")
out = {}
gc.collect()
base = gc.mem_free()
for m in MODULES:
    gc.collect()
    a = gc.mem_free()
    __import__(m)
    gc.collect()
    out["firmware_import_bytes_" + m.split(".")[-1]] = a - gc.mem_free()
gc.collect()
out["firmware_import_bytes_modem_board_total"] = base - gc.mem_free()
print(json.dumps(out))
