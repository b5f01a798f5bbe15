# The link session (firmware/mobiot_fw/link/session.py), the command dispatcher
# (link/commands.py) and the outbox (store/outbox.py) on real littlefs in RAM: live records,
# the ack window and resends, and a second transport that looks alike to the queue.
import binascii
import json
import time

import fileblockdev as fb
from mobiot_fw import config
from mobiot_fw.clock import Clock
from mobiot_fw.link.commands import Commands
from mobiot_fw.link.proto import encode_command
from mobiot_fw.link.session import Session
from mobiot_fw.store.flashq import Queue
from mobiot_fw.store.outbox import Outbox

MNT = "/tsess"


class Out:
    def __init__(self):
        self.data = bytearray()

    def write(self, b):
        self.data += bytes(b)

    def frames(self):
        out = []
        for line in bytes(self.data).split(b"\r\n"):
            if line.startswith(b"@"):
                star = line.rfind(b"*")
                body = line[1:star]
                assert "%08X" % binascii.crc32(body) == line[star + 1:].decode(), line
                out.append((chr(body[0]), json.loads(body[2:])))
        self.data = bytearray()
        return out


class Uplink:
    """A second transport as the cellular uplink will be: takes records, answers commands."""

    def __init__(self, outbox):
        self.got, self.replies, self.attached = [], [], 0
        outbox.transports.append(self)

    def offer(self, seq, buf, end, kept):
        self.got.append(seq)

    def reply(self, cmd, ok, err=None, extra=None):
        self.replies.append((cmd, ok, err))

    def attach(self):
        self.attached += 1

    def detach(self):
        pass

    def acked(self):
        pass


def _rig(link=None):
    import os

    path = "/tmp/mobiot-test-session.img"
    try:
        os.remove(path)
    except OSError:
        pass
    fb.mount(fb.FileBlockDev(path, 96), MNT, mkfs=True)
    cfg, errs = config.validate({"device_id": "7", "link": link or {"window": 3, "resend_s": 1}})
    assert errs == []
    ob = Outbox(Queue(MNT + "/q", max_records=100, max_bytes=65536), "7", Clock())
    status = []
    cmds = Commands(ob.q, cfg, MNT + "/config.json", status=lambda: status.append(ob.event("st")))
    out = Out()
    s = Session(ob, cfg["link"], ("7", "0.1.0", "t", ""), cmds.handle, out)
    return ob, s, cmds, out, status


def test_every_record_goes_out_live_once_without_a_host():
    ob, s, cmds, out, _ = _rig()
    for i in range(5):
        ob.event("e%d" % i)
    fr = out.frames()
    assert [p["seq"] for _, p in fr] == [1, 2, 3, 4, 5]
    assert s.inflight == {} and s.pump() == 0  # no host: nothing is resent
    assert ob.q.depth == 5


def test_window_ack_and_resend_while_attached():
    ob, s, cmds, out, _ = _rig()
    for i in range(6):
        ob.event("e")
    out.frames()
    s.line(encode_command("hello"))
    fr = out.frames()
    assert fr == [("H", {"proto": 1, "device": "7", "fw": "0.1.0", "board": "t", "boot": ob.boot, "hold": True})], fr
    assert s.pump() == 3 and [p["seq"] for _, p in out.frames()] == [1, 2, 3]
    assert s.pump() == 0  # the window is full and nothing is due yet
    s.line(encode_command("ack", "1-2"))
    assert sorted(s.inflight) == [3] and ob.q.depth == 4
    assert [p["seq"] for _, p in out.frames()] == []  # an ack gets no reply
    assert s.pump() == 2 and [p["seq"] for _, p in out.frames()] == [4, 5]
    time.sleep_ms(1100)  # resend_s 1: at least that long has passed
    assert s.pump() == 3 and [p["seq"] for _, p in out.frames()] == [3, 4, 5]
    ob.event("new")  # made while attached: in flight at once
    assert 7 in s.inflight
    s.line(encode_command("bye"))
    assert out.frames()[-1] == ("K", {"cmd": "bye", "ok": True}) and not s.hold and s.inflight == {}


def test_an_ack_from_either_transport_removes_the_record_for_both():
    ob, s, cmds, out, _ = _rig()
    up = Uplink(ob)
    s.line(encode_command("hello"))
    for i in range(3):
        ob.event("e")
    assert up.got == [1, 2, 3] and sorted(s.inflight) == [1, 2, 3]
    cmds.handle(encode_command("ack", "2"), up)  # the uplink's broker committed 2
    assert not ob.q.is_queued(2) and ob.q.is_queued(1)
    s.line(encode_command("ack", "1,3"))
    assert ob.q.depth == 0 and s.inflight == {}  # 2 too: it is no longer queued
    time.sleep_ms(1100)  # past resend_s: a record still in flight would go again now
    assert s.pump() == 0
    assert [p["seq"] for t, p in out.frames() if t == "R"] == [1, 2, 3]  # the live sends only


def test_the_dispatcher_answers_through_the_transport_it_came_from():
    ob, s, cmds, out, status = _rig()
    up = Uplink(ob)
    cmds.handle(encode_command("ack", "5-1"), up)
    cmds.handle(encode_command("frobnicate"), up)
    cmds.handle("!status*00", up)  # bad checksum
    cmds.handle(encode_command("status"), up)
    assert up.replies == [("ack", False, "bad ack list"), ("frobnicate", False, "unknown command"),
                          ("?", False, "checksum")], up.replies
    assert len(status) == 1 and out.frames()[-1][1]["values"]["event"] == "st"
    cmds.handle(encode_command("hello"), up)
    assert up.attached == 1 and not s.hold  # the serial session is not touched


def test_safe_off_and_safe_mode_answers():
    ob, s, cmds, out, _ = _rig()
    off = []
    safe = Commands(ob.q, {}, safe_off=lambda: off.append(1))  # safe mode: no report cycle
    up = Uplink(ob)
    safe.handle(encode_command("sample"), up)
    safe.handle(encode_command("interval", "10"), up)
    safe.handle(encode_command("safe", "on"), up)
    safe.handle(encode_command("safe", "off"), up)
    assert up.replies == [("sample", False, "safe mode"), ("interval", False, "safe mode"),
                          ("safe", False, "usage: !safe off"), ("safe", True, None)], up.replies
    assert off == [1]


def test_line_noise_and_long_lines_never_stall_the_reader():
    import asyncio

    ob, s, cmds, out, _ = _rig()

    class Stream:
        def __init__(self, data):
            self.data = data

        async def readinto(self, b):
            if not self.data:
                await asyncio.sleep_ms(0)
                return 0
            b[0] = self.data[0]
            self.data = self.data[1:]
            return 1

    # noise, a line too long, then a command behind noise on its own line (a host that was at
    # the wrong speed left bytes that are not UTF-8 and no line end)
    st = Stream(b"\xff\xfe\r\n" + b"x" * 500 + b"\n" + b"\x88\xa1\xfc\x80" * 60 + encode_command("hello"))

    async def main():
        t = asyncio.create_task(s.reader(st))
        t0 = time.ticks_ms()
        while not s.hold and time.ticks_diff(time.ticks_ms(), t0) < 30000:
            await asyncio.sleep_ms(1)
        t.cancel()

    asyncio.run(main())
    assert s.hold and out.frames()[-1][0] == "H"
