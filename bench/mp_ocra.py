# On-VM part of bench/bench_ocra.py: runs unchanged on CPython, the unix port and the wasm build.
# For each suite: time per response (on CPython also the default suite through the card's
# own HMAC code, `card_hmac`, which MicroPython runs) and heap allocated per response (gc.mem_alloc() deltas
# around one response with the collector off, on MicroPython; tracemalloc's peak on CPython).
# Prints one JSON object on the last line.
import gc
import json
import sys
import time

from dsc import hashes, mac, ocra

CASES = (
    # (label, suite, key, challenge, inputs)
    ("default", "OCRA-1:HOTP-SHA256-8:QN06-PSHA1", b"12345678901234567890123456789012",
     "123456", {"pin": "1234"}),
    ("sha1", "OCRA-1:HOTP-SHA1-6:QN08", b"12345678901234567890", "12345678", {}),
    ("sha512", "OCRA-1:HOTP-SHA512-8:C-QN08", b"1234567890" * 6 + b"1234", "12345678",
     {"counter": 1}),
)
MIN_SECONDS = 0.5
MAX_RUNS = 200 if sys.implementation.name == "micropython" else 100000  # µs apart on CPython

try:
    _ticks = time.ticks_us  # type: ignore[attr-defined]
    _diff = time.ticks_diff  # type: ignore[attr-defined]
except AttributeError:  # CPython
    def _ticks():
        return int(time.perf_counter() * 1000000)

    def _diff(a, b):
        return a - b

try:
    import tracemalloc
except ImportError:
    tracemalloc = None


def allocated(fn):
    # Bytes allocated by one call of fn.
    if hasattr(gc, "mem_alloc"):
        gc.collect()
        gc.disable()
        try:
            before = gc.mem_alloc()  # type: ignore[attr-defined]
            fn()
            return gc.mem_alloc() - before  # type: ignore[attr-defined]
        finally:
            gc.enable()
    if tracemalloc is not None:
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            fn()
            return tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
    return -1


def per_call_us(fn):
    fn()  # warm up (imports, first-use allocations)
    runs = 0
    start = _ticks()
    while True:
        fn()
        runs += 1
        spent = _diff(_ticks(), start)
        if spent >= MIN_SECONDS * 1000000 or runs >= MAX_RUNS:
            return spent / runs, runs


def bench_case(label, text, key, challenge, kw):
    suite = ocra.parse_suite(text)  # the card parses its suite once

    def one():
        return ocra.response(suite, key, challenge, **kw)

    def one_text():
        return ocra.response(text, key, challenge, **kw)

    one()
    us, runs = per_call_us(one)
    natives = [h for h in ("sha1", "sha256", "sha512") if hashes.have_native(h)]
    return {
        "suite": text,
        "us_per_response": int(us),
        "runs": runs,
        "bytes_per_response": allocated(one),
        "bytes_per_response_suite_as_text": allocated(one_text),
        "pure_hashes_used": [h for h in (suite.hash_name, suite.pin_hash_name)
                             if h and h not in natives],
    }


def main():
    out = {"vm": sys.implementation.name,
           "native_hashes": [h for h in ("sha1", "sha256", "sha512") if hashes.have_native(h)]}
    for label, text, key, challenge, kw in CASES:
        out[label] = bench_case(label, text, key, challenge, kw)
    if mac.STD_DIGEST is not None:  # CPython: the card's own HMAC code too, for comparison
        saved = mac.STD_DIGEST
        mac.STD_DIGEST = None
        try:
            out["card_hmac"] = bench_case(*CASES[0])
        finally:
            mac.STD_DIGEST = saved
    print(json.dumps(out))


main()
