"""Drives the firmware on a virtual board: when to step, and when keys change.

The firmware's `App.step()` returns how many ms until it next needs to run, or -1 when the
card is off. The scheduler steps it, then moves time on to whichever comes first: that
moment, or the next input event (a key contact closing/opening, serial bytes arriving). An
off card (-1) is asleep: only the POWER key or serial traffic wake it, as lightsleep's pin
and USB wake-ups do on a board; other keys pressed meanwhile go unseen.

Key presses are scheduled as contact events, with contact bounce: a press closes the
switch, chatters open/closed once per ms for `bounce_ms`, then stays closed (a release
likewise), so the firmware's debounce is exercised, not bypassed.

A Ctrl-C from the host on a dev card hands the board to the REPL (`emulator/repl.py`): the
scheduler then feeds the serial input to the `Console` instead of stepping the firmware, until
a soft reset or a reset boots the firmware again.

Virtual time (`run_until`) runs as fast as the firmware steps. On the wall clock
(`start_realtime`) a background thread does the same at the host's pace; callers then share
the board under `lock`.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable
from typing import Protocol

from emulator.board import VirtualBoard
from emulator.clock import VirtualClock, WallClock
from emulator.errors import EmulatorError
from emulator.flashmem import PowerCut
from emulator.hal import BoardReset
from emulator.repl import BOOT_FIRMWARE, Console, MainEnded, ReplRuntime

MAX_ZERO_STEPS = 1000  # steps returning 0 at one instant before time is forced on by 1 ms


class Runtime(ReplRuntime, Protocol):
    def boot(self, cold: bool, main: bool = True) -> None: ...
    def step(self) -> int: ...
    def close(self) -> None: ...


class Scheduler:
    def __init__(self, board: VirtualBoard, runtime: Runtime) -> None:
        self.board = board
        self.runtime = runtime
        self.lock = threading.RLock()
        self.kick = threading.Condition(self.lock)  # input arrived (wall-clock thread)
        self._events: list[tuple[int, int, str, bool]] = []  # (time, seq, key, closed)
        self._seq = 0
        self.next_run: int | None = None  # None: asleep (card off)
        self.steps = 0
        self.boots = 0
        self._zero_steps = 0
        self._thread: threading.Thread | None = None
        self._stop = False
        self.error: BaseException | None = None  # what killed the wall-clock thread
        board.serial.on_input.append(self._on_serial)
        self.console = Console(board.serial, runtime, lambda: board.repl_locked,
                               str(board.board.get("title", board.name)))
        board.serial.interrupt = self.console.intercept

    # --- power ---
    def boot(self, cold: bool = True) -> None:
        """Power-on (cold) or reset (warm): the firmware starts over, time goes on."""
        with self.lock:
            if cold:
                self.board.power_on_reset()
            else:
                self.board.mcu_reset()
            self._start_firmware(cold)

    def _start_firmware(self, cold: bool) -> None:
        self.console.reset()
        self.runtime.boot(cold)
        self.boots += 1
        self.next_run = self.board.clock.now()
        self._zero_steps = 0

    def soft_reset(self) -> None:
        """A soft reset into the firmware (Ctrl-D at the REPL): the VM restarts, the serial
        line and the display keep what they hold."""
        with self.lock:
            self.board.soft_reset()
            self._start_firmware(cold=False)

    # --- input ---
    def key_events(self, key: str, t_down: int, t_up: int | None, bounce_ms: int) -> None:
        """Schedule a press at t_down (released at t_up unless None), bouncing bounce_ms."""
        if key not in self.board.gpio.switches:
            raise EmulatorError(f"no key {key!r} on board {self.board.name}; "
                                f"keys: {' '.join(self.board.keys)}")
        with self.lock:
            self._contact(key, t_down, True, bounce_ms)
            if t_up is not None:
                self._contact(key, max(t_up, t_down + bounce_ms + 1), False, bounce_ms)
            self.kick.notify_all()

    def key_change(self, key: str, closed: bool, bounce_ms: int = 0,
                   at: int | None = None) -> None:
        """Press or release now, or at board time `at` if that is later (the window)."""
        with self.lock:
            now = self.board.clock.now()
            self._contact(key, now if at is None else max(now, at), closed, bounce_ms)
            self.kick.notify_all()

    def release_all(self) -> None:
        with self.lock:
            self._events.clear()
            self.board.gpio.release_all()

    def _contact(self, key: str, t: int, closed: bool, bounce_ms: int) -> None:
        for i in range(bounce_ms):
            self._push(t + i, key, closed if i % 2 == 0 else not closed)
        self._push(t + bounce_ms, key, closed)

    def _push(self, t: int, key: str, closed: bool) -> None:
        self._seq += 1
        heapq.heappush(self._events, (t, self._seq, key, closed))

    def _on_serial(self) -> None:
        with self.lock:
            self.kick.notify_all()

    # --- virtual time ---
    def run_until(self, t_end: int, done: Callable[[], bool] | None = None) -> None:
        """Run the board in virtual time up to t_end (inclusive), or until done()."""
        clock = self.board.clock
        if not isinstance(clock, VirtualClock):
            raise EmulatorError("the board runs on the wall clock")
        with self.lock:
            while not (done is not None and done()):
                now = clock.now()
                self._apply_due(now)
                if self.next_run is not None and self.next_run <= now:
                    self._step(now)
                    continue
                t_next = self._next_time(t_end)
                if t_next <= now:
                    return  # t_end reached and nothing more is due at it
                clock.advance_to(t_next)

    def _next_time(self, t_end: int) -> int:
        times = [t_end]
        if self.next_run is not None:
            times.append(self.next_run)
        if self._events:
            times.append(self._events[0][0])
        return min(times)

    def _apply_due(self, now: int) -> None:
        gpio = self.board.gpio
        while self._events and self._events[0][0] <= now:
            _, _, key, closed = heapq.heappop(self._events)
            gpio.set_switch(key, closed)
            if self.next_run is None:
                if key == "POWER" and closed:
                    self.next_run = now  # the POWER pin wakes the sleeping board
            elif self.next_run > now:
                self.next_run = now  # an input change: let the firmware look at once
        if self.next_run is None and (self.board.serial.card_pending() or self.console.pending):
            self.next_run = now  # serial traffic wakes the board too

    def _step(self, now: int) -> None:
        if self.console.active:
            self._repl_step(now)
            return
        try:
            ms = self.runtime.step()
        except BoardReset:
            self.boot(cold=False)
            return
        except MainEnded as e:  # booting from flash, main.py stopped: the REPL has the line
            self.console.main_ended(e.text)
            self.next_run = now if self.board.serial.card_pending() else None
            return
        except PowerCut:
            self.boot(cold=True)  # the power comes back at once; the caller hears of the cut
            raise
        self.steps += 1
        if ms < 0:
            self.next_run = None
            return
        if ms == 0:
            self._zero_steps += 1
            if self._zero_steps >= MAX_ZERO_STEPS:
                ms, self._zero_steps = 1, 0
        else:
            self._zero_steps = 0
        self.next_run = now + ms

    def _repl_step(self, now: int) -> None:
        # The firmware is interrupted: serial input goes to the REPL, which sleeps in between.
        try:
            action = self.console.step()
        except BoardReset:  # machine.reset()
            self.boot(cold=False)
            return
        except PowerCut:
            self.boot(cold=True)
            raise
        if action == BOOT_FIRMWARE:
            self.soft_reset()
            return
        self.next_run = now if self.board.serial.card_pending() else None

    # --- wall clock ---
    def start_realtime(self) -> None:
        """From now on the board follows the host's clock, run by a background thread."""
        with self.lock:
            if self._thread is not None:
                return
            board = self.board
            board.clock = WallClock(board.clock.now(), board.clock.offset)
            self._stop = False
            self._thread = threading.Thread(target=self._realtime_loop, name="dsc-board",
                                            daemon=True)
            self._thread.start()

    def stop_realtime(self) -> None:
        with self.lock:
            thread, self._thread = self._thread, None
            self._stop = True
            self.kick.notify_all()
        if thread is not None:
            thread.join(timeout=5)

    @property
    def realtime(self) -> bool:
        return self._thread is not None

    def _realtime_loop(self) -> None:
        clock = self.board.clock
        with self.lock:
            while not self._stop:
                now = clock.now()
                self._apply_due(now)
                if self.next_run is not None and self.next_run <= now:
                    try:
                        self._step(now)
                    except PowerCut:
                        pass  # already rebooted; a wall-clock user sees the card restart
                    except BaseException as e:  # keep it for the API to re-raise
                        self.error = e
                        self.next_run = None
                        return
                    continue
                t_next = self._next_time(now + 1000)
                # To the instant the clock reaches t_next: woken by input in the middle of a
                # ms, a wait of whole ms from then would put the firmware's next poll up to
                # 1 ms late, so a request's last bytes waited nearly two poll periods.
                wait = (clock.seconds_until(t_next) if isinstance(clock, WallClock)
                        else max(0, t_next - clock.now()) / 1000)
                self.kick.wait(timeout=wait)

    def close(self) -> None:
        self.stop_realtime()
        self.board.serial.interrupt = None
        self.runtime.close()
        try:
            self.board.serial.on_input.remove(self._on_serial)
        except ValueError:
            pass
