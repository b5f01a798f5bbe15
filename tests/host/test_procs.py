"""mobiot.procs: the children the host tools start in their own sessions die with them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

PARENT = """
import subprocess, sys, time
from mobiot import procs
c = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True,
                     preexec_fn=procs.die_with_parent())
print(c.pid, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (killed, not yet reaped by init) counts as gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def test_a_child_in_its_own_session_dies_when_its_parent_is_killed():
    # `mobiot demo` SIGKILLed (a failed test does that) used to leave its cellular board and
    # Mosquitto running: they run in their own sessions, so no signal to the group reached them.
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert _alive(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 60
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    gone = not _alive(child)
    if not gone:
        os.kill(child, signal.SIGKILL)
    assert gone, "the child outlived its SIGKILLed parent"
