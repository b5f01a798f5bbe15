# Heap that importing each firmware module costs (.mpy, unix port), in the order a modem
# board loads them; run by bench/run.py: micropython bench/fw_imports.py MPYDIR
import sys

import os

# As on a board: the modules are found relative to the current directory (the flash root), so a
# module's __file__ is "mobiot_fw/x.mpy", not this machine's temporary directory (every module
# path is a qstr on the heap).
os.chdir(sys.argv[1])
sys.path[:0] = [""]
import gc
import json

# (module, figure name): the names are those of the flat layout before the modem stack, queue
# and link became subpackages, so results.json stays comparable across the move.
MODULES = (("asyncio", "asyncio"), ("mobiot_fw.link.proto", "proto"), ("mobiot_fw.store.flashq", "queue"),
           ("mobiot_fw.config", "config"), ("mobiot_fw.app", "app"), ("mobiot_fw.build", "build"),
           ("mobiot_fw.drivers.bme280", "bme280"),
           ("mobiot_fw.drivers.battery", "battery"), ("mobiot_fw.drivers.nmea", "nmea"),
           ("mobiot_fw.cell.parse", "cellular"), ("mobiot_fw.cell.at", "at"), ("mobiot_fw.cell.modem", "modem"),
           ("mobiot_fw.cell.vendor.simcom", "cell_simcom"),
           # what a modem board loads beside: the crash guard (main.py, dropped), the modem part, and the
           # command dispatcher (with the first host command). The other parts app.Terminal
           # wires are imported with app (all were in app.py before the split).
           ("mobiot_fw.crash", "crash"), ("mobiot_fw.cell.lifecycle", "lifecycle"),
           ("mobiot_fw.link.commands", "commands"))
# Loaded for a call and dropped (docs/memory.md): build.config() drops the config module once the
# config is loaded (commands.py loads it again only to save a change); app.main() drops the
# wiring (build.py) once the terminal is built;
# main.py drops the crash guard once it has asked safe() (and loads it again only after a crash).
DROPPED = ("mobiot_fw.config", "mobiot_fw.build", "mobiot_fw.crash")
out = {}
gc.collect()
base = gc.mem_free()
held = 0  # what the dropped modules cost while loaded
for m, key in MODULES:
    gc.collect()
    a = gc.mem_free()
    __import__(m)
    gc.collect()
    out["firmware_import_bytes_" + key] = a - gc.mem_free()
    if m in DROPPED:
        # The total is what a modem board holds; the sum of the figures is ..._loaded_sum.
        import mobiot_fw

        gc.collect()
        a = gc.mem_free()
        del sys.modules[m]
        delattr(mobiot_fw, m.rpartition(".")[2])
        gc.collect()
        held += gc.mem_free() - a
gc.collect()
out["firmware_import_bytes_modem_board_total"] = base - gc.mem_free()
out["firmware_import_bytes_modem_board_loaded_sum"] = base - gc.mem_free() + held
print(json.dumps(out))
