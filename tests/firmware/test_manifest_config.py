# The board's side of provisioning: the roll-forward of a decided run (mobiot_fw.manifest, run
# by boot.py) and the one config rule (mobiot_fw.config.replace / fatal). docs/provisioning.md,
# docs/config.md. Runs in a fresh directory of the host file system (VfsPosix).
import json
import os
import time

from mobiot_fw import config, manifest

_HOME = os.getcwd()


def _tmpdir():
    d = "/tmp/mobiot-fwtest-%d" % time.ticks_us()
    os.mkdir(d)
    os.chdir(d)
    return d


def _write(p, data):
    with open(p, "w") as f:
        f.write(data)


def _read(p):
    with open(p) as f:
        return f.read()


def _exists(p):
    try:
        os.stat(p)
        return True
    except OSError:
        return False


def _done(d):
    for name in os.listdir(d):
        os.remove(d + "/" + name)
    os.chdir(_HOME)
    os.rmdir(d)


def test_roll_forward_finishes_a_decided_run_and_is_idempotent():
    d = _tmpdir()
    try:
        _write("a.py", "old a")
        _write("a.py.new", "new a")
        _write("c.py.new", "new c")
        _write("b.py", "gone b")
        _write("manifest.json", json.dumps({"fwid": "00000000"}))
        _write("manifest.new", json.dumps({"fwid": "1234abcd", "apply": ["a.py", "c.py"], "remove": ["b.py"]}))
        # cut off half-way: c.py already renamed by an earlier attempt
        os.rename("c.py.new", "c.py")
        assert manifest.roll_forward() is True
        assert _read("a.py") == "new a" and _read("c.py") == "new c"
        assert not _exists("b.py") and _read("b.py.old") == "gone b"
        assert not _exists("manifest.new") and not _exists("a.py.new")
        assert json.loads(_read("manifest.json"))["fwid"] == "1234abcd"
        assert manifest.roll_forward() is False  # nothing pending: nothing done
        assert _read("a.py") == "new a"
    finally:
        _done(d)


def test_no_commit_record_leaves_the_old_set():
    d = _tmpdir()
    try:
        _write("a.py", "old a")
        _write("a.py.new", "half of new a")  # copy interrupted before the commit record
        assert manifest.roll_forward() is False
        assert _read("a.py") == "old a"
    finally:
        _done(d)


def test_fwid_comes_from_the_manifest():
    d = _tmpdir()
    try:
        assert manifest.fwid() == ""  # no manifest: no id
        _write("manifest.json", json.dumps({"fwid": "f0df0df2", "files": {}}))
        assert manifest.fwid() == "f0df0df2"
        _write("manifest.json", json.dumps({"fwid": 7}))
        assert manifest.fwid() == ""  # not a string: no id
    finally:
        _done(d)


def test_replace_refuses_a_config_failing_as_a_whole_and_keeps_the_last_good():
    d = _tmpdir()
    try:
        good = {"interval_s": 300, "modem": {"apn": "iot.1nce.net"}}
        cfg, errors = config.replace(good)
        assert errors == [] and cfg["interval_s"] == 300
        last = _read("config.json")
        for bad, why in (([1, 2], "JSON object"), ({"modem": 5}, "modem must be an object"),
                         ({"modem": {"psm": []}}, "modem.psm must be an object"), ("{not json", "not valid JSON")):
            try:
                config.replace(bad)
            except ValueError as e:
                assert why in str(e), (bad, str(e))
            else:
                raise AssertionError("accepted %r" % (bad,))
            assert _read("config.json") == last
        # valid as a whole, one malformed key: written, that key falls back, one error for the event
        cfg, errors = config.replace('{"interval_s": "fast", "status_every": 5}')
        assert cfg["interval_s"] == 60 and cfg["status_every"] == 5
        assert len(errors) == 1 and "interval_s" in errors[0]
        assert json.loads(_read("config.json"))["status_every"] == 5
        assert not _exists("config.json.new")
    finally:
        _done(d)


def test_load_of_a_file_failing_as_a_whole_gives_defaults_and_one_error():
    d = _tmpdir()
    try:
        _write("config.json", json.dumps({"link": 3, "interval_s": 5}))
        cfg, errors = config.load("config.json")
        assert cfg["interval_s"] == 60 and len(errors) == 1 and "link must be an object" in errors[0]
    finally:
        _done(d)
