"""Run a script on the real MicroPython VMs (unix port from PyPI, WebAssembly build from npm)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from host_tools.paths import venv_executable

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
MP_TESTS = ROOT / "tests" / "mp"
BOARDS = ROOT / "boards"
VECTORS = ROOT / "tests" / "vectors"  # data files named after their source
WASM_RUNNER = MP_TESTS / "run_wasm.mjs"
VMS = ("cpython", "unix", "wasm")


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


def micropython_unix() -> str:
    found = venv_executable("micropython")
    if not found:
        raise RuntimeError("the MicroPython unix port is not installed: run `make setup`")
    return found


def run(vm: str, script: Path, *args: str, timeout: float = 300,
        paths: tuple[Path, ...] = (FIRMWARE, MP_TESTS, BOARDS)) -> Run:
    """Run `script` on `vm` with `paths` importable and the vectors dir as argv[1]."""
    argv = [str(VECTORS), *args]
    if vm == "cpython":
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(str(p) for p in paths))
        cmd = [sys.executable, str(script), *argv]
    elif vm == "unix":
        env = dict(os.environ, MICROPYPATH=":".join([*(str(p) for p in paths), ".frozen"]))
        cmd = [micropython_unix(), "-X", "heapsize=4M", str(script), *argv]
    elif vm == "wasm":
        env = dict(os.environ)
        cmd = ["node", str(WASM_RUNNER)]
        for i, p in enumerate(paths):
            cmd += ["--mount", f"{p}:/m{i}", "--path", f"/m{i}"]
        cmd += ["--mount", f"{VECTORS}:/vectors", str(script), "/vectors", *args]
    else:
        raise ValueError(f"unknown VM {vm!r}")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=ROOT, check=False)
    return Run(proc.returncode, proc.stdout, proc.stderr)


def load_vectors(name: str) -> Any:
    """The one loader of the test vectors kept in tests/vectors/ (each file names its source)."""
    with open(VECTORS / name, encoding="utf-8") as f:
        return json.load(f)
