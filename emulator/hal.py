"""`EmuHal`: the firmware's hardware-abstraction interface on a `VirtualBoard`.

The in-process (CPython) runtime hands this object to `dsc.app.App`; the MicroPython runtime
answers the bridge's forwarded calls with the very same object, so both runtimes meet the
same virtual hardware. Time is the board's clock folded like `time.ticks_ms()`.
"""

from __future__ import annotations

import errno
import os
import random
from collections.abc import Callable
from typing import Any

from dsc.hal import Hal

from emulator.board import VirtualBoard
from emulator.clock import ticks_diff
from emulator.flashmem import FlashMemError
from emulator.gpio import PinHandle


class BoardReset(BaseException):  # a control-flow signal, like SystemExit
    """The firmware called hal.reset(): on a board that call never returns."""


class EmuHal(Hal):
    def __init__(self, board: VirtualBoard, *, seed: int | None = None,
                 on_idle: Callable[[int], None] | None = None) -> None:
        self.vboard = board
        self.board = board.board
        # Tests may pin the "TRNG" for byte-exact transcripts; otherwise the host's urandom.
        self._rng = random.Random(seed) if seed is not None else None
        self._on_idle = on_idle

    # --- time ---
    def ticks_ms(self) -> int:
        return self.vboard.clock.ticks()

    def ticks_diff(self, a: int, b: int) -> int:
        return ticks_diff(a, b)

    def unix_time(self) -> int | None:
        return self.vboard.unix_time()

    def set_unix_time(self, seconds: int) -> None:
        self.vboard.set_unix_time(seconds)

    def idle(self, ms: int) -> None:
        # Only App.run() calls this; the emulator's runtimes call App.step() themselves.
        if self._on_idle is None:
            raise RuntimeError("the emulator drives App.step(); App.run() is not supported")
        self._on_idle(ms)

    # --- GPIO ---
    def pin_out(self, num: Any, value: int) -> PinHandle:
        return self.vboard.gpio.pin_out(num, value)

    def pin_in(self, num: Any, pull: int) -> PinHandle:
        return self.vboard.gpio.pin_in(num, pull)

    # --- I2C ---
    def i2c_write(self, addr: int, buf: Any) -> None:
        self.vboard.i2c_write(addr, buf)

    # --- flash ---
    def fs_read(self, name: str) -> bytes | None:
        return self.vboard.flash.read(name)

    def fs_write(self, name: str, data: Any) -> None:
        self.vboard.flash.write(name, data)

    def fs_rename(self, src: str, dst: str) -> None:
        flash = self.vboard.flash
        try:
            flash.rename(src, dst)
        except FlashMemError as e:
            if e.errno != errno.EEXIST:
                raise
            # FAT refuses to rename over a file: remove it first, as dsc.hal_files does on a
            # board (a power cut can fall between the two).
            flash.remove(dst)
            flash.rename(src, dst)

    def fs_remove(self, name: str) -> None:
        self.vboard.flash.remove(name)

    def fs_free(self) -> int:
        return self.vboard.flash.free()

    # --- serial ---
    def serial_read(self) -> bytes:
        return self.vboard.serial.card_read()

    def serial_write(self, data: Any) -> None:
        self.vboard.serial.card_write(data)

    # --- misc ---
    def random_bytes(self, n: int) -> bytes:
        if self._rng is not None:
            return self._rng.randbytes(n)
        return os.urandom(n)

    def battery_mv(self) -> int | None:
        return self.vboard.battery_mv()

    def led(self, on: bool) -> None:
        self.vboard.led_on = bool(on)

    def lock_repl(self) -> None:
        self.vboard.repl_locked = True

    def reset(self) -> None:
        raise BoardReset()
