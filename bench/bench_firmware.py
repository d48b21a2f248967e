"""Firmware footprint on both MicroPython VMs, and the size of the compiled .mpy files.

Heap figures are bytes above a baseline taken before any firmware module is imported:
`imports` is the code of every module (in RAM when loaded from source or .mpy; in flash when
frozen with firmware/manifest.py), `boot` adds the App's state after boot, `login` is the same
after a whole login and auto-off (the steady state). The App's own state is boot - imports.
Targets: steady-state heap of the App <= 16 KB, all .mpy <= 48 KB. The unix port is a 64-bit
build, so its objects are about twice the size they are on a 32-bit board.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from mpvm import BOARDS, FIRMWARE, MP_TESTS, run  # noqa: E402

from host_tools.build import build_firmware  # noqa: E402

SCRIPT = ROOT / "bench" / "mp_firmware_heap.py"
WASM = ROOT / "bench" / "wasm_heap.mjs"


def parse(vm: str, returncode: int, out: str, err: str) -> dict[str, Any]:
    found = dict(re.findall(r"HEAP (\w+) (-?\d+)", out))
    if returncode != 0 or len(found) != 3 or "('response'," not in out:
        return {f"{vm}_error": (err or out).strip().splitlines()[-3:]}
    imports, boot, login = (int(found[k]) for k in ("imports", "boot", "login"))
    return {f"{vm}_heap_code_bytes": imports,
            f"{vm}_heap_app_after_boot_bytes": boot - imports,
            f"{vm}_heap_app_steady_bytes": login - imports,
            f"{vm}_heap_total_steady_bytes": login}


def heap_unix() -> dict[str, Any]:
    r = run("unix", SCRIPT, paths=(FIRMWARE, MP_TESTS, BOARDS))
    return parse("unix", r.returncode, r.stdout, r.stderr)


def heap_unix_mpy() -> dict[str, Any]:
    """The same phases with the firmware as a board gets it from `dsc flash`: .mpy files."""
    with tempfile.TemporaryDirectory() as tmp:
        build_firmware(Path(tmp))
        r = run("unix", SCRIPT, paths=(Path(tmp), MP_TESTS, BOARDS))
    return parse("unix_mpy", r.returncode, r.stdout, r.stderr)


def heap_wasm() -> dict[str, Any]:
    cmd = ["node", str(WASM), str(FIRMWARE), str(MP_TESTS), str(BOARDS), str(SCRIPT)]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)
    return parse("wasm", p.returncode, p.stdout, p.stderr)


def mpy_size() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        built = build_firmware(Path(tmp))
    mpy = [b for b in built if b.target.suffix == ".mpy"]
    largest = max(mpy, key=lambda b: b.size)
    return {"mpy_files": len(mpy), "mpy_total_bytes": sum(b.size for b in mpy),
            "mpy_largest": f"{largest.target.as_posix()} {largest.size}"}


def main() -> dict[str, Any]:
    figures: dict[str, Any] = {}
    figures.update(heap_unix())
    figures.update(heap_unix_mpy())
    figures.update(heap_wasm())
    figures.update(mpy_size())
    figures["targets"] = "app steady heap <= 16384 bytes, all .mpy <= 49152 bytes"
    return figures
