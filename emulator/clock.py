"""Clocks for the virtual board.

The firmware sees time only through `hal.ticks_ms()`/`hal.ticks_diff()`, which wrap like
MicroPython's `time.ticks_ms()` (a 30-bit period on every port). Inside the emulator time is
an unbounded millisecond count (`now()`); `ticks()` folds it into the firmware's range.

`VirtualClock` moves only when told (tests, scenarios, benchmarks: exact and instant).
`WallClock` follows the host's monotonic clock (the desktop window, and whenever a host tool
talks to the card over a pty or TCP port); it continues from a given start so that a board can
switch from virtual to wall time without its clock jumping back.
"""

from __future__ import annotations

import time

TICKS_PERIOD = 1 << 30  # MicroPython's TICKS_PERIOD (MICROPY_PY_TIME_TICKS_PERIOD)
TICKS_MAX = TICKS_PERIOD - 1
_TICKS_HALF = TICKS_PERIOD // 2


def ticks_diff(a: int, b: int) -> int:
    """a - b for two tick values, correct across one wrap (like time.ticks_diff)."""
    return ((a - b + _TICKS_HALF) & TICKS_MAX) - _TICKS_HALF


class Clock:
    """Common interface: `now()` in unbounded ms, `ticks()` folded like time.ticks_ms()."""

    realtime = False

    def __init__(self, offset: int = 0) -> None:
        # offset shifts ticks() against now(): tests use it to put a tick wrap in the middle
        # of a scenario.
        self.offset = offset

    def now(self) -> int:
        raise NotImplementedError

    def ticks(self) -> int:
        return (self.now() + self.offset) & TICKS_MAX


class VirtualClock(Clock):
    """Virtual milliseconds: time stands still until `advance_to`/`advance` moves it."""

    def __init__(self, start: int = 0, offset: int = 0) -> None:
        super().__init__(offset)
        self._now = start

    def now(self) -> int:
        return self._now

    def advance_to(self, t: int) -> None:
        if t < self._now:
            raise ValueError(f"virtual time cannot go back ({t} < {self._now})")
        self._now = t

    def advance(self, ms: int) -> None:
        if ms < 0:
            raise ValueError("cannot advance by a negative time")
        self._now += ms


class WallClock(Clock):
    """Milliseconds of the host's monotonic clock, counted on from `start`."""

    realtime = True

    def __init__(self, start: int = 0, offset: int = 0) -> None:
        super().__init__(offset)
        self._start = start
        self._t0 = time.monotonic()

    def now(self) -> int:
        return self._start + int((time.monotonic() - self._t0) * 1000)

    def seconds_until(self, t: int) -> float:
        """Host seconds until now() reaches t (0 when already there): to the instant, not in
        whole ms from now (which, from 2.9 ms, would wait for 4.9 ms to reach 3)."""
        return max(0.0, self._t0 + (t - self._start) / 1000 - time.monotonic())
