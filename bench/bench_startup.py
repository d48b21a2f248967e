"""Start-up of the `dsc` command: a fresh process per run, as a shell script would start it.

- `python_pass_ms`: `python -c pass`, the floor (the interpreter and site, with the editable
  install's finder).
- `dsc_version_ms`: `dsc --version` (parses the command table, imports no command module).
- `dsc_verify_ms`: `dsc verify USER ID RESPONSE` against a fresh SQLite registry: imports the
  support commands and the registry, opens it, looks the user up (unknown: exit 1).
- `registry_work_ms`: that verify's work in-process once the modules are loaded (open,
  look-up, close), so `dsc_verify_ms` can be read against `python_pass_ms + registry_work_ms`.
- `*_x_pass`: each start-up over `python -c pass` (target: within 2x, plus the registry work).
- `*_minstr`, `*_minstr_x_pass`: with valgrind installed, the instructions (millions) each
  process executes, under callgrind: unlike the times, they do not move with the machine's
  load, so a change's effect shows even on a shared machine.

Figures are medians of RUNS processes. The processes run with bytecode caching on and a first
run not counted, as an installed `dsc` does: with PYTHONDONTWRITEBYTECODE set (some CI and
sandbox shells set it), every run would compile the project's modules again, which made up
a good part of the start-up measured in such a shell (`dsc verify`: 5.4x instead of 3.1x
`python -c pass`).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
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
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=False)  # writes the bytecode caches, if a change left them stale
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=False)
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times) * 1000, 1)


def _minstr(argv: list[str], env: dict[str, str]) -> float | None:
    """Millions of instructions the process executes (callgrind), None without valgrind."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    r = subprocess.run([valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
                       env=env, capture_output=True, text=True, check=False)
    found = re.search(r"Collected : (\d+)", r.stderr)
    return round(int(found[1]) / 1e6, 1) if found else None


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
               if not k.startswith(("DSC_", "XDG_")) and k != "PYTHONDONTWRITEBYTECODE"
               } | {"HOME": home}
        subprocess.run([DSC, "registry", "init"], env=env, stdout=subprocess.DEVNULL,
                       check=True)
        runs = {"python_pass": [sys.executable, "-c", "pass"], "dsc_version": [DSC, "--version"],
                "dsc_verify": [DSC, "verify", "nobody", "1", "12345678"]}
        ms = {name: _median_ms(argv, env) for name, argv in runs.items()}
        work = _registry_work_ms(env)
        minstr = {name: _minstr(argv, env) for name, argv in runs.items()}
    out: dict[str, Any] = {f"{name}_ms": value for name, value in ms.items()}
    out["registry_work_ms"] = work
    for name in ("dsc_version", "dsc_verify"):
        out[f"{name}_x_pass"] = round(ms[name] / ms["python_pass"], 2)
    floor = minstr["python_pass"]
    if floor:
        out |= {f"{name}_minstr": value for name, value in minstr.items()}
        for name in ("dsc_version", "dsc_verify"):
            value = minstr[name]
            out[f"{name}_minstr_x_pass"] = round(value / floor, 2) if value else None
    return out


if __name__ == "__main__":
    print(main())
