"""The REPL on the card's serial line: what a terminal and `mpremote` find on a dev board.

On a MicroPython board the USB CDC / UART driver watches the incoming bytes for Ctrl-C: one
interrupts whatever runs (`main.py`, here the firmware) with KeyboardInterrupt, and the line
then speaks MicroPython's REPL. `Console` reproduces that line protocol byte for byte as
`pyexec.c` does it, and has the runtime execute the code (on the MicroPython runtime inside
the unix-port VM that runs the firmware, on the CPython runtime in CPython):

- friendly REPL: `>>> ` prompt, echo, backspace, `... ` continuation lines, Ctrl-C clears
  the line, Ctrl-E paste mode, Ctrl-B prints the banner again;
- raw REPL (Ctrl-A): code up to Ctrl-D, answered `OK`, stdout, `\\x04`, the traceback,
  `\\x04`, then the `>` prompt; Ctrl-C clears, Ctrl-B back to friendly;
- raw-paste mode (Ctrl-E `A` Ctrl-A in the raw REPL): `R\\x01`, the window size (uint16 LE),
  a `\\x01` each time a window was consumed, `\\x04` to acknowledge the end of the code;
- Ctrl-D on an empty line soft-resets: in the friendly REPL the firmware boots again (what
  `main.py` does on a board), in the raw REPL the VM restarts and stays in the raw REPL (a
  board skips `main.py` in raw mode). `sys.exit()` and `machine.soft_reset()` do the same;
  `machine.reset()` resets the board (the firmware boots).

A production or LOCKed card has called `lock_repl()` (`micropython.kbd_intr(-1)` on a
board): Ctrl-C is then an ordinary byte for the firmware and the REPL cannot be reached.
Output is "cooked" as a board's console does it: `\\n` goes out as `\\r\\n`.
"""

from __future__ import annotations

import codeop
import struct
import threading
import warnings
from collections.abc import Callable
from typing import Protocol

from emulator.serialport import SerialLine

FIRMWARE = "firmware"     # the firmware runs; the REPL is not on the line
FRIENDLY = "friendly"
PASTE = "paste"           # the friendly REPL's Ctrl-E paste mode
RAW = "raw"
RAW_PASTE = "raw-paste"
BOOT_FIRMWARE = "boot"    # Console.step()'s request: soft reset into the firmware

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
SOFT_REBOOT = b"MPY: soft reboot\r\n"
RAW_PASTE_WINDOW = 512    # bytes the host may send before it waits for a \x01
INTERRUPTED = (b"Traceback (most recent call last):\r\n  File \"main.py\", in <module>\r\n"
               b"KeyboardInterrupt: \r\n")
CTRL_A, CTRL_B, CTRL_C, CTRL_D, CTRL_E = 1, 2, 3, 4, 5
BACKSPACE = (0x08, 0x7F)
ESC = 0x1B


class SoftReset(BaseException):  # control flow, like SystemExit
    """REPL code asked for a soft reset (`sys.exit()`, `machine.soft_reset()`)."""


