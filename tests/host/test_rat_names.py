"""The rat names of docs/records.md are the ones the firmware's parsers give (mobiot_fw.cell.parse
RATS, and every TS 27.007 <AcT> name of cell/ts27007.py), read in the MicroPython unix port."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from mobiot.upy import micropython

ROOT = Path(__file__).resolve().parents[2]


def _firmware(expr: str) -> str:
    env = dict(os.environ, MICROPYPATH=f".frozen:{ROOT / 'firmware'}")
    code = f"from mobiot_fw.cell import parse, ts27007\nprint({expr})"
    argv = [micropython(), "-c", code]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.strip()


def _doc_rats() -> list[str]:
    for line in (ROOT / "docs" / "records.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("| rat |"):
            meaning = line.strip().strip("|").split("|")[6]
            return re.findall(r"`([^`<]+)`", meaning)
    raise AssertionError("no rat row in docs/records.md")


def test_doc_rat_names_equal_the_parsers():
    fw = _firmware("parse.RATS").split()
    assert sorted(_doc_rats()) == sorted(fw)


def test_every_act_name_is_a_documented_rat():
    act = [w for w in _firmware("ts27007._ACT_RAT").split() if w != "-"]
    assert len(act) == 14  # TS 27.007 7.3: <AcT> 0..13
    assert set(act) <= set(_doc_rats())
