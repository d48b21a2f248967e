"""The CPython runtime: the firmware package `dsc` (firmware/dsc, the very files a board
runs) imported in-process and driven through `EmuHal`. Fast and debuggable: a breakpoint in
firmware code stops the emulator right there.

A boot makes a fresh `App`: everything the firmware keeps in RAM lives in that object (the
modules hold only constants), so a new App on the same flash is a reboot. REPL code (after a
Ctrl-C on the serial line, see emulator/repl.py) runs in CPython too (emulator/repl_cpython.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emulator.board import VirtualBoard
from emulator.hal import EmuHal
from emulator.repl_cpython import CPythonRepl

AppFactory = Callable[[EmuHal, bool], Any]


def _firmware_app(hal: EmuHal, production: bool) -> Any:
    from dsc import app

    make: Any = app.App  # the firmware is untyped (MicroPython subset)
    return make(hal, production=production)


class CPythonRuntime:
    name = "cpython"

    def __init__(self, board: VirtualBoard, *, production: bool = False, seed: int | None = None,
                 app_factory: AppFactory | None = None) -> None:
        self.board = board
        self.production = production
        self.hal = EmuHal(board, seed=seed)
        self._factory = app_factory or _firmware_app
        self.app: Any = None
        self.repl = CPythonRepl(board)

    def boot(self, cold: bool, main: bool = True) -> None:
        """Start over; main=False: a soft reset in the raw REPL (no firmware, an empty REPL)."""
        self.app = None  # the old firmware's RAM is gone even if the new one fails to start
        self.repl.namespace = None
        if main:
            self.app = self._factory(self.hal, self.production)

    def step(self) -> int:
        if self.app is None:
            raise RuntimeError("the firmware has not booted")
        return int(self.app.step())

    def close(self) -> None:
        self.app = None

    # --- the REPL (emulator.repl.ReplRuntime) ---
    def repl_enter(self) -> str:
        return self.repl.enter()

    def repl_exec(self, code: str, single: bool, out: Callable[[bytes], None]) -> str | None:
        return self.repl.execute(code, single, out)

    def repl_interrupt(self) -> None:
        self.repl.interrupt()

    def repl_reset(self) -> None:
        self.boot(cold=False, main=False)
