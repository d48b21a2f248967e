"""Doubles for the service-protocol tests: a fake HAL, a fake App and an in-process transport.

`FakeApp` keeps to App's side of the "Service handler <-> App" contract in docs/architecture.md
(record, record_error, production, replace_record, request_reboot) and nothing else, so the
handler is tested on exactly that interface.
"""

from __future__ import annotations

import random
from typing import Any

from dsc import protocol as P
from dsc import record
from dsc.hal import Hal
from dsc.service import Service

from host_tools.transport import Transport

BOARD = {"name": "pico", "usb": [0x2E8A, 0x0005]}
SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"
SECRET = bytes(range(0x30, 0x50))          # 32 bytes
ADMIN_KEY = bytes(range(0xA0, 0xC0))       # 32 bytes
SERIAL = "DSC00000042"


class FakeHal(Hal):
    def __init__(self, seed: int = 1, files: dict[str, bytes] | None = None) -> None:
        self.board = dict(BOARD)
        self.t = 1000
        self.files: dict[str, bytes] = {} if files is None else files
        self.rx = bytearray()
        self.tx = bytearray()
        self.seed = seed
        self.rng = random.Random(seed)
        self.fail_writes = False
        self.repl_locked = False
        self.clock: int | None = None  # the RTC (unix seconds), None: never set
        self.rtc_fails = False

    def ticks_ms(self) -> int:
        return self.t

    def unix_time(self) -> int | None:
        return self.clock

    def set_unix_time(self, seconds: int) -> None:
        if self.rtc_fails:
            raise OSError(5, "RTC write failed")
        self.clock = seconds

    def fs_read(self, name: str) -> bytes | None:
        return self.files.get(name)

    def fs_write(self, name: str, data: Any) -> None:
        if self.fail_writes:
            raise OSError(28, "no space left")
        self.files[name] = bytes(data)

    def fs_rename(self, src: str, dst: str) -> None:
        self.files[dst] = self.files.pop(src)

    def fs_remove(self, name: str) -> None:
        self.files.pop(name, None)

    def fs_free(self) -> int:
        return 1_000_000

    def serial_read(self) -> bytes:
        data = bytes(self.rx)
        self.rx.clear()
        return data

    def serial_write(self, data: Any) -> None:
        self.tx.extend(data)

    def random_bytes(self, n: int) -> bytes:
        return self.rng.randbytes(n)

    def battery_mv(self) -> int:
        return 3700

    def lock_repl(self) -> None:
        self.repl_locked = True


class FakeApp:
    def __init__(self, hal: FakeHal, production: bool = False) -> None:
        self.hal = hal
        self.production = production
        self.record: record.Record | None = None
        self.record_error: str | None = None
        self.reboots = 0
        try:
            self.record = record.load(hal)
        except record.RecordError as e:
            self.record_error = str(e)
        self._check_lock()

    def replace_record(self, rec: record.Record | None) -> None:
        self.record = rec
        self.record_error = None
        self._check_lock()

    def request_reboot(self) -> None:
        self.reboots += 1

    def _check_lock(self) -> None:
        if self.record is not None and self.record.locked:
            self.production = True
            self.hal.lock_repl()


class PortableCard:
    """What the service-protocol tests do with a card, the same for the fake `Card` and the
    emulated `emucards.EmuCard` (either runtime): each gives `feed()` and `files`, and the
    rest of the portable surface (ask, state, advance, reboot, record, repl_locked, boots)."""

    def feed(self, data: bytes) -> bytes:
        """Everything the card writes back after `data` arrived."""
        raise NotImplementedError

    @property
    def files(self) -> dict[str, bytes]:
        """The card's flash, file by file."""
        raise NotImplementedError

    def ask(self, ftype: int, payload: bytes = b"", rid: int = 7) -> tuple[int, int, bytes]:
        """Send one frame, return (type, request id, payload) of the one answer."""
        frames = P.Deframer().feed(self.feed(P.encode(ftype, rid, payload)))
        assert len(frames) == 1, frames
        err, rtype, rrid, rpayload = frames[0]
        assert err == 0
        return rtype, rrid, rpayload

    def state(self) -> dict[str, bytes]:
        """The card's persistent state that counts (the AUTH failure counter aside)."""
        return {k: v for k, v in self.files.items() if not k.startswith("authfail")}


class Card(PortableCard):
    """A fake card: HAL + App + the real Service. `reboot()` keeps the flash only."""

    def __init__(self, provisioned: bool = False, seed: int = 1) -> None:
        self.hal = FakeHal(seed)
        self._boots = 0
        if provisioned:
            record.save(self.hal, record.Record(SERIAL, SUITE, SECRET, ADMIN_KEY))
        self._boot()

    def _boot(self) -> None:
        self._boots += 1
        self.app = FakeApp(self.hal)
        self.service = Service(self.hal, self.app)

    def advance(self, ms: int) -> None:
        self.hal.t += ms

    @property
    def files(self) -> dict[str, bytes]:
        return self.hal.files

    def record(self) -> record.Record | None:
        return self.app.record

    def fill_flash(self) -> None:
        self.hal.fail_writes = True

    @property
    def repl_locked(self) -> bool:
        return self.app.production and self.hal.repl_locked

    @property
    def boots(self) -> int:
        """Boots, counting each reboot the card asked for (FakeApp only counts them)."""
        return self._boots + self.app.reboots

    def reboot(self, trng_restarts: bool = False) -> None:
        """Boot again on the same flash; `trng_restarts`: the "TRNG" starts its sequence over
        (a weak RNG on a board that seeds it the same way at every boot)."""
        self.hal.rx.clear()
        self.hal.tx.clear()
        if trng_restarts:
            self.hal.rng = random.Random(self.hal.seed)
        self._boot()

    def feed(self, data: bytes) -> bytes:
        self.hal.rx.extend(data)
        self.service.poll()
        out = bytes(self.hal.tx)
        self.hal.tx.clear()
        return out


def error_code(answer: tuple[int, int, bytes]) -> int:
    rtype, _rid, payload = answer
    assert rtype == P.RSP_ERROR, answer
    return P.tlv_decode(payload)[P.T_CODE][0]


class CardTransport(Transport):
    """The host side of a fake card: send() feeds the handler, receive() returns its output.

    `drop` answers are swallowed (the first ones), `noise` is prepended to every answer."""

    def __init__(self, card: Card, drop: int = 0, noise: bytes = b"") -> None:
        self.card = card
        self.pending = bytearray()
        self.drop = drop
        self.noise = noise
        self.closed = False

    def send(self, data: bytes) -> None:
        out = self.card.feed(data)
        if self.drop > 0:
            self.drop -= 1
            return
        self.pending.extend(self.noise + out)

    def receive(self, timeout: float) -> bytes:
        data = bytes(self.pending)
        self.pending.clear()
        return data

    def close(self) -> None:
        self.closed = True
