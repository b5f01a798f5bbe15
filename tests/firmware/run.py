# Runs one MicroPython test file under the unix port (never CPython).
# Usage: micropython tests/firmware/run.py tests/firmware/test_x.py [test_name ...]
# Each top-level function named test_* is called in file order; a coroutine function is run
# with asyncio. Output is one line per test: "PASS name" or "FAIL name" followed by the
# MicroPython traceback, and a final "DONE passed=N failed=M". Exit status 1 on any failure.
import sys
import io

_here = sys.argv[0].rpartition("/")[0] or "."
_root = _here + "/../.."
for _p in (_root + "/sim", _root + "/firmware", _here):
    if _p not in sys.path:
        sys.path.insert(1, _p)


def _load(path):
    name = path.rpartition("/")[2]
    if name.endswith(".py"):
        name = name[:-3]
    g = {"__name__": name, "__file__": path}
    with open(path) as f:
        src = f.read()
    exec(compile(src, path, "exec"), g)
    return g, src


def _order(src):
    names = []
    for line in src.split("\n"):
        if line.startswith("def test_") or line.startswith("async def test_"):
            n = line.split("def ", 1)[1].split("(", 1)[0].strip()
            if n not in names:
                names.append(n)
    return names


def main():
    if len(sys.argv) < 2:
        print("usage: run.py TESTFILE [NAME ...]")
        sys.exit(2)
    path = sys.argv[1]
    only = sys.argv[2:]
    g, src = _load(path)
    names = [n for n in _order(src) if not only or n in only]
    passed = failed = 0
    for n in names:
        fn = g.get(n)
        if fn is None:
            continue
        try:
            r = fn()
            if r is not None and hasattr(r, "send"):
                import asyncio

                asyncio.run(r)
            print("PASS", n)
            passed += 1
        except Exception as e:  # a failing test must not stop the others
            buf = io.StringIO()
            sys.print_exception(e, buf)
            print("FAIL", n)
            print(buf.getvalue().rstrip())
            print("END", n)
            failed += 1
    print("DONE passed=%d failed=%d" % (passed, failed))
    if failed or not passed:
        sys.exit(1)


main()
