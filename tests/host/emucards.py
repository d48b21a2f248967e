"""Emulated cards for the service-protocol tests: the same surface as `fakes.Card`, backed by a
whole emulated board (`emulator.Emulator`) on either runtime, so the tests that use it prove the
firmware's behaviour on CPython *and* on the MicroPython VM it ships on.

    card = EmuCard("micropython", provisioned=True)
    card.ask(P.CMD_INFO)        # one frame in, its one answer out
    card.advance(1000)          # virtual time passes on the card
    card.files, card.state()    # its flash
    card.record()               # the record its flash holds (None: blank)

`feed()` writes the bytes to the card's serial port and runs the board in virtual time until the
firmware has read them (the step that reads a frame also answers it), so each exchange costs the
card a serial poll period or less of virtual time, as on a board.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from dsc import record
from fakes import ADMIN_KEY, SECRET, SERIAL, SUITE, FakeHal, PortableCard

from emulator import Emulator

RUNTIMES = ("cpython", "micropython")


class EmuCard(PortableCard):
    """An emulated board with the surface of `fakes.Card` (see `fakes.PortableCard`)."""

    def __init__(self, runtime: str, provisioned: bool = False, seed: int = 1,
                 production: bool = False) -> None:
        self.runtime = runtime
        self.seed = seed
        key = SECRET if provisioned else None
        self.emu = Emulator(runtime=runtime, key=key, suite=SUITE, serial_number=SERIAL,
                            admin_key=ADMIN_KEY, seed=seed, production=production)
        self.line = self.emu.board.serial

    # --- the wire ---
    def feed(self, data: bytes) -> bytes:
        line = self.line
        line.host_write(data)
        self.emu.scheduler.run_until(self.emu.now() + 1000, lambda: line.card_pending() == 0)
        return line.host_read()

    # --- time, power ---
    def advance(self, ms: int) -> None:
        self.emu.advance(ms)

    def reboot(self, trng_restarts: bool = False) -> None:
        """A reset on the same flash; `trng_restarts`: the "TRNG" starts its sequence over."""
        self.line.host_read()
        if trng_restarts:
            self.emu.runtime.hal._rng = random.Random(self.seed)
        self.emu.reboot()

    def restore(self, files: dict[str, bytes]) -> None:
        """Put a flash snapshot back and power-cycle: a fresh card in that state."""
        self.emu.flash.restore(files)
        self.emu.power_cut()
        self.line.host_read()

    @property
    def boots(self) -> int:
        return self.emu.scheduler.boots

    # --- what the card holds ---
    @property
    def files(self) -> dict[str, bytes]:
        return self.emu.flash.files

    def record(self) -> record.Record | None:
        """The record on the card's flash; None for a blank card or one that fails its check."""
        try:
            return record.load(FakeHal(files=dict(self.files)))  # a copy: nothing written back
        except record.RecordError:
            return None

    def fill_flash(self) -> None:
        """A file takes every free block: the next write fails with ENOSPC."""
        self.files["filler"] = bytes(self.emu.flash.free())

    @property
    def repl_locked(self) -> bool:
        return bool(self.emu.board.repl_locked)

    def close(self) -> None:
        self.emu.close()

    def __enter__(self) -> EmuCard:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


MakeCard = Callable[..., EmuCard]  # the make_card fixture (tests/host/conftest.py)
