"""Start-up of the `dsc` command: a fresh process per run, as a shell script would start it.

- `python_pass_ms`: `python -c pass`, the floor (the interpreter and site, with the editable
  install's finder).
- `dsc_version_ms`: `dsc --version` (parses the command table, imports no command module).
- `dsc_verify_ms`: `dsc verify USER ID RESPONSE` against a fresh SQLite registry: imports the
  support commands and the registry, opens it, looks the user up (unknown: exit 1).
- `registry_work_ms`: that verify's work in-process once the modules are loaded (open,
  look-up, close), so `dsc_verify_ms` can be read against `python_pass_ms + registry_work_ms`.
- `*_x_pass`: each start-up over `python -c pass` (target: within 2x, plus the registry work).

Figures are medians of RUNS processes.
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RUNS = 15
DSC = str(Path(sys.executable).parent / "dsc")


def _median_ms(argv: list[str], env: dict[str, str]) -> float:
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=False)
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times) * 1000, 1)


def _registry_work_ms(env: dict[str, str]) -> float:
    from host_tools.cli import main

    old = dict(os.environ)
    os.environ.update(env)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            main(["verify", "nobody", "1", "12345678"])  # loads the modules
            t0 = time.perf_counter()
            for _ in range(RUNS):
                main(["verify", "nobody", "1", "12345678"])
            return round((time.perf_counter() - t0) / RUNS * 1000, 2)
    finally:
        os.environ.clear()
        os.environ.update(old)


def main() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="opendsc-bench-startup-") as home:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("DSC_", "XDG_"))} | {"HOME": home}
        subprocess.run([DSC, "registry", "init"], env=env, stdout=subprocess.DEVNULL,
                       check=True)
        floor = _median_ms([sys.executable, "-c", "pass"], env)
        version = _median_ms([DSC, "--version"], env)
        verify = _median_ms([DSC, "verify", "nobody", "1", "12345678"], env)
        work = _registry_work_ms(env)
    return {"python_pass_ms": floor, "dsc_version_ms": version, "dsc_verify_ms": verify,
            "registry_work_ms": work, "dsc_version_x_pass": round(version / floor, 2),
            "dsc_verify_x_pass": round(verify / floor, 2)}


if __name__ == "__main__":
    print(main())
