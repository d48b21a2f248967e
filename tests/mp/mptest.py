# A tiny test harness for scripts that must run unchanged on CPython, the MicroPython unix port
# and the MicroPython WebAssembly build (no pytest there).
#   from mptest import test, main, vectors
#   @test
#   def test_something(): assert ...
#   main()
# sys.argv[1] is the vectors directory (the runners pass it); the script exits 1 on a failure.
import json
import sys

_tests = []


def test(fn):
    _tests.append(fn)
    return fn


def vectors(name):
    base = sys.argv[1] if len(sys.argv) > 1 else "tests/vectors"
    with open(base + "/" + name) as f:
        return json.load(f)


def raises(exc, fn, *args):
    try:
        fn(*args)
    except exc as e:
        return e
    raise AssertionError("%s not raised by %r%r" % (exc.__name__, fn, args))


def main():
    passed = 0
    failed = 0
    for fn in _tests:
        try:
            fn()
            passed += 1
        except Exception as e:  # report every failure, not only the first
            failed += 1
            print("FAIL %s: %s %r" % (fn.__name__, type(e).__name__, e))
            if hasattr(sys, "print_exception"):
                sys.print_exception(e)
    print("mptest: %d passed, %d failed" % (passed, failed))
    if failed or not passed:
        raise SystemExit(1)
