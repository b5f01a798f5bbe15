"""`make bench`: speed and memory figures, written to bench/results.json as one flat object.

- firmware_*: the real main loop on the MicroPython unix port under `-X heapsize=96k`
  (bench/fw_bench.py), firmware and fakes compiled to .mpy as on a board.
- firmware_board_*: each boards/*.json with its sensors and modem stack, on top of the
  simulation's own heap (bench/fw_boards.py).
- collector_*: bench/bench_collector.py (decoder + SQLite store + acks).
- board_heap_*: heap of each board file once parsed on the board (bench/fw_board_heap.py):
  board_heap_bytes_<board> for its device form (mobiot.boarddef.device_json, what goes on the
  flash), board_heap_full_bytes_<board> for the whole boards/<board>.json.
- provision_*: bench/bench_provision.py (virtual boards at 115200 baud).
- flash_*: bench/bench_flash.py (mobiot flash onto emulated boards, one and four in parallel).
- uplink_*: bench/bench_uplink.py (message sizes of one full report per encoding; the firmware
  with the MQTT uplink over 10,000 cycles under -X heapsize=128k, bench/fw_uplink.py).
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
BOARDS = os.environ.get("BENCH_BOARDS", "1") != "0"  # the per-board figures (a few minutes)


def fw_run(mpy: Path, img: Path, heap: str, cycles: int, script: str = "fw_bench.py",
           timeout: int = 1800, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """One bench script (bench/<script>) under the unix port at `heap`, on a fresh flash image;
    `extra`: arguments after the cycle count."""
    if img.exists():
        img.unlink()
    cmd = [micropython(), "-X", f"heapsize={heap}", str(ROOT / "bench" / script), str(mpy), str(img),
           str(cycles), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def smallest_heap_kb(fits, lo: int, hi: int, step: int) -> int:
    """The smallest heap in (lo, hi] KiB, to `step` KiB, for which fits("NNk") is true (bisection)."""
    while hi - lo > step:
        mid = (lo + hi) // 2
        if fits(f"{mid}k"):
            hi = mid
        else:
            lo = mid
    return hi


def min_heap_kb(mpy: Path, img: Path, cycles: int = 1500) -> int:
    """The smallest heap (KiB, to 2 KiB) that runs the report cycles without MemoryError:
    the real heap peak of the firmware path, modules included (cycles=0: set-up only)."""
    return smallest_heap_kb(lambda heap: fw_run(mpy, img, heap, cycles).returncode == 0, 16, 512, 2)


def compile_firmware(mpy: Path, sim: tuple[str, ...] = ("fileblockdev",)) -> None:
    """firmware/mobiot_fw as .mpy under `mpy` (what provisioning deploys), plus the named sim/
    modules and the fakes (bench/fw_fakes.py) the bench scripts stand on."""
    for py in (ROOT / "firmware" / "mobiot_fw").rglob("*.py"):
        rel = py.relative_to(ROOT / "firmware")
        out = (mpy / rel).with_suffix(".mpy")
        out.parent.mkdir(parents=True, exist_ok=True)
        compile_mpy(py, out, str(rel))
    for name in sim:
        compile_mpy(ROOT / "sim" / f"{name}.py", mpy / f"{name}.mpy", f"{name}.py")
    compile_mpy(ROOT / "bench" / "fw_fakes.py", mpy / "fw_fakes.mpy", "fw_fakes.py")


def firmware() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        mpy = Path(tmp) / "mpy"
        compile_firmware(mpy)
        img = Path(tmp) / "flash.img"
        peak = min_heap_kb(mpy, img) * 1024
        setup = min_heap_kb(mpy, img, 0) * 1024
        res: dict = {"firmware_heap_limit": HEAP,
                     "firmware_heap_peak_bytes": peak,
                     # what the sampling, record and queue path needs on top of the loaded
                     # firmware (modules, Terminal, buffers): the cycles' own heap peak
                     "firmware_cycle_heap_peak_bytes": peak - setup,
                     "firmware_setup_min_heap_bytes": setup}
        proc = fw_run(mpy, img, HEAP, CYCLES)
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
            res["firmware_error"] = f"{CYCLES} cycles under -X heapsize={HEAP}: " + " | ".join(tail)
            # Still measure the cycle at a heap that fits, so the other figures exist.
            proc = fw_run(mpy, img, f"{res['firmware_heap_peak_bytes'] // 1024 + 32}k", CYCLES)
        if proc.returncode == 0:
            res.update(json.loads(proc.stdout.strip().splitlines()[-1]))
        imp = subprocess.run([micropython(), "-X", "heapsize=1M", str(ROOT / "bench" / "fw_imports.py"), str(mpy)],
                             capture_output=True, text=True, timeout=120)
        if imp.returncode == 0:
            res.update(json.loads(imp.stdout.strip().splitlines()[-1]))
        if BOARDS:
            res.update(boards(mpy, Path(tmp)))
        return res


def _board_run(sim: Path, mpy: Path, state: Path, heap: str, mode: str) -> subprocess.CompletedProcess:
    img = state / "flash.img"
    if img.exists():
        img.unlink()
    cmd = [micropython(), "-X", f"heapsize={heap}", str(ROOT / "bench" / "fw_boards.py"), str(sim), str(mpy),
           str(state), mode]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def boards(mpy: Path, tmp: Path) -> dict:
    """firmware_board_<name>_heap_peak_bytes: for each boards/*.json, the smallest heap (to 2 KiB)
    that runs the firmware with that board's sensors and modem stack against the simulation
    (bench/fw_boards.py), minus the heap the simulation holds once built. It errs high: what the
    simulation allocates while it runs (UART buffers, NMEA lines, an 8-line modem log) counts as
    firmware, and so does the fragmentation of a heap the two share. 64-bit unix port: an ESP32
    needs about 60 % of it."""
    sim = tmp / "sim-mpy"
    sim.mkdir()
    for py in (ROOT / "sim").glob("*.py"):
        if py.name not in ("vboot.py", "vseed.py"):
            compile_mpy(py, sim / f"{py.stem}.mpy", py.name)
    from mobiot import boarddef

    res: dict = {}
    for stem in boarddef.names():
        name = stem.replace("-", "_")
        state = tmp / "boards" / stem
        state.mkdir(parents=True)
        board = boarddef.load(stem)
        # the simulation reads the whole board file (as vboard's sim.json), the firmware its
        # device form from flash (as provisioning writes it)
        (state / "sim.json").write_text(json.dumps({"index": 0, "device_id": "356938035643809", "scenario": {},
                                                    "board": board}))
        (state / "device.json").write_text(boarddef.device_json(board))
        got = _board_run(sim, mpy, state, "2M", "sim")
        ok = _board_run(sim, mpy, state, "2M", "run")
        if got.returncode != 0 or ok.returncode != 0 or ok.stdout.split()[-1:] == ["0"]:  # 0: no report
            tail = (got.stdout + got.stderr + ok.stdout + ok.stderr).strip().splitlines()[-3:]
            res[f"firmware_board_{name}_error"] = " | ".join(tail)
            continue
        sim_bytes = int(got.stdout.split()[-1])
        lo, hi = sim_bytes // 1024, 2048
        while hi - lo > 2:
            mid = (lo + hi) // 2
            if _board_run(sim, mpy, state, f"{mid}k", "run").returncode == 0:
                hi = mid
            else:
                lo = mid
        # Fragmentation makes pass/fail not quite monotonic in the heap size (a lucky smaller
        # heap passes): from above the bisection's answer, step down to the first failure.
        h = hi + 24
        while h > lo and _board_run(sim, mpy, state, f"{h - 2}k", "run").returncode == 0:
            h -= 2
        res[f"firmware_board_{name}_heap_peak_bytes"] = h * 1024 - sim_bytes
        res[f"firmware_board_{name}_modem_reports"] = int(ok.stdout.split()[-1])
    return res


def board_files() -> dict:
    from mobiot import boarddef

    res: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        args = []
        for name in boarddef.names():
            dev = Path(tmp) / f"{name}.json"
            dev.write_text(boarddef.device_json(boarddef.load(name)))
            full = boarddef.BOARDS_DIR / f"{name}.json"
            args += [f"board_heap_bytes_{name}={dev}", f"board_heap_full_bytes_{name}={full}"]
        proc = subprocess.run([micropython(), "-X", "heapsize=1M", str(ROOT / "bench" / "fw_board_heap.py"), *args],
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            res["board_heap_error"] = (proc.stdout + proc.stderr).strip().splitlines()[-1:]
        else:
            res.update(json.loads(proc.stdout.strip().splitlines()[-1]))
    return res


def collector() -> dict:
    import bench_collector

    return bench_collector.run()


def provision() -> dict:
    import bench_provision

    return bench_provision.run()


def main() -> int:
    results: dict = {}
    print(f"firmware: {CYCLES} report cycles under -X heapsize={HEAP} ...", flush=True)
    results.update(firmware())
    print("board files ...", flush=True)
    results.update(board_files())
    print("collector ...", flush=True)
    results.update(collector())
    print("provision ...", flush=True)
    results.update(provision())
    print("flash ...", flush=True)
    import bench_flash

    results.update(bench_flash.run())
    print("uplink ...", flush=True)
    import bench_uplink

    results.update(bench_uplink.run())
    out = ROOT / "bench" / "results.json"
    out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    print(json.dumps(results, indent=1, sort_keys=True))
    print(f"written to {out}")
    return 1 if "firmware_error" in results or "uplink_error" in results else 0


if __name__ == "__main__":
    sys.exit(main())
