"""The host and the board judge a config with the same code: mobiot_fw.config under CPython
(provisioning) and under the MicroPython unix port (the board) give the same result; the
template and the README's inventory example are valid."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from mobiot import inventory
from mobiot.config_cmd import template
from mobiot.errors import MobiotError
from mobiot.prov_build import check_config, check_uplink, load_board, load_secrets, read_data_file
from mobiot_fw import config

ROOT = Path(__file__).resolve().parents[2]
CASES = [
    {"interval_s": 300, "modem": {"apn": "x", "psm": {"t3412_s": 3600}}},
    {"interval_s": 0, "status_every": "5", "modem": {"edrx": {"cycle_s": 81.92}}},
    {"sensors": {"bme280": {"addr": 200}, "ds18b20": True, "nope": {}}, "sleep": {"deep": 1}},
    {"unknown": 1, "queue": {"max_bytes": 4096.5}},
    {"modem": 5},
    [1, 2],
    {"uplink": {"enabled": True, "transport": "lte", "encoding": "json"}},
    {"uplink": {"enabled": True, "transport": "ppp", "encoding": "cbor"}},
]


def test_cpython_and_micropython_validate_alike(upy, tmp_path):
    script = tmp_path / "v.py"
    fw, cases = repr(str(ROOT / "firmware")), repr(json.dumps(CASES))
    script.write_text(
        f"import sys, json\nsys.path.insert(0, {fw})\nfrom mobiot_fw import config\n"
        f"for raw in json.loads({cases}):\n"
        "    print(json.dumps([config.fatal(raw)] + (list(config.validate(raw)) if not config.fatal(raw) else [])))\n")
    out = subprocess.run([upy, str(script)], capture_output=True, text=True, timeout=60, check=True).stdout
    for raw, line in zip(CASES, out.splitlines(), strict=True):
        why = config.fatal(raw)
        here = [why] + (list(config.validate(raw)) if not why else [])
        assert json.loads(line) == json.loads(json.dumps(here)), raw


def test_host_refuses_any_error_naming_the_key():
    with pytest.raises(MobiotError, match=r"interval_s=0 is not a valid int.* \(and 1 more\)"):
        check_config({"status_every": "5", "interval_s": 0}, "dev.toml")
    assert check_config({"interval_s": 300}, "dev.toml") == {"interval_s": 300}


def test_uplink_transport_and_encoding_take_only_their_values():
    cfg, errors = config.validate({"uplink": {"enabled": True, "transport": "lte", "encoding": "cbor"}})
    assert (cfg["uplink"]["transport"], cfg["uplink"]["encoding"]) == ("modem", "compact")
    assert errors == ["config.json: uplink.transport='lte' is not a valid str (one of modem, ppp, wlan); using 'modem'",
                      "config.json: uplink.encoding='cbor' is not a valid str (one of compact, senml, json); "
                      "using 'compact'"]
    with pytest.raises(MobiotError, match=r"^invalid config: dev.toml: uplink.transport='lte' is not a valid str "
                                          r"\(one of modem, ppp, wlan\)$"):
        check_config({"uplink": {"enabled": True, "transport": "lte"}}, "dev.toml")


def test_uplink_transport_must_exist_on_the_board():
    sim = load_board("sim")
    no_modem = {"name": "wifi-only"}
    on = {"enabled": True}
    for tr in ("modem", "ppp", "wlan"):
        check_uplink({"uplink": {**on, "transport": tr}}, sim, "dev.toml")  # the sim board has a SIM7080G
        check_uplink({"uplink": {"enabled": False, "transport": tr}}, no_modem, "dev.toml")
    check_uplink({"uplink": {**on, "transport": "wlan"}}, no_modem, "dev.toml")
    with pytest.raises(MobiotError, match=r"^invalid config: dev.toml: uplink.transport='modem' needs a modem, "
                                          r"and board wifi-only has none"):
        check_uplink({"uplink": on}, no_modem, "dev.toml")  # modem is the default transport
    with pytest.raises(MobiotError, match=r"uplink.transport='ppp' needs a modem, and board sim has none "
                                          r"\(or modem.enabled is false\)"):
        check_uplink({"uplink": {**on, "transport": "ppp"}, "modem": {"enabled": False}}, sim, "dev.toml")
    with pytest.raises(MobiotError, match=r"uplink.transport='ppp': board x's modem NOPE has no PPP dial-up"):
        check_uplink({"uplink": {**on, "transport": "ppp"}}, {"name": "x", "modem": {"model": "NOPE"}}, "dev.toml")


def test_template_is_a_valid_config_with_every_key(tmp_path):
    text = template("lilygo-t-sim7080g-s3", "356938035643809")
    f = tmp_path / "t.toml"
    f.write_text(text)
    raw = read_data_file(str(f), "config")
    assert check_config(raw, str(f))["device_id"] == "356938035643809"
    for path, *_ in config.SCHEMA:
        assert re.search(rf"^#? ?{re.escape(path.rsplit('.', 1)[-1])} = ", text, re.M), path
    # uncommenting every default still gives a valid config
    f.write_text(re.sub(r"^# (\w+ = )", r"\1", text, flags=re.M))
    check_config(read_data_file(str(f), "config"), str(f))


def test_readme_fleet_example_loads(tmp_path):
    readme = (ROOT / "README.md").read_text()
    example = re.search(r"```toml\n(# fleet.toml.*?)```", readme, re.S).group(1)
    (tmp_path / "fleet.toml").write_text(example)
    (tmp_path / "site.toml").write_text("status_every = 5\n")
    entries = inventory.load(str(tmp_path / "fleet.toml"))
    assert [(e.name, e.match_key) for e in entries] == [
        ("pump-north", "usb_serial"), ("pump-south", "unique_id"), ("weather-mast", "device_id")]
    assert entries[0].config == {"status_every": 5, "interval_s": 300}
    assert entries[2].board == "lilygo-t-a7670" and entries[2].secrets == str(tmp_path / "secrets.toml")


def test_bad_inventories_and_secrets_are_one_line_errors(tmp_path):
    f = tmp_path / "inv.toml"
    f.write_text('[[device]]\nboard = "sim"\nmatch = { colour = "red" }\n')
    with pytest.raises(MobiotError, match=r"device #1: match must be one of"):
        inventory.load(str(f))
    f.write_text('[[device]]\nboard = "sim"\nmatch = { port = "/dev/a" }\nsecrets = { mqtt = {} }\n')
    with pytest.raises(MobiotError, match=r"secrets must be a file name"):
        inventory.load(str(f))
    s = tmp_path / "s.json"
    s.write_text(json.dumps({"mqtt": {"pasword": "hunter2-xyz"}}))
    s.chmod(0o600)
    with pytest.raises(MobiotError, match=r"unknown key mqtt.pasword") as exc:
        load_secrets(str(s), env={})
    assert "hunter2" not in str(exc.value)
    got = load_secrets(None, env={"MOBIOT_SECRET_MQTT_PASSWORD": "pw-1"})
    assert got == {"mqtt": {"password": "pw-1"}}
    # a board whose uplink runs over WLAN (docs/uplink.md) gets its station credentials too
    s.write_text(json.dumps({"wlan": {"ssid": "bench-ap"}}))
    got = load_secrets(str(s), env={"MOBIOT_SECRET_WLAN_PASSWORD": "wpa-pw-9"})
    assert got == {"wlan": {"ssid": "bench-ap", "password": "wpa-pw-9"}}
