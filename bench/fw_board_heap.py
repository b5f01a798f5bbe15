# Heap that a board file costs once the firmware has parsed it (json.load of /board.json, as
# firmware/mobiot_fw/app.py does), on the unix port; run by bench/run.py:
#   micropython bench/fw_board_heap.py NAME=FILE ...
# Prints one JSON object {NAME: bytes}. The dict stays referenced while it is measured, as the
# firmware keeps its board for the whole run.
import gc
import json
import sys

out = {}
for arg in sys.argv[1:]:
    name, path = arg.split("=", 1)
    gc.collect()
    before = gc.mem_free()
    with open(path) as f:
        board = json.load(f)
    gc.collect()
    out[name] = before - gc.mem_free()
    board = None
gc.collect()
print(json.dumps(out))
