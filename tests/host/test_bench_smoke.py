"""`make bench` keeps working: its firmware part runs (few cycles) and reports every figure.
No timing is asserted here: speed and memory targets are figures in bench/results.json."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_firmware_bench_runs_and_reports_its_figures():
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import run
    finally:
        sys.path.remove(str(ROOT / "bench"))
    run.CYCLES = 300
    res = run.firmware()
    assert "firmware_error" not in res, res
    for key in ("firmware_heap_peak_bytes", "firmware_cycle_heap_peak_bytes", "firmware_cycle_ms",
                "firmware_heap_growth_1000_to_end_bytes", "firmware_import_bytes_modem_board_total"):
        assert isinstance(res.get(key), (int, float)), (key, res)
    assert res["firmware_records_written"] >= 300
    # a heap figure for every board definition, each with its modem reporting
    from mobiot import boarddef

    for stem in boarddef.names():
        name = stem.replace("-", "_")
        assert f"firmware_board_{name}_error" not in res, res
        assert res[f"firmware_board_{name}_heap_peak_bytes"] > 0, (name, res)
        assert res[f"firmware_board_{name}_modem_reports"] >= 4, (name, res)


def test_board_file_bench_reports_each_board_and_the_device_form_is_smaller():
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import run
    finally:
        sys.path.remove(str(ROOT / "bench"))
    from mobiot import boarddef

    res = run.board_files()
    assert "board_heap_error" not in res, res
    for name in boarddef.names():
        dev, full = res[f"board_heap_bytes_{name}"], res[f"board_heap_full_bytes_{name}"]
        assert 0 < dev <= full, (name, dev, full)
    s3 = "lilygo-t-sim7080g-s3"
    assert res[f"board_heap_bytes_{s3}"] * 2 < res[f"board_heap_full_bytes_{s3}"], res


def test_uplink_bench_runs_over_tcp_and_the_collectors_acks_reach_the_queue(tmp_path):
    # bench/fw_uplink.py over the firmware's NetSock to bench/ackbroker.py: every record is
    # published and PUBACKed, and the acks the broker sends down as the collector does take the
    # records out of the queue (at a heap that fits easily)
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import json

        import bench_uplink
        import run
    finally:
        sys.path.remove(str(ROOT / "bench"))
    mpy = tmp_path / "mpy"
    run.compile_firmware(mpy)
    proc, broker = bench_uplink.run_at(mpy, tmp_path / "flash.img", "512k", 200)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    # 200 readings, and the events and statuses the terminal adds
    assert res["uplink_messages_published"] >= 200 and broker.messages == res["uplink_messages_published"], res
    # acks go down every 8 messages: at most the last 8 messages' records wait
    assert res["uplink_records_left_in_queue"] <= 8, res
    assert broker.bytes_in > 200 * 20 and broker.error is None
