"""`make bench`: speed and memory figures, written to bench/results.json as one flat object.

- firmware_*: the real main loop on the MicroPython unix port under `-X heapsize=96k`
  (bench/fw_bench.py), firmware and fakes compiled to .mpy as on a board.
- collector_*: bench/bench_collector.py (decoder + SQLite store + acks).
- flash_*: bench/bench_flash.py (mobiot flash onto emulated boards, one and four in parallel).
Figures, not pass/fail: these machines are shared and noisy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "host"))
sys.path.insert(0, str(ROOT / "bench"))

from mobiot.upy import micropython  # noqa: E402
from mobiot.vboard import compile_mpy  # noqa: E402

CYCLES = 10000
HEAP = os.environ.get("BENCH_FW_HEAP", "96k")


def _fw_run(mpy: Path, img: Path, heap: str, cycles: int) -> subprocess.CompletedProcess:
    if img.exists():
        img.unlink()
    cmd = [micropython(), "-X", f"heapsize={heap}", str(ROOT / "bench" / "fw_bench.py"), str(mpy), str(img),
           str(cycles)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=1800)


def min_heap_kb(mpy: Path, img: Path, cycles: int = 1500) -> int:
    """The smallest heap (KiB, to 2 KiB) that runs the report cycles without MemoryError:
    the real heap peak of the firmware path, modules included (cycles=0: set-up only)."""
    lo, hi = 16, 512
    while hi - lo > 2:
        mid = (lo + hi) // 2
        if _fw_run(mpy, img, f"{mid}k", cycles).returncode == 0:
            hi = mid
        else:
            lo = mid
    return hi


def firmware() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        mpy = Path(tmp) / "mpy"
        for py in (ROOT / "firmware" / "mobiot_fw").rglob("*.py"):
            rel = py.relative_to(ROOT / "firmware")
            out = (mpy / rel).with_suffix(".mpy")
            out.parent.mkdir(parents=True, exist_ok=True)
            compile_mpy(py, out, str(rel))
        for name in ("fileblockdev",):
            compile_mpy(ROOT / "sim" / f"{name}.py", mpy / f"{name}.mpy", f"{name}.py")
        img = Path(tmp) / "flash.img"
        peak = min_heap_kb(mpy, img) * 1024
        setup = min_heap_kb(mpy, img, 0) * 1024
        res: dict = {"firmware_heap_limit": HEAP,
                     "firmware_heap_peak_bytes": peak,
                     # what the sampling, record and queue path needs on top of the loaded
                     # firmware (modules, Terminal, buffers): the cycles' own heap peak
                     "firmware_cycle_heap_peak_bytes": peak - setup,
                     "firmware_setup_min_heap_bytes": setup}
        proc = _fw_run(mpy, img, HEAP, CYCLES)
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
            res["firmware_error"] = f"{CYCLES} cycles under -X heapsize={HEAP}: " + " | ".join(tail)
            # Still measure the cycle at a heap that fits, so the other figures exist.
            proc = _fw_run(mpy, img, f"{res['firmware_heap_peak_bytes'] // 1024 + 32}k", CYCLES)
        if proc.returncode == 0:
            res.update(json.loads(proc.stdout.strip().splitlines()[-1]))
        imp = subprocess.run([micropython(), "-X", "heapsize=1M", str(ROOT / "bench" / "fw_imports.py"), str(mpy)],
                             capture_output=True, text=True, timeout=120)
        if imp.returncode == 0:
            res.update(json.loads(imp.stdout.strip().splitlines()[-1]))
        return res


def collector() -> dict:
    import bench_collector

    return bench_collector.run()


def main() -> int:
    results: dict = {}
    print(f"firmware: {CYCLES} report cycles under -X heapsize={HEAP} ...", flush=True)
    results.update(firmware())
    print("collector ...", flush=True)
    results.update(collector())
    print("flash ...", flush=True)
    import bench_flash

    results.update(bench_flash.run())
    out = ROOT / "bench" / "results.json"
    out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    print(json.dumps(results, indent=1, sort_keys=True))
    print(f"written to {out}")
    return 1 if "firmware_error" in results else 0


if __name__ == "__main__":
    sys.exit(main())
