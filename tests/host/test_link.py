"""The serial link end to end: a board (virtual, or real with --port) streams records that the
host codec (host/mobiot/codec.py) decodes and acks, per docs/protocol.md."""

from __future__ import annotations

import time

import pytest
import serial

from mobiot.codec import Decoder, encode_acks, encode_command
from vbhelp import WAIT_S, VBoards, restart_firmware


class Host:
    """The host end of the protocol: decode frames, ack what it has 'committed'."""

    def __init__(self, port: str):
        self.ser = serial.serial_for_url(port, baudrate=115200, timeout=0.05)
        self.dec = Decoder()
        self.records: dict[int, dict] = {}
        self.hellos: list[dict] = []
        self.replies: list[dict] = []
        self.dups = 0

    def send(self, verb: str, args: str = "") -> None:
        self.ser.write(encode_command(verb, args))

    def attach(self, timeout: float = WAIT_S) -> None:
        """Say hello until the board answers that it is held: a board that is still booting
        (its UART not up yet) loses what the host sends, as a real one does."""
        deadline = time.monotonic() + timeout
        while not any(h.get("hold") for h in self.hellos):
            assert time.monotonic() < deadline, f"no held hello within {timeout} s: {self.hellos}"
            self.send("hello")
            self.poll(1, until=lambda h: any(x.get("hold") for x in h.hellos))

    def poll(self, seconds: float, ack: bool = True, until=None) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            got = self.dec.feed(self.ser.read(4096))
            new = []
            for f in got.frames:
                if f.type == "H":
                    self.hellos.append(f.payload)
                elif f.type == "K":
                    self.replies.append(f.payload)
                elif f.type == "R":
                    seq = f.payload["seq"]
                    if seq in self.records:
                        self.dups += 1
                        # a resend carries the very same record
                        assert self.records[seq] == f.payload, (self.records[seq], f.payload)
                    self.records[seq] = f.payload
                    new.append(seq)
            if ack and new:
                for line in encode_acks(new):
                    self.ser.write(line)
            if until is not None and until(self):
                return

    def close(self) -> None:
        self.ser.close()


@pytest.fixture
def board(tmp_path, hw_port, hw_board):
    if hw_port:
        restart_firmware(hw_port)
        yield hw_port, hw_board
        return
    with VBoards(tmp_path / "link") as vb:
        yield vb.boards[0][0], None


def _contiguous(seqs) -> bool:
    s = sorted(seqs)
    return s == list(range(s[0], s[0] + len(s)))


def test_records_stream_and_are_acked(board):
    port, board_name = board
    host = Host(port)
    try:
        host.attach()
        host.send("interval", "1")
        host.poll(WAIT_S, until=lambda h: len(h.records) >= 12
                  and any(p["kind"] == "status" for p in h.records.values()))
        assert host.hellos and host.hellos[-1]["proto"] == 1 and host.hellos[-1]["hold"] is True
        if isinstance(board_name, str):  # a real board: it must run the definition we were told
            assert host.hellos[-1]["board"] == board_name
        assert {"cmd": "interval", "ok": True, "interval_s": 1} in host.replies
        kinds = {p["kind"] for p in host.records.values()}
        assert {"reading", "status"} <= kinds, kinds
        assert _contiguous(host.records), sorted(host.records)
        dev = {p["device"] for p in host.records.values()}
        assert len(dev) == 1
        if board_name is None:  # the virtual board's NMEA receiver: position and UTC time
            host.poll(WAIT_S, until=lambda h: any("lat" in p["values"] for p in h.records.values()))
            fix = [p for p in host.records.values() if "lat" in p["values"]][-1]
            assert 47 < fix["values"]["lat"] < 49 and 10 < fix["values"]["lon"] < 13, fix
            assert fix["clock"] == "utc" and abs(fix["t"] - time.time()) < 120, fix
        # Acked records leave the board's queue: ask for a status and see a small depth.
        host.poll(3)
        host.send("status")
        host.poll(WAIT_S, until=lambda h: sum(1 for p in h.records.values() if p["kind"] == "status") >= 2)
        last = max((p for p in host.records.values() if p["kind"] == "status"), key=lambda p: p["seq"])
        assert last["values"]["qdepth"] <= 8, last
        # A bad checksum is answered, and changes nothing.
        host.ser.write(b"!ack 1-999*00\r\n")
        host.poll(WAIT_S, until=lambda h: any(r.get("err") == "checksum" for r in h.replies))
        assert any(r.get("err") == "checksum" for r in host.replies)
    finally:
        host.send("interval", "5")
        host.send("bye")
        host.close()


def test_unacked_records_survive_kill9_and_are_delivered_once(tmp_path):
    with VBoards(tmp_path / "kill") as vb:
        port, did = vb.boards[0]
        host = Host(port)
        try:
            # The board announces itself when its firmware is up; only then does it hear us.
            host.poll(WAIT_S, ack=False, until=lambda h: bool(h.hellos))
            host.send("interval", "1")
            # Watch without acking: records pile up in the board's flash queue.
            host.poll(WAIT_S, ack=False, until=lambda h: len(h.records) >= 6)
            before = dict(host.records)
            assert len(before) >= 6
            vb.kill_board()
            # After the power-on reset, a host attaches and takes everything that is queued.
            host.attach()
            host.poll(WAIT_S, until=lambda h: h.hellos and h.hellos[-1]["boot"] >= 2
                      and len([p for p in h.records.values() if p["boot"] >= 2]) >= 4
                      and set(before) <= set(h.records))
            assert set(before) <= set(host.records), sorted(set(before) - set(host.records))
            for seq, p in before.items():
                assert host.records[seq] == p
            assert _contiguous(host.records)
            boots = {p["boot"] for p in host.records.values()}
            assert boots >= {1, 2}, boots
            reboot = [p for p in host.records.values() if p["kind"] == "event" and p["values"]["event"] == "boot"]
            assert [p["values"]["reset"] for p in sorted(reboot, key=lambda p: p["seq"])][-1] == "power_on"
        finally:
            host.send("bye")
            host.close()
