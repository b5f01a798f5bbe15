# The harness itself: this file must run under MicroPython, never CPython.
import sys


def test_runs_under_micropython():
    assert sys.implementation.name == "micropython", sys.implementation.name


def test_const_available():
    from micropython import const

    assert const(3) == 3
