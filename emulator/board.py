"""A virtual board wired from `boards/<name>.py`: the same file the firmware imports.

The board file's keypad, POWER pin and display bus/address decide where the virtual keys
and the SSD1306 model sit; its flash size sizes the virtual filesystem. `VirtualBoard` holds
the hardware only; the firmware runs on it through `emulator.hal.EmuHal` (in-process) or the
MicroPython bridge.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from emulator.clock import Clock, VirtualClock
from emulator.flashmem import Flash
from emulator.gpio import Gpio, wire_keys
from emulator.serialport import SerialLine
from emulator.ssd1306 import Ssd1306Model
from host_tools.boards import load_board


class VirtualBoard:
    """Pins with keys, the display controller on its I2C address, flash, serial, LED."""

    def __init__(self, board: str | dict[str, Any] = "pico", *,
                 state_dir: str | Path | None = None, clock: Clock | None = None,
                 battery_mv: int | None = 3900, unix_time: int | None = None,
                 rtc_set: bool = True) -> None:
        self.board = load_board(board) if isinstance(board, str) else board
        self.name = str(self.board["name"])
        self.clock: Clock = clock if clock is not None else VirtualClock()
        self.gpio = Gpio()
        self.keys = wire_keys(self.gpio, self.board)
        disp = self.board["display"]
        self.display_addr = int(disp["addr"])
        self.width = int(disp["width"])
        self.height = int(disp["height"])
        self.display = self._new_display()
        self.flash = Flash(int(self.board["flash"]["size"]), state_dir,
                           fat=self.board["flash"].get("fs") == "fat")
        self.serial = SerialLine()
        self.led_on = False
        self.repl_locked = False
        self.i2c_writes = 0
        self._battery_mv = battery_mv if self.board.get("battery") else None
        # Wall-clock seconds of virtual time 0, so time-based suites (Tn) get a plausible time.
        # The RTC: unix time in ms at virtual time 0 (it runs with the board's clock).
        self.unix_ms0 = 1000 * (int(time.time()) if unix_time is None else unix_time)
        # rtc_set=False: a board whose real-time clock nobody set yet (unix_time() is None, as
        # MachineHal reads an RTC that still counts from its reset value) until SET_TIME.
        self.rtc_set = rtc_set

    # --- buses ---
    def i2c_write(self, addr: int, data: bytes | bytearray | memoryview) -> None:
        # The model acknowledges its own address only; others raise OSError(ENODEV) as
        # machine.I2C does when nobody answers.
        self.i2c_writes += 1
        self.display.i2c_write(addr, data)

    def _new_display(self) -> Ssd1306Model:
        return Ssd1306Model(self.width, self.height, addr=self.display_addr)

    def battery_mv(self) -> int | None:
        return self._battery_mv

    def unix_time(self) -> int | None:
        if not self.rtc_set:
            return None
        return (self.unix_ms0 + self.clock.now()) // 1000

    def set_unix_time(self, seconds: int) -> None:
        """The RTC is set (SET_TIME): it reads `seconds` now and runs on with the clock."""
        self.unix_ms0 = 1000 * int(seconds) - self.clock.now()
        self.rtc_set = True

    # --- power ---
    def power_on_reset(self) -> None:
        """Power comes back: pins float, the display controller starts blank, RAM is gone."""
        self.gpio.reset_pins()
        self.display = self._new_display()
        self.serial.clear()
        self.led_on = False
        self.repl_locked = False

    def mcu_reset(self) -> None:
        """The microcontroller resets; the display keeps its own RAM until re-initialised."""
        self.gpio.reset_pins()
        self.serial.clear()
        self.led_on = False
        self.repl_locked = False

    def soft_reset(self) -> None:
        """MicroPython's soft reset: the VM restarts and pins go back to inputs; the serial
        line stays up (the host keeps talking) and the display keeps its RAM."""
        self.gpio.reset_pins()
        self.led_on = False
        self.repl_locked = False

    def pixels(self) -> Any:
        return self.display.pixels()

    def screen_text(self) -> str:
        from emulator.screen import screen_text

        if not self.display.is_on:
            return ""
        return str(screen_text(self.display.pixels(), self.width, self.height))
