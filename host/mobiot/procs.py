"""Child processes the host tools start (virtual boards, Mosquitto): one way to stop them."""

from __future__ import annotations

import signal
import subprocess


def stop(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    """SIGTERM, so the child can save its state (a vboard its flash image, mosquitto its
    persistence file), then SIGKILL if it has not exited within `grace_s`; always reaped."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
