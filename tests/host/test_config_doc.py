"""docs/config.md and firmware/mobiot_fw/config.py describe the same schema."""

from __future__ import annotations

import re
from pathlib import Path

from mobiot_fw import config

DOC = (Path(__file__).resolve().parents[2] / "docs" / "config.md").read_text()


def test_every_schema_key_is_documented_with_its_type_and_default():
    row = re.compile(r"^\| `([\w.]+)` \| (\w+) \| `([^`]*)` \|", re.M)
    rows = {m.group(1): (m.group(2), m.group(3)) for m in row.finditer(DOC)}
    assert set(rows) == {p for p, *_ in config.SCHEMA}
    for path, typ, dflt, _lo, _hi in config.SCHEMA:
        assert rows[path] == (typ, repr(dflt)), path


def test_doc_example_is_a_valid_config():
    import json

    example = json.loads(re.search(r"```json\n(.*?)```", DOC, re.S).group(1))
    cfg, errors = config.validate(example)
    assert errors == []
    assert cfg["interval_s"] == 300 and cfg["modem"]["psm"]["t3412_s"] == 3600
    assert cfg["sensors"]["ds18b20"] == {}


def test_validation_names_the_key_and_falls_back():
    cfg, errors = config.validate({"interval_s": 0, "modem": {"apn": 5}})
    assert cfg["interval_s"] == 60 and cfg["modem"]["apn"] == ""
    assert len(errors) == 2 and "interval_s" in errors[0] and "modem.apn" in errors[1]
