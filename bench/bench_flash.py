"""`make bench`, flashing: `mobiot flash` onto emulated boards (`mobiot vboard --erased`) at
921600 baud, with a 1.6 MB image that compresses as MicroPython's do (about 1.6:1).

- flash_s: the write of one board (esptool write_flash: compressed transfer, MD5 verify);
- flash_line_limit_s: what the line itself needs for that: compressed bytes x 10 / baud (8N1);
- flash_total_s: the whole `mobiot flash` command (connect, stub, erase, write, reset);
- flash_parallel_ratio: four boards in parallel (`--port` x4), whole command, over one;
- flash_no_esp_error_s: `mobiot flash` on a port with nothing behind it, until its error.
Goals (docs/flashing.md): flash_s <= 1.3 x flash_line_limit_s, flash_parallel_ratio <= 1.2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BAUD = 921600
APP_BYTES = 1_600_000


def _mobiot(*args: str) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "mobiot", *args], capture_output=True, text=True, timeout=900,
                          cwd=str(ROOT))
    return time.monotonic() - t0, proc


def run() -> dict:
    from mobiot import espimage, procs

    res: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        img = Path(tmp) / "image.bin"
        data = espimage.build_image("esp32", APP_BYTES, vocabulary=5000)
        img.write_bytes(data)
        padded = data + b"\xff" * (-len(data) % 4)  # esptool pads to 4 and compresses at level 9
        compressed = len(zlib.compress(padded, 9))
        res["flash_image_bytes"] = len(data)
        res["flash_compressed_bytes"] = compressed
        res["flash_line_limit_s"] = round(compressed * 10 / BAUD, 3)
        log = open(Path(tmp) / "vboard.log", "wb")
        vb = subprocess.Popen([sys.executable, "-m", "mobiot", "vboard", "--erased", "--count", "5",
                               "--state-dir", str(Path(tmp) / "vb")], stdout=subprocess.PIPE, stderr=log,
                              cwd=str(ROOT))
        try:
            assert vb.stdout is not None
            urls = [vb.stdout.readline().decode().split()[2] for _ in range(5)]
            common = ("--board", "sim", "--firmware", str(img), "--no-provision", "--json", "--baud", str(BAUD))
            total, one = _mobiot("flash", "--port", urls[0], *common)
            if one.returncode != 0:
                res["flash_error"] = one.stderr.strip().splitlines()[-1:]
                return res
            res["flash_s"] = json.loads(one.stdout)[0]["write_s"]
            res["flash_total_s"] = round(total, 3)
            res["flash_vs_line_limit"] = round(res["flash_s"] / res["flash_line_limit_s"], 3)
            ports = [a for u in urls[1:] for a in ("--port", u)]
            par_total, par = _mobiot("flash", *ports, *common)
            if par.returncode != 0:
                res["flash_error"] = par.stderr.strip().splitlines()[-1:]
                return res
            res["flash_parallel_total_s"] = round(par_total, 3)
            res["flash_parallel_write_s_max"] = max(r["write_s"] for r in json.loads(par.stdout))
            res["flash_parallel_ratio"] = round(par_total / total, 3)
        finally:
            procs.stop(vb, 15)
            log.close()
        master, slave = os.openpty()
        try:
            t, proc = _mobiot("flash", "--port", os.ttyname(slave), "--board", "sim", "--firmware", str(img),
                              "--no-provision", "--before", "no-reset")
            res["flash_no_esp_error_s"] = round(t, 3)
        finally:
            os.close(master)
            os.close(slave)
    return res


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "host"))
    print(json.dumps(run(), indent=1))
