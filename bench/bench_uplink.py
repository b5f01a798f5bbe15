"""`make bench`, uplink part (called by bench/run.py): message sizes of one full report in every
encoding, and the firmware's heap with the uplink over 10,000 report cycles (bench/fw_uplink.py,
over the firmware's TCP stream to bench/ackbroker.py in this process).

The full report is one cycle of a cellular board with a BME280, a battery and GNSS: a reading
record (temp, hum, press, bat, lat, lon, alt, spd, hdop, sats, fix) and the connectivity record
a SIM7080G reports (identity, registration, serving cell, signal, PSM/eDRX). Sizes are MQTT
payloads, measured in the steady state (a message after the first of a connection, whose
compact form repeats the slow fields); `uplink_packet_bytes_*` adds the MQTT PUBLISH header
(QoS 1, topic mobiot/<IMEI>/up) and `uplink_ip_bytes_*` IPv4 and TCP headers (40 bytes, no
options, no TLS). The firmware encoders run under the MicroPython unix port
(sim/uplink_encode_main.py); SenML-JSON is the same pack with RFC 8428 §4 text labels, and the
nRF Cloud-style message is a bulk array of nRF Cloud device messages (appId / messageType /
data / ts) for the same values.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import cbor2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "host"))

from ackbroker import AckBroker  # noqa: E402

from mobiot.upy import micropython  # noqa: E402

DEV = "356938035643809"
TOPIC = f"mobiot/{DEV}/up"
T0 = 1764146800
CYCLES = 10000
HEAP = os.environ.get("BENCH_UPLINK_HEAP", "128k")
# RFC 8428 §6 Table 4 integer labels -> §4 text labels
_SENML_LABELS = {-1: "bver", -2: "bn", -3: "bt", -4: "bu", -5: "bv", 0: "n", 1: "u", 2: "v", 3: "vs", 4: "vb",
                 5: "s", 6: "t", 7: "ut"}


def report(k: int) -> list[dict]:
    """Report k (0-based) of a board reporting every 60 s: two records, values drifting a little."""
    t = T0 + 60 * k
    seq = 100 + 2 * k
    reading = {"temp": round(21.53 + 0.02 * (k % 3), 2), "hum": round(45.2 - 0.1 * (k % 2), 1),
               "press": 101325 - k % 4, "bat": round(3.912 - 0.001 * (k // 4), 3), "lat": 48.137412 + (k % 2) * 1e-6,
               "lon": 11.575512 - (k % 3) * 1e-6, "alt": 520.3, "spd": 0, "hdop": 0.9, "sats": 9, "fix": 1}
    conn = {"model": "SIM7080G", "imei": DEV, "imsi": "262011234567890", "iccid": "89490200001234567890",
            "modem_fw": "1951B08SIM7080", "rat": "LTE-M", "rssi": -65 - k % 3, "rsrp": round(-95.3 - 0.3 * (k % 4), 1),
            "rsrq": -10.5 + 0.5 * (k % 2), "sinr": round(8.1 + 0.4 * (k % 3), 1), "band": 20, "earfcn": 6300,
            "pci": 287, "cell": 27435972, "tac": 6166, "mcc": 262, "mnc": "01", "oper": "Telekom.de", "reg": "home",
            "ip": "10.45.12.7", "apn": "iot.1nce.net", "psm": True, "t3412_s": 3600, "t3324_s": 60, "edrx": False}
    env = {"device": DEV, "boot": 3, "t": t, "clock": "utc"}
    return [dict(env, seq=seq, kind="reading", values=reading),
            dict(env, seq=seq + 1, kind="connectivity", values=conn)]


def encode(encoding: str, messages: list, batch: int) -> list[bytes]:
    job = {"encoding": encoding, "device": DEV, "batch": batch, "max_bytes": 2048,
           "messages": [m if m == "connect" else [json.dumps(r, separators=(",", ":")) for r in m] for m in messages]}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(job, f)
    try:
        out = subprocess.run([micropython(), str(ROOT / "sim" / "uplink_encode_main.py"), f.name],
                             capture_output=True, text=True, timeout=120, check=True)
    finally:
        Path(f.name).unlink()
    return [bytes.fromhex(line) for line in out.stdout.split()]


def senml_json(pack: bytes) -> bytes:
    """The SenML-CBOR pack as SenML-JSON (RFC 8428 §4/§5: the same records, text labels)."""
    recs = [{(_SENML_LABELS[k] if isinstance(k, int) else k): v for k, v in r.items()} for r in cbor2.loads(pack)]
    return json.dumps(recs, separators=(",", ":")).encode()


def nrf_style_json(recs: list[dict]) -> bytes:
    """One nRF Cloud bulk message (an array of device messages: appId, messageType DATA, data,
    ts in ms) for the same report, as an nRF9160 asset tracker sends it."""
    r, c = recs[0]["values"], recs[1]["values"]
    ts = recs[0]["t"] * 1000
    msgs = [{"appId": "TEMP", "messageType": "DATA", "data": r["temp"], "ts": ts},
            {"appId": "HUMID", "messageType": "DATA", "data": r["hum"], "ts": ts},
            {"appId": "AIR_PRESS", "messageType": "DATA", "data": r["press"] / 1000, "ts": ts},
            {"appId": "VOLTAGE", "messageType": "DATA", "data": round(r["bat"] * 1000), "ts": ts},
            {"appId": "GNSS", "messageType": "DATA", "data": {"lat": r["lat"], "lng": r["lon"], "acc": r["hdop"] * 5,
                                                              "alt": r["alt"], "spd": r["spd"], "hdg": 0}, "ts": ts},
            {"appId": "RSRP", "messageType": "DATA", "data": c["rsrp"], "ts": ts},
            {"appId": "DEVICE", "messageType": "DATA", "ts": ts, "data": {"networkInfo": {
                "currentBand": c["band"], "networkMode": c["rat"], "rsrp": c["rsrp"], "areaCode": c["tac"],
                "mccmnc": f"{c['mcc']}{c['mnc']}", "cellID": c["cell"], "ipAddress": c["ip"], "imei": c["imei"],
                "iccid": c["iccid"], "imsi": c["imsi"], "modemFirmware": c["modem_fw"]}}}]
    return json.dumps(msgs, separators=(",", ":")).encode()


def mqtt_packet(payload_len: int, topic: str = TOPIC) -> int:
    """PUBLISH QoS 1 (MQTT 3.1.1 §3.3): type byte, remaining length, topic, packet id, payload."""
    rl = 2 + len(topic) + 2 + payload_len
    return 1 + (1 if rl < 128 else 2 if rl < 16384 else 3) + rl


def sizes() -> dict:
    first = report(0)
    one = report(1)
    ten = [r for k in range(1, 11) for r in report(k)]
    compact_single = encode("compact", [first, one], 2)
    compact_batch = encode("compact", [first, ten], 20)
    senml = encode("senml", [one], 2)[0]
    sj = senml_json(senml)
    nrf = nrf_style_json(one)
    res = {
        "uplink_bytes_single": len(compact_single[1]),
        "uplink_bytes_single_first_after_connect": len(compact_single[0]),
        "uplink_bytes_per_report_batch10": round(len(compact_batch[1]) / 10, 1),
        "uplink_bytes_senml_cbor": len(senml),
        "uplink_bytes_senml_json": len(sj),
        "uplink_bytes_nrf_style_json": len(nrf),
        "uplink_bytes_json": len(encode("json", [one], 2)[0]),
    }
    res["uplink_packet_bytes_single"] = mqtt_packet(res["uplink_bytes_single"])
    res["uplink_packet_bytes_per_report_batch10"] = round(mqtt_packet(len(compact_batch[1])) / 10, 1)
    for k in ("senml_cbor", "senml_json", "nrf_style_json"):
        res[f"uplink_packet_bytes_{k}"] = mqtt_packet(res[f"uplink_bytes_{k}"])
    for k in ("single", "senml_cbor", "senml_json", "nrf_style_json"):
        res[f"uplink_ip_bytes_{k}"] = res[f"uplink_packet_bytes_{k}"] + 40  # IPv4 20 + TCP 20 (RFC 791, 793)
    res["uplink_ip_bytes_per_report_batch10"] = round((mqtt_packet(len(compact_batch[1])) + 40) / 10, 1)
    return res


def min_heap_kb(mpy: Path, img: Path, cycles: int = 300) -> int:
    """The smallest heap (KiB, to 1 KiB) that runs the firmware with the uplink: bisection, then,
    as run.boards() does, from a little above its answer down to the first failure (a fragmented
    heap makes pass/fail not quite monotonic: a lucky smaller heap passes; to 4 KiB the
    bisection's answer moved by 4 KiB with such luck)."""
    from run import smallest_heap_kb

    def fits(kb: int) -> bool:
        return run_at(mpy, img, f"{kb}k", cycles)[0].returncode == 0

    lo = smallest_heap_kb(lambda heap: fits(int(heap[:-1])), 64, 512, 1)
    h = lo + 8
    while h > 64 and fits(h - 1):
        h -= 1
    return h


def run_at(mpy: Path, img: Path, heap: str, cycles: int) -> tuple[subprocess.CompletedProcess, AckBroker]:
    """bench/fw_uplink.py at `heap` against a fresh AckBroker (returned, closed, with its counts)."""
    from run import fw_run

    broker = AckBroker()
    try:
        proc = fw_run(mpy, img, heap, cycles, "fw_uplink.py", timeout=3600, extra=(str(broker.port),))
    finally:
        broker.close()
    if broker.error is not None and proc.returncode == 0:
        raise RuntimeError(f"bench/ackbroker.py: {broker.error!r}")
    return proc, broker


def heap(cycles: int = CYCLES) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        mpy = Path(tmp) / "mpy"
        from run import compile_firmware

        compile_firmware(mpy)
        img = Path(tmp) / "flash.img"
        res: dict = {"uplink_heap_limit": HEAP, "uplink_min_heap_bytes": min_heap_kb(mpy, img) * 1024}
        heap_ = HEAP
        proc, broker = run_at(mpy, img, heap_, cycles)
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
            res["uplink_error"] = f"{cycles} cycles under -X heapsize={HEAP}: " + " | ".join(tail)
            # still measure growth at a heap that fits, so the other figures exist
            heap_ = f"{res['uplink_min_heap_bytes'] // 1024 + 32}k"
            proc, broker = run_at(mpy, img, heap_, cycles)
        if proc.returncode == 0:
            res.update(json.loads(proc.stdout.strip().splitlines()[-1]))
            res["uplink_cycles_heap"] = heap_
            res["uplink_bytes_to_broker"] = broker.bytes_in  # MQTT payload bytes
        return res


def run() -> dict:
    res = sizes()
    res.update(heap())
    return res


if __name__ == "__main__":
    print(json.dumps(run(), indent=1, sort_keys=True))
