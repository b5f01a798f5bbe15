"""Power loss at any instant must not lose, duplicate or corrupt a queued record.

Drives sim/queue_worker.py (firmware/mobiot_fw/queue.py on real littlefs over a file-backed
flash image) under the MicroPython unix port, kills it with SIGKILL at random moments hundreds
of times, restarts it each time, and checks the claims of docs/protocol.md "Delivery" from the
worker's own log of started/finished operations plus a final dump of the queue.
"""

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKER = ROOT / "sim" / "queue_worker.py"
KILLS = int(os.environ.get("MOBIOT_POWERLOSS_KILLS", "300"))


def _micropython():
    mp = os.environ.get("MICROPYTHON") or str(ROOT / ".venv" / "bin" / "micropython")
    if not Path(mp).exists():
        pytest.skip("no MicroPython unix port (set MICROPYTHON)")
    return mp


def payload(seq):
    # independent re-implementation of the worker's payload(seq), so a wrong payload is caught
    n = 24 + (seq * 7919) % 318
    head = b"%d:" % seq
    body = bytearray(n - len(head))
    x = seq * 2654435761 & 0xFFFFFFFF
    for i in range(len(body)):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        body[i] = 0x21 + (x >> 16) % 94
    return head + bytes(body)


def _lines(out):
    # only complete lines: the kill may cut the last one
    text = out.decode("ascii", "replace")
    parts = text.split("\n")
    return [p.split() for p in parts[:-1] if p.strip()]


@pytest.mark.slow
def test_queue_survives_sigkill_at_random_instants(tmp_path):
    mp = _micropython()
    img = tmp_path / "flash.img"
    rng = random.Random(20250517)
    max_completed = 0  # highest seq whose append returned
    max_started = 0  # highest seq whose append started
    completed = []  # seqs whose append returned, in order
    acked_done = []  # (a, b) whose ack_range returned
    acked_started = []  # (a, b) whose ack_range started
    torn_appends = torn_acks = opened = 0
    t0 = time.monotonic()
    for run in range(KILLS):
        p = subprocess.Popen(
            [mp, str(WORKER), str(img), str(rng.getrandbits(30))],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        time.sleep(rng.uniform(0.0, 0.09))
        p.send_signal(signal.SIGKILL)
        out, err = p.communicate()
        assert p.returncode == -signal.SIGKILL, (p.returncode, err.decode()[-2000:])
        first_in_run = None
        prev = None
        open_next = None
        for ln in _lines(out):
            tag = ln[0]
            assert tag != "BAD", f"corrupt record delivered after restart {run}: {ln}"
            if tag == "O":
                opened += 1
                open_next = int(ln[1])
                # continuity: +1 across restarts; an append cut short may or may not have landed
                assert open_next in (max_completed + 1, max_started + 1), (
                    run,
                    open_next,
                    max_completed,
                    max_started,
                )
            elif tag == "a":
                s = int(ln[1])
                if first_in_run is None:
                    first_in_run = s
                    assert s == open_next
                else:
                    assert s == prev + 1, (run, prev, s)
                prev = s
                max_started = max(max_started, s)
            elif tag == "A":
                s = int(ln[1])
                assert s == prev and s > max_completed, (run, s, prev, max_completed)
                completed.append(s)
                max_completed = s
            elif tag == "k":
                acked_started.append((int(ln[1]), int(ln[2])))
            elif tag == "K":
                acked_done.append((int(ln[1]), int(ln[2])))
        if prev is not None and (not completed or completed[-1] != prev):
            torn_appends += 1
        if acked_started and (not acked_done or acked_started[-1] != acked_done[-1]):
            torn_acks += 1
    elapsed = time.monotonic() - t0

    # final state, read by a clean run
    r = subprocess.run([mp, str(WORKER), str(img), "0", "dump"], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    dumped = {}
    order = []
    end = None
    for ln in _lines(r.stdout):
        if ln[0] == "D":
            s = int(ln[1])
            assert s not in dumped, f"seq {s} queued twice"
            dumped[s] = bytes.fromhex(ln[2]) if len(ln) > 2 else b""
            order.append(s)
        elif ln[0] == "E":
            end = (int(ln[1]), int(ln[2]))
    assert end is not None
    assert order == sorted(order), "queue not oldest first"
    assert end[1] == len(dumped)
    assert end[0] in (max_completed + 1, max_started + 1)

    def covered(s, ranges):
        return any(a <= s <= b for a, b in ranges)

    # every record read back is the one written for its seq (CRC + payload check)
    for s, pl in dumped.items():
        assert pl == payload(s), f"seq {s} has a wrong payload"
        assert s <= max_started, f"phantom record {s}"
        # an ack that returned removed it for good
        assert not covered(s, acked_done), f"acked record {s} came back"
    # a record whose append returned is still queued, or an ack covering it was started
    lost = [s for s in completed if s not in dumped and not covered(s, acked_started)]
    assert not lost, f"records lost: {lost[:20]}"
    # sequence numbers: each completed append is exactly previous completed + 1, or it skips
    # one append that landed without its "A" line before the kill (never reused, never a gap
    # of more than that)
    for x, y in zip(completed, completed[1:], strict=False):
        assert y in (x + 1, x + 2), (x, y)
    assert len(completed) > 10 * KILLS // 3, f"worker did too little work: {len(completed)}"
    print(
        f"\npowerloss: {KILLS} kills in {elapsed:.1f} s, {opened} opens, {len(completed)} appends"
        f" returned, {len(acked_done)} acks returned, {torn_appends} kills inside an append,"
        f" {torn_acks} inside an ack, {len(dumped)} records queued at the end"
    )
