# Small helpers shared by the MicroPython tests (tests/firmware/run.py puts this folder on
# sys.path).


def raises(errno_value, fn, *args):
    """Call fn(*args) and check it raises OSError with this errno (as the ESP32 port would)."""
    try:
        fn(*args)
    except OSError as e:
        assert e.errno == errno_value, (e.errno, errno_value)
        return
    raise AssertionError("no OSError %d" % errno_value)
