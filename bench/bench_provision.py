"""Provisioning speed on virtual boards at 115200 baud (docs/provisioning.md "Speed").

`run()` returns a flat dict for bench/results.json:

- provision_s: `provision_port` of a blank board (firmware, board file, config), end to end:
  getting to the REPL, probe, copy, commit, soft reset, verify by the hello frame, clean-up.
  The .mpy compile cache is warm (compiling is once per firmware on the host, not per board),
  every board has answered at its REPL once before, and it is the faster of two blank boards
  (the machine is shared: the slower one shows the noise, as provision_s_other).
- provision_line_limit_s: the deployed files' raw bytes x 10 / 115200 (8N1: 10 bits a byte):
  what any uncompressed copy needs at least. Goal: provision_s <= this.
- provision_wire_bytes: bytes the host sent to the board in that run (code and data).
- provision_mpremote_cp_s: `mpremote cp -r` of the same files onto another blank board in the
  same run. Goal: provision_s at least 4x faster.
- provision_noop_s: the same provision again, nothing changed, just after the first (the board
  is still booting the firmware the first one restarted): the running firmware is asked and
  left running, no reset (provision_noop_reset: false). Goal < 2 s.
- provision_noop_full_s: the same no-op with full=True (`--full`): stop the firmware, probe
  every file, restart it. What every no-op took before the handshake.
- provision_parallel_ratio: 4 blank boards provisioned at once (threads, one vboard process)
  over one board's provision_s. Goal <= 1.2.

Run: `.venv/bin/python bench/bench_provision.py` (prints JSON).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "host"))

from mobiot import procs  # noqa: E402
from mobiot.prov_build import build_tree  # noqa: E402
from mobiot.prov_link import Session  # noqa: E402
from mobiot.provision import firmware, provision_port  # noqa: E402

BAUD = 115200


class _Boards:
    """`mobiot vboard --blank` as a subprocess; .ports lists the boards' ports."""

    def __init__(self, state: Path, count: int):
        self.log = open(state.with_suffix(".log"), "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "mobiot", "vboard", "--blank", "--count", str(count),
                                      "--state-dir", str(state), "--baud", str(BAUD)], cwd=str(ROOT),
                                     stdout=subprocess.PIPE, stderr=self.log)
        assert self.proc.stdout is not None
        self.ports = [self.proc.stdout.readline().decode().split()[0] for _ in range(count)]

    def close(self) -> None:
        procs.stop(self.proc)
        self.log.close()


def _quiet(_msg: str) -> None:
    pass


def run() -> dict:
    _mpy, fw = firmware()  # warm: compiled once per firmware
    tree = build_tree("sim", None, None, None, fw)
    res: dict = {"provision_line_limit_s": round(tree.raw_bytes * 10 / BAUD, 3)}
    with tempfile.TemporaryDirectory() as tmp:
        boards = _Boards(Path(tmp) / "b", 7)
        try:
            p_one, p_two, p_cp, *p_four = boards.ports
            for p in boards.ports:  # every board up and at its REPL once
                s = Session(p)
                s.attach()
                s.close()
            times = []
            for p in (p_two, p_one):
                t = time.monotonic()
                r = provision_port(p, "sim", log=_quiet)
                times.append(round(time.monotonic() - t, 3))
            res["provision_s"], res["provision_s_other"] = min(times), max(times)
            res["provision_wire_bytes"] = r["wire_bytes"]
            t = time.monotonic()
            r = provision_port(p_one, "sim", log=_quiet)
            res["provision_noop_s"] = round(time.monotonic() - t, 3)
            res["provision_noop_reset"] = r["reset"]
            t = time.monotonic()
            provision_port(p_one, "sim", log=_quiet, full=True)
            res["provision_noop_full_s"] = round(time.monotonic() - t, 3)

            src = Path(tmp) / "t"
            for path, data in tree.files.items():
                out = src / path
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(data)
            t = time.monotonic()
            proc = subprocess.run([str(Path(sys.executable).with_name("mpremote")), "connect", p_cp, "cp", "-r",
                                   str(src), ":"], capture_output=True, text=True, timeout=900)
            res["provision_mpremote_cp_s"] = round(time.monotonic() - t, 3)
            if proc.returncode != 0:
                res["provision_mpremote_cp_error"] = (proc.stderr or proc.stdout).strip()[-200:]
            res["provision_speedup_vs_mpremote_cp"] = round(res["provision_mpremote_cp_s"] / res["provision_s"], 2)

            t = time.monotonic()
            with ThreadPoolExecutor(max_workers=4) as pool:
                list(pool.map(lambda p: provision_port(p, "sim", log=_quiet), p_four))
            res["provision_parallel_4_s"] = round(time.monotonic() - t, 3)
            res["provision_parallel_ratio"] = round(res["provision_parallel_4_s"] / res["provision_s"], 3)
        finally:
            boards.close()
    return res


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    print(json.dumps(run(), indent=1, sort_keys=True))
