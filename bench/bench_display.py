"""Display stack figures: compiled size, render time and heap per render on every runtime,
and the emulator's screen reader.

Targets: display + font + driver <= 10 KB of .mpy; a render well under one keypad scan
period; the display's own buffers small against the 16 KB steady-state heap budget.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from mpvm import run  # noqa: E402

from host_tools.build import mpy_cross  # noqa: E402

MODULES = ("display", "font", "ssd1306", "fbcompat")

# Runs unchanged on CPython and both MicroPython VMs; prints "name value" lines.
SCRIPT = r'''
import gc
import time

try:
    ticks, diff = time.ticks_us, time.ticks_diff
except AttributeError:  # CPython
    ticks = lambda: int(time.perf_counter() * 1e6)
    diff = lambda a, b: a - b

from dsc.display import Display
from dsc.hal import Hal as _Hal


class Hal(_Hal):
    board = {"display": {"addr": 0x3C, "width": 128, "height": 32}}

    def i2c_write(self, addr, buf):
        pass


VIEWS = {
    "pin": [("pin", 3, 4), ("pin", 4, 4)],
    "challenge": [("challenge", "12345", 6), ("challenge", "123456", 6)],
    "response": [("response", "12345678"), ("response", "87654321")],
    "message": [("message", "NOT", "PROVISIONED"), ("message", "TOO SHORT", "")],
}
N = 40
heap = hasattr(gc, "mem_alloc")
gc.collect()
before = gc.mem_alloc() if heap else 0
d = Display(Hal())
gc.collect()
if heap:
    print("heap_display_object_bytes", gc.mem_alloc() - before)
for kind, pair in VIEWS.items():
    d.render(pair[1])
    gc.collect()
    gc.disable()
    a0 = gc.mem_alloc() if heap else 0
    t0 = ticks()
    for i in range(N):
        d.render(pair[i & 1])
    us = diff(ticks(), t0)
    a1 = gc.mem_alloc() if heap else 0
    gc.enable()
    print("render_%s_ms" % kind, round(us / N / 1000, 3))
    if heap:
        print("render_%s_alloc_bytes" % kind, (a1 - a0) // N)
'''


def mpy_sizes() -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in MODULES:
            target = Path(tmp) / f"{name}.mpy"
            subprocess.run([mpy_cross(), "-march=armv6m",
                            "-o", str(target), str(ROOT / "firmware" / "dsc" / f"{name}.py")],
                           check=True)
            out[f"mpy_{name}_bytes"] = target.stat().st_size
    out["mpy_display_font_driver_bytes"] = sum(
        out[f"mpy_{n}_bytes"] for n in ("display", "font", "ssd1306"))
    return out


def vm_figures(vm: str, script: Path) -> dict[str, Any]:
    result = run(vm, script, timeout=120)
    if result.returncode != 0:
        return {f"{vm}_error": (result.stderr or result.stdout).strip()[-200:]}
    figures: dict[str, Any] = {}
    for line in result.stdout.splitlines():
        name, _, value = line.partition(" ")
        figures[f"{vm}_{name}"] = float(value) if "." in value else int(value)
    return figures


def reader_figures() -> dict[str, Any]:
    from dsc.display import Display
    from dsc.hal import Hal as BaseHal

    from emulator.screen import screen_text
    from emulator.ssd1306 import Ssd1306Model

    model = Ssd1306Model(128, 32)

    class Hal(BaseHal):
        board = {"display": {"addr": 0x3C, "width": 128, "height": 32}}

        def i2c_write(self, addr: int, buf: Any) -> None:
            model.i2c_write(addr, bytes(buf))

    display = Display(Hal())
    display.render(("response", "12345678"))
    n = 50
    t0 = time.perf_counter()
    for _ in range(n):
        pixels = model.pixels()
        model._image = None  # measure the decode too, not the cache
    t1 = time.perf_counter()
    for _ in range(n):
        screen_text(pixels, 128, 32)
    t2 = time.perf_counter()
    return {"emulator_pixels_ms": round((t1 - t0) / n * 1000, 3),
            "emulator_screen_text_ms": round((t2 - t1) / n * 1000, 3)}


def main() -> dict[str, Any]:
    figures = mpy_sizes()
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bench_display_vm.py"
        script.write_text(SCRIPT, encoding="utf-8")
        for vm in ("cpython", "unix", "wasm"):
            figures.update(vm_figures(vm, script))
    figures.update(reader_figures())
    return figures


if __name__ == "__main__":
    for key, value in main().items():
        print(f"{key}: {value}")