class MainEnded(BaseException):  # control flow, like SystemExit
    """main.py ended on a card that boots from its flash: the board now sits at its REPL.
    `text` is what a board prints then (the traceback; "" when main.py returned or is missing)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class ReplRuntime(Protocol):
    def repl_enter(self) -> str: ...
    def repl_exec(self, code: str, single: bool, out: Callable[[bytes], None]) -> str | None: ...
    def repl_interrupt(self) -> None: ...
    def repl_reset(self) -> None: ...


class Console:
    """The REPL side of one board's serial line (driven by the scheduler's steps)."""

    def __init__(self, line: SerialLine, runtime: ReplRuntime, locked: Callable[[], bool],
                 title: str) -> None:
        self.line = line
        self.runtime = runtime
        self.locked = locked
        self.title = title
        self.mode = FIRMWARE
        self.pending = False  # a Ctrl-C arrived while the firmware ran
        self.interrupts = 0   # times the firmware was interrupted (tests, figures)
        self._lock = threading.Lock()
        self._executing = False
        self._text = bytearray()  # the friendly line being typed, or raw/paste code
        self._block: list[str] = []  # friendly continuation lines
        self._esc = 0  # inside an escape sequence (arrow keys): 1 after ESC, 2 after ESC [
        self._window = 0

    # --- called by the serial line (host thread) ---
    def intercept(self) -> bool:
        """A Ctrl-C came in: interrupt the firmware or running REPL code (True: byte taken)."""
        with self._lock:
            if self.mode == FIRMWARE:
                if self.locked():
                    return False  # kbd_intr(-1): just a byte for the firmware
                self.pending = True
                return True
            if self._executing:
                self.runtime.repl_interrupt()
                return True
            return False  # at a prompt Ctrl-C is an editing key

    # --- called by the scheduler (board thread) ---
    @property
    def active(self) -> bool:
        """The board's next step is the REPL's. A Ctrl-C that came while the firmware was
        still booting, before it locked the REPL, is dropped: the lock is in force first."""
        with self._lock:
            if self.pending and self.mode == FIRMWARE and self.locked():
                self.pending = False
            return self.mode != FIRMWARE or self.pending

    def reset(self) -> None:
        """The board (re)booted into the firmware."""
        with self._lock:
            self.mode = FIRMWARE
            self.pending = False
        self._text.clear()
        self._block.clear()

    def step(self) -> str | None:
        """Handle what arrived; BOOT_FIRMWARE when a soft reset hands the board back to the
        firmware (the input after it stays on the line). BoardReset passes through."""
        if self.mode == FIRMWARE:
            self._interrupted()
        data = self.line.card_read()
        for i, byte in enumerate(data):
            if self._feed(byte) == BOOT_FIRMWARE:
                self.line.card_unread(data[i + 1:])
                return BOOT_FIRMWARE
        return None

    # --- internals ---
    def _interrupted(self) -> None:
        self.interrupts += 1
        self._to_friendly(INTERRUPTED)

    def main_ended(self, text: str) -> None:
        """main.py ended (booting from flash): as pyexec does, its traceback, then the REPL."""
        self._to_friendly(text.replace("\r\n", "\n").replace("\n", "\r\n").encode())

    def _to_friendly(self, said: bytes) -> None:
        with self._lock:
            self.pending = False
            self.mode = FRIENDLY
        self._text.clear()
        self._block.clear()
        self._w(said + self._banner() + b">>> ")

    def _banner(self) -> bytes:
        vm = self.runtime.repl_enter()  # sets the REPL up if this VM has none yet
        return (f"{vm}; {self.title} (OpenDSC emulator)\r\n"
                'Type "help()" for more information.\r\n').encode()

    def _w(self, data: bytes) -> None:
        self.line.card_write(data)

    def _out(self, data: bytes) -> None:
        self._w(data.replace(b"\n", b"\r\n"))

    def _run(self, code: str, single: bool) -> str | None:
        """Execute; the traceback text on an exception. SoftReset and BoardReset pass."""
        with self._lock:
            self._executing = True
        try:
            return self.runtime.repl_exec(code, single, self._out)
        finally:
            with self._lock:
                self._executing = False

    def _feed(self, c: int) -> str | None:
        if self.mode == FRIENDLY:
            return self._friendly(c)
        if self.mode == PASTE:
            return self._paste(c)
        if self.mode == RAW:
            self._raw(c)
        else:
            self._raw_paste(c)
        return None

    # --- friendly REPL ---
    def _friendly(self, c: int) -> str | None:
        if self._esc:
            self._esc = 2 if (self._esc == 1 and c == 0x5B) else 0 if c >= 0x40 else self._esc
            return None
        if c == CTRL_A:
            self._w(b"\r\n")
            self._to_raw()
        elif c == CTRL_B:
            self._text.clear()
            self._block.clear()
            self._w(b"\r\n" + self._banner() + b">>> ")
        elif c == CTRL_C:
            self._text.clear()
            self._block.clear()
            self._w(b"\r\n>>> ")
        elif c == CTRL_D:
            if not self._text and not self._block:
                self._w(b"\r\n" + SOFT_REBOOT)
                return BOOT_FIRMWARE
        elif c == CTRL_E:
            self._text.clear()
            self._block.clear()
            self.mode = PASTE
            self._w(b"\r\npaste mode; Ctrl-C to cancel, Ctrl-D to finish\r\n=== ")
        elif c == 0x0D:
            return self._enter()
        elif c in BACKSPACE:
            if self._text:
                del self._text[-1]
                self._w(b"\x08 \x08")
        elif c == ESC:
            self._esc = 1
        elif c >= 0x20 or c == 0x09:
            self._text.append(c)
            self._w(bytes((c,)))
        return None  # other control bytes (and a terminal's \n after \r) are ignored

    def _enter(self) -> str | None:
        text = self._text.decode(errors="replace")
        self._text.clear()
        self._w(b"\r\n")
        if self._block:
            if text.strip():
                self._block.append(text)
                self._w(b"... ")
                return None
            src = "\n".join(self._block) + "\n"
            self._block.clear()
            return self._friendly_exec(src, True)
        if not text.strip():
            self._w(b">>> ")
            return None
        if _incomplete(text):
            self._block.append(text)
            self._w(b"... ")
            return None
        return self._friendly_exec(text, True)

    def _friendly_exec(self, src: str, single: bool) -> str | None:
        try:
            tb = self._run(src, single)
        except SoftReset:
            self._w(SOFT_REBOOT)
            return BOOT_FIRMWARE
        if tb:
            self._out(tb.encode())
        self._w(b">>> ")
        return None

    def _paste(self, c: int) -> str | None:
        if c == CTRL_C:
            self._text.clear()
            self.mode = FRIENDLY
            self._w(b"\r\n>>> ")
        elif c == CTRL_D:
            src = self._text.decode(errors="replace")
            self._text.clear()
            self.mode = FRIENDLY
            self._w(b"\r\n")
            return self._friendly_exec(src, False)
        elif c == 0x0D:
            self._text.append(0x0A)
            self._w(b"\r\n=== ")
        elif c >= 0x20 or c == 0x09:
            self._text.append(c)
            self._w(bytes((c,)))
        return None

    # --- raw REPL ---
    def _to_raw(self) -> None:
        self.mode = RAW
        self._text.clear()
        self._w(RAW_BANNER + b">")

    def _raw(self, c: int) -> None:
        if c == CTRL_A:
            if bytes(self._text) == b"\x05A":
                self._text.clear()
                self.mode = RAW_PASTE
                self._window = RAW_PASTE_WINDOW
                self._w(b"R\x01" + struct.pack("<H", RAW_PASTE_WINDOW))
            else:
                self._to_raw()
        elif c == CTRL_B:
            self.mode = FRIENDLY
            self._text.clear()
            self._w(b"\r\n" + self._banner() + b">>> ")
        elif c == CTRL_C:
            self._text.clear()
        elif c == CTRL_D:
            self._w(b"OK")
            if not self._text:
                self._w(b"\r\n")
                self._raw_soft_reset()
                return
            code = self._text.decode(errors="replace")
            self._text.clear()
            self._raw_exec(code)
        else:
            self._text.append(c)

    def _raw_paste(self, c: int) -> None:
        if c == CTRL_D:
            self._w(b"\x04")  # end of data acknowledged
            code = self._text.decode(errors="replace")
            self._text.clear()
            self.mode = RAW
            self._raw_exec(code)
            return
        if c == CTRL_C:
            self._text.clear()
            self.mode = RAW
            self._w(b"\x04\x04KeyboardInterrupt: \r\n\x04>")
            return
        self._text.append(c)
        self._window -= 1
        if self._window == 0:  # the host may send another window
            self._window = RAW_PASTE_WINDOW
            self._w(b"\x01")

    def _raw_exec(self, code: str) -> None:
        try:
            tb = self._run(code, False)
        except SoftReset:
            self._w(b"\x04\x04" + SOFT_REBOOT)
            self._raw_soft_reset(announce=False)
            return
        self._w(b"\x04")
        if tb:
            self._out(tb.encode())
        self._w(b"\x04>")

    def _raw_soft_reset(self, announce: bool = True) -> None:
        # A board restarts its VM and, in raw mode, skips main.py: the firmware stays down.
        if announce:
            self._w(SOFT_REBOOT)
        self.runtime.repl_reset()
        self.runtime.repl_enter()
        self._to_raw()


def _incomplete(src: str) -> bool:
    """Does the friendly REPL wait for more lines (an open block, bracket or string)?"""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return codeop.compile_command(src, "<stdin>", "single") is None
    except (SyntaxError, ValueError, OverflowError):
        return False  # let the runtime report it
