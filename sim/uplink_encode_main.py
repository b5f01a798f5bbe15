# Run by tests/host/test_uplink_codec.py and bench/bench_uplink.py under the MicroPython unix
# port (never CPython, never deployed): encode queued records with the firmware's uplink encoders.
#   micropython sim/uplink_encode_main.py JOBFILE
# JOBFILE: JSON {"encoding": "compact"|"senml"|"json", "device": "...", "batch": n,
#   "max_bytes": n, "messages": [[record JSON text, ...] | "connect", ...]}: each list is
# published as one or more messages of at most `batch` records; "connect" starts a new MQTT
# connection (the encoder's per-connection state is reset). Prints one hex message a line.
import sys

_root = (sys.argv[0].rpartition("/")[0] or ".") + "/.."
sys.path.insert(0, _root + "/firmware")
import json

from mobiot_fw.uplink.rec import Rec
from mobiot_fw.uplink.table import Table


def main():
    with open(sys.argv[1]) as f:
        job = json.load(f)
    tab = Table()
    enc_name = job["encoding"]
    if enc_name == "compact":
        from mobiot_fw.uplink.compact import Compact

        enc = Compact(tab)
    elif enc_name == "senml":
        from mobiot_fw.uplink.senml import SenML

        enc = SenML(tab, job["device"])
    else:
        from mobiot_fw.uplink.jsonmsg import Json

        enc = Json()
    batch = job.get("batch", 1)
    buf = bytearray(job.get("max_bytes", 1024))
    rec = Rec()
    for group in job["messages"]:
        if group == "connect":
            enc.reset()
            continue
        i = 0
        while i < len(group):
            enc.begin(buf, 0)
            n = 0
            while i < len(group) and n < batch:
                if not enc.add(rec.parse(group[i].encode())):
                    break
                i += 1
                n += 1
            if not n:
                raise ValueError("record %d does not fit a message" % i)
            end = enc.end()
            print(bytes(buf[:end]).hex())


main()
