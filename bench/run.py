"""`make bench`: run every bench/bench_*.py module's main() and print its figures.

Benchmarks are not tests: they measure, they do not assert. Each module's main() returns a
dict of figures (name -> value); this runner prints them and writes bench/results.json.
    python -m bench.run [NAME...]     # e.g. python -m bench.run ocra emulator
"""

from __future__ import annotations

import importlib
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    names = argv or sorted(p.stem[len("bench_"):] for p in HERE.glob("bench_*.py"))
    results: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
    }
    for name in names:
        module = importlib.import_module(f"bench.bench_{name}")
        print(f"== {name}", flush=True)
        t0 = time.perf_counter()
        figures = module.main()
        figures["_bench_seconds"] = round(time.perf_counter() - t0, 2)
        for key, value in figures.items():
            print(f"  {key}: {value}")
        results[name] = figures
    out = HERE / "results.json"
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"figures written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
