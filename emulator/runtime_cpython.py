"""The CPython runtime: the firmware package `dsc` (firmware/dsc, the very files a board
runs) imported in-process and driven through `EmuHal`. Fast and debuggable: a breakpoint in
firmware code stops the emulator right there.

A boot makes a fresh `App`: everything the firmware keeps in RAM lives in that object (the
modules hold only constants), so a new App on the same flash is a reboot.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emulator.board import VirtualBoard
from emulator.hal import EmuHal

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

    def boot(self, cold: bool) -> None:
        self.app = None  # the old firmware's RAM is gone even if the new one fails to start
        self.app = self._factory(self.hal, self.production)

    def step(self) -> int:
        if self.app is None:
            raise RuntimeError("the firmware has not booted")
        return int(self.app.step())

    def close(self) -> None:
        self.app = None
