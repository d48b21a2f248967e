"""The emulator's Python API: one virtual card, driven like a person would.

    from emulator import Emulator
    with Emulator(board="pico", key=secret) as card:
        card.hold("POWER", 1500); card.type("1234"); card.press("OK")
        card.type("123456"); card.press("OK"); print(card.screen_text())

Times are virtual milliseconds: `advance(60000)` takes as long as the firmware needs to step
through a minute, not a minute. With `serial="pty"|"tcp"` the board instead runs on the wall
clock in a background thread, so a host tool can talk to it over the port meanwhile; the same
calls then take real time.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from dsc import record

from emulator.board import VirtualBoard
from emulator.errors import EmulatorError
from emulator.flashmem import Flash
from emulator.scheduler import Scheduler
from emulator.serialport import InProcessTransport, check_baud, open_port
from host_tools import announce as announcements

DEFAULT_SUITE = record.DEFAULT_SUITE
DEFAULT_SERIAL_NUMBER = "DSC00000001"
PRESS_MS = 80    # a normal finger press
POWER_ON_MS = 1200  # holding POWER to switch on: past the keypad's long press (dsc.keypad)
SETTLE_MS = 40   # after a release: the firmware's debounce (2 scans of 10 ms) and a margin
BOUNCE_MS = 5    # contact chatter after each press and release
RUNTIMES = ("cpython", "micropython")
BOOT_FROM = ("source", "flash")  # the firmware under firmware/, or what the card's flash holds


class Emulator:
    """One virtual card.

    board: a name under boards/ (or a BOARD dict); runtime: "cpython" (in-process) or
    "micropython" (the unix port, as a subprocess); key/suite/serial_number: provision the
    blank card with these through its service protocol (admin_key: the admin key it gets,
    random unless given, kept in `.admin_key`); state_dir: keep the flash there between
    runs; serial: "pty", "tcp" or "tcp:PORT" exposes the port (`serial_url`) and runs the
    board on the wall clock. Keyword-only extras: the record's pin_len/idle_ms/response_ms,
    production (a production build), bounce_ms (contact chatter per press/release), seed
    (a deterministic "TRNG"), unix_time (the board's clock at virtual time 0, for Tn suites;
    default: the host's time), rtc_set (False: the board's real-time clock is not set, as on
    a board fresh from the factory, until the service protocol's SET_TIME sets it),
    app_factory (a stand-in for dsc.app.App, CPython runtime only), baud (pace the `serial`
    port like a UART at that rate, 8N1, both directions; None: as fast as the host goes),
    wall_clock (run on the wall clock: default True with `serial`, False without; a scenario
    behind a serial port keeps virtual time with wall_clock=False, the host's bytes then
    reach the card as the steps run).
    announce (with `serial`: publish the port for discovery while the card runs, see
    `host_tools.announce`; `dsc emulator` does this, tests usually do not).
    """

    def __init__(self, board: str | dict[str, Any] = "pico", runtime: str = "cpython",
                 key: bytes | None = None, suite: str = DEFAULT_SUITE,
                 serial_number: str | None = None, state_dir: str | Path | None = None,
                 serial: str | None = None, *, admin_key: bytes | None = None,
                 pin_len: int = record.DEFAULT_PIN_LEN, idle_ms: int = record.DEFAULT_IDLE_MS,
                 response_ms: int = record.DEFAULT_RESPONSE_MS,
                 production: bool = False, bounce_ms: int = BOUNCE_MS,
                 seed: int | None = None, unix_time: int | None = None,
                 app_factory: Any = None, baud: int | None = None,
                 wall_clock: bool | None = None, rtc_set: bool = True,
                 boot_from: str = "source", announce: bool = False) -> None:
        if runtime not in RUNTIMES:
            raise EmulatorError(f"unknown runtime {runtime!r}: use {' or '.join(RUNTIMES)}")
        _check_boot_from(boot_from, runtime)
        self.boot_from = boot_from
        _check_baud(baud, serial)
        self.runtime_name = runtime
        self.baud = baud
        self.bounce_ms = bounce_ms
        self.board = VirtualBoard(board, state_dir=state_dir, unix_time=unix_time,
                                  rtc_set=rtc_set)
        self.runtime = _make_runtime(runtime, self.board, production, seed, app_factory,
                                     boot_from)
        self.scheduler = Scheduler(self.board, self.runtime)
        self._port: Any = None
        self._announced: Path | None = None
        self.announce_error: str | None = None  # why announce=True could not announce
        self.serial_number = serial_number or DEFAULT_SERIAL_NUMBER
        # The card's admin key (what provisioning gave it): tests use it for AUTH.
        self.admin_key = admin_key if admin_key is not None else os.urandom(32)
        try:
            self.scheduler.boot(cold=True)
            self.advance(0)
            if key is not None:
                self._provision(key, suite, pin_len, idle_ms, response_ms)
            if serial is not None:
                self._port = open_port(self.board.serial, serial, baud=baud)
            if wall_clock if wall_clock is not None else serial is not None:
                self.realtime()
                if announce:
                    self._announce(provisioned=key is not None)
        except BaseException:
            self.close()
            raise

    # --- the holder's hands ---
    def hold(self, key: str, ms: int) -> None:
        """Press `key`, keep it down for `ms`, release it, and let the firmware notice."""
        if ms <= self.bounce_ms:
            raise EmulatorError(f"a press must last longer than the {self.bounce_ms} ms bounce")
        t = self.now()
        self.scheduler.key_events(key, t, t + ms, self.bounce_ms)
        self._wait_until(t + ms + self.bounce_ms + SETTLE_MS)

    def press(self, key: str) -> None:
        self.hold(key, PRESS_MS)

    def type(self, digits: str) -> None:
        keys = [c for c in digits if not c.isspace()]
        for k in keys:
            self._check_key(k)
        for k in keys:
            self.press(k)

    def respond(self, pin: str, challenge: str) -> str:
        """A whole login as the holder makes it: hold POWER for `PIN>`, type the PIN, OK, the
        challenge, OK; the screen then (the response as shown, `1234 5678`), and POWER off."""
        self.hold("POWER", POWER_ON_MS)
        self.type(pin)
        self.press("OK")
        self.type(challenge)
        self.press("OK")
        shown = self.screen_text().strip()
        self.hold("POWER", PRESS_MS)
        return shown

    def key_down(self, key: str) -> None:
        """Press and keep holding (the window's mouse button): `key_up` releases."""
        self._check_key(key)
        self.scheduler.key_change(key, True, self.bounce_ms)

    def key_up(self, key: str, *, not_before: int | None = None) -> None:
        """Release now, or at board time `not_before` (ms, `now()`'s scale) if that is later:
        the window keeps a quick click down long enough for the firmware's debounce."""
        self._check_key(key)
        self.scheduler.key_change(key, False, self.bounce_ms, at=not_before)

    def advance(self, ms: int) -> None:
        """Let `ms` milliseconds pass (virtual ones unless the board runs on the wall clock)."""
        if ms < 0:
            raise EmulatorError("time only moves forward")
        self._wait_until(self.now() + ms)

    # --- what the holder sees ---
    def screen_text(self) -> str:
        with self.scheduler.lock:
            self._check_alive()
            return self.board.screen_text()

    def pixels(self) -> Any:
        with self.scheduler.lock:
            return self.board.pixels()

    @property
    def is_on(self) -> bool:
        return bool(self.board.display.is_on)

    def screenshot(self, path: str | Path, scale: int = 4) -> None:
        from emulator.screen import to_png

        with self.scheduler.lock:
            to_png(self.board.pixels(), str(path), scale=scale)

    # --- power ---
    def power_cut(self) -> None:
        """The battery drops out and comes back: RAM and display are lost, flash stays."""
        with self.scheduler.lock:
            self.scheduler.boot(cold=True)
        self.advance(0)

    def reboot(self) -> None:
        """The microcontroller resets (as hal.reset() or the reset button would)."""
        with self.scheduler.lock:
            self.scheduler.boot(cold=False)
        self.advance(0)

    def realtime(self) -> None:
        """Run on the wall clock from now on, in a background thread (the window does this)."""
        self.scheduler.start_realtime()

    # --- the host's side ---
    @property
    def serial_url(self) -> str | None:
        return self._port.url if self._port is not None else None

    def transport(self) -> InProcessTransport:
        """The card's serial port as a host_tools Transport (no pty or socket needed)."""
        return InProcessTransport(self.board.serial, self._run_until)

    @property
    def flash(self) -> Flash:
        return self.board.flash

    def now(self) -> int:
        return self.board.clock.now()

    # --- life cycle ---
    def close(self) -> None:
        if self._announced is not None:  # first: discovery must not find a closing port
            announcements.remove(self._announced)
            self._announced = None
        if self._port is not None:
            self._port.close()
            self._port = None
        self.scheduler.close()

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals ---
    def _announce(self, provisioned: bool) -> None:
        ann = announcements.Announcement(
            port=self._port.url, pid=os.getpid(), runtime=self.runtime_name,
            board=self.board.name, serial_number=self.serial_number if provisioned else None)
        try:
            self._announced = announcements.write(ann)
        except (announcements.AnnounceError, OSError, ValueError) as e:
            # The card works all the same: only discovery will not find it.
            self.announce_error = f"not announced for discovery: {e}"

    def _check_key(self, key: str) -> None:
        if key not in self.board.gpio.switches:
            raise EmulatorError(f"no key {key!r} on board {self.board.name}; "
                                f"keys: {' '.join(self.board.keys)}")

    def _check_alive(self) -> None:
        err = self.scheduler.error
        if err is not None:
            raise EmulatorError(f"the board stopped: {type(err).__name__}: {err}") from err

    def _wait_until(self, t: int) -> None:
        if not self.scheduler.realtime:
            self.scheduler.run_until(t)
            return
        clock = self.board.clock
        while clock.now() < t:
            self._check_alive()
            time.sleep(min(0.05, max(0.001, (t - clock.now()) / 1000)))
        self._check_alive()

    def _run_until(self, done: Any, timeout_ms: int) -> None:
        if not self.scheduler.realtime:
            self.scheduler.run_until(self.now() + timeout_ms, done)
            return
        deadline = time.monotonic() + timeout_ms / 1000
        arrived = self.board.serial.arrived
        with arrived:
            while not done():
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                arrived.wait(left)

    def _provision(self, key: bytes, suite: str, pin_len: int, idle_ms: int,
                   response_ms: int) -> None:
        # Through the card's own provisioning path: the service protocol over its serial port.
        from host_tools.client import CardClient

        client = CardClient(self.transport())
        info = client.info()
        if info.provisioned:
            if info.serial_number != self.serial_number:
                raise EmulatorError(f"the card is already provisioned as {info.serial_number}")
            return  # a card kept in state_dir: keep its record (and counter)
        client.provision(self.serial_number, suite, key, self.admin_key, pin_len=pin_len,
                         idle_ms=idle_ms, response_ms=response_ms)
        self.advance(SETTLE_MS)


def _check_baud(baud: int | None, serial: str | None) -> None:
    if baud is None:
        return
    try:
        check_baud(baud)
    except ValueError as e:
        raise EmulatorError(str(e)) from None
    if serial is None:
        raise EmulatorError("baud= paces the pty or TCP port: give serial= too")


def _check_boot_from(boot_from: str, runtime: str) -> None:
    if boot_from not in BOOT_FROM:
        raise EmulatorError(f"boot_from={boot_from!r}: use {' or '.join(BOOT_FROM)}")
    if boot_from == "flash" and runtime != "micropython":
        raise EmulatorError("booting from the card's flash needs runtime='micropython' "
                            "(the flash holds .mpy files, which only MicroPython runs)")


def _make_runtime(name: str, board: VirtualBoard, production: bool, seed: int | None,
                  app_factory: Any, boot_from: str = "source") -> Any:
    if name == "cpython":
        from emulator.runtime_cpython import CPythonRuntime

        return CPythonRuntime(board, production=production, seed=seed, app_factory=app_factory)
    if app_factory is not None:
        raise EmulatorError("app_factory works with the cpython runtime only")
    from emulator.runtime_mp import MicroPythonRuntime

    return MicroPythonRuntime(board, production=production, seed=seed, boot_from=boot_from)
