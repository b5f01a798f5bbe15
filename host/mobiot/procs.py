"""Child processes the host tools start (virtual boards, Mosquitto): one way to stop them."""

from __future__ import annotations

import signal
import subprocess


def die_with_parent(sig: int = signal.SIGTERM):
    """A preexec_fn for Popen: the child gets `sig` when the thread that started it dies, even
    by SIGKILL (Linux prctl PR_SET_PDEATHSIG, prctl(2)). Elsewhere a no-op. For children that
    run in their own session (start_new_session=True), which nothing else would stop."""

    def _preexec() -> None:
        try:
            import ctypes

            ctypes.CDLL(None).prctl(1, sig)  # PR_SET_PDEATHSIG = 1
        except (AttributeError, OSError):
            pass

    return _preexec


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
