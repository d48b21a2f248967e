"""Provisioning cards into the registry over the service protocol.

For one card: INFO; allocate a serial number (a `blank` row: no secret recorded); seed from
`secrets`; admin key derived from the master admin key and the serial number; PROVISION; AUTH
with the new admin key; TEST with a random challenge and PIN, compared with the response the
firmware's OCRA computes here; only then `confirm_provisioned` stores the sealed seed and marks
the card provisioned. A card that fails midway is not recorded. The next run picks it up: a
still-blank card gets a fresh serial number, a card that kept its new serial number but never
confirmed it (`blank` in the registry) is provisioned again under that serial number, after AUTH
with its derived admin key.

Batch mode waits for each next card on the given ports (swap cards on one port, or give several
ports), skips cards whose serial number is already done, and stops at the first failure (the
summary says which card; running again resumes).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from dsc import record

from host_tools.confirm import ConfirmationFailed, confirm_seed
from host_tools.errors import DscError
from provisioning import lifecycle, ocra_check
from provisioning.errors import InvalidInputError, ProvisionFailed
from provisioning.registry import Registry

DeriveKey = Callable[[bytes, str], bytes]


class Info(Protocol):
    serial_number: str | None
    firmware: str
    board: str
    provisioned: bool


class Client(Protocol):
    """What provisioning needs of `host_tools.client.CardClient`."""

    def info(self) -> Any: ...
    def authenticate(self, admin_key: bytes) -> None: ...
    def provision(self, serial_number: str, suite: str, secret: bytes, admin_key: bytes,
                  pin_len: int = 4, idle_ms: int = 30000, response_ms: int = 60000) -> None: ...
    def test(self, challenge: str, pin: str | None = None, *,
             timestamp: int | None = None) -> str: ...
    def set_time(self, unix_time: int) -> int | None: ...
    def wipe(self) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class Provisioned:
    serial_number: str
    suite: str
    board: str
    firmware: str
    seconds: float
    resumed: bool          # True: a card left unconfirmed by an earlier run

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Options:
    suite: str = record.DEFAULT_SUITE
    batch: str | None = None
    pin_len: int = record.DEFAULT_PIN_LEN
    idle_ms: int = record.DEFAULT_IDLE_MS
    response_ms: int = record.DEFAULT_RESPONSE_MS


def provision_one(reg: Registry, client: Client, master_admin_key: bytes, derive: DeriveKey,
                  opts: Options) -> Provisioned:
    t0 = time.perf_counter()
    info = ocra_check.suite_info(opts.suite)
    card = client.info()
    resumed = bool(card.provisioned)
    if resumed:
        serial = _pending_serial(reg, card)
        admin_key = derive(master_admin_key, serial)
        _step(serial, "AUTH with its derived admin key", lambda: client.authenticate(admin_key))
    else:
        serial = reg.allocate_serial(opts.suite, board=card.board, firmware=card.firmware,
                                     batch=opts.batch, pin_len=opts.pin_len)
        admin_key = derive(master_admin_key, serial)
    seed = ocra_check.new_seed(info, reg.random)
    _step(serial, "PROVISION", lambda: client.provision(
        serial, opts.suite, seed, admin_key, pin_len=opts.pin_len, idle_ms=opts.idle_ms,
        response_ms=opts.response_ms))
    _step(serial, "AUTH", lambda: client.authenticate(admin_key))
    if info.time_step:  # a T suite computes with the card's clock: the registry's time
        _step(serial, "SET_TIME", lambda: client.set_time(reg.now()))
    _confirm(reg, client, serial, seed, info, opts)
    reg.confirm_provisioned(serial, seed=seed, admin_key=admin_key, suite=opts.suite,
                            board=card.board, firmware=card.firmware, batch=opts.batch,
                            pin_len=opts.pin_len)
    return Provisioned(serial, opts.suite, card.board, card.firmware,
                       round(time.perf_counter() - t0, 3), resumed)


def _pending_serial(reg: Registry, card: Info) -> str:
    serial = card.serial_number or "?"
    row = reg.db.one("SELECT status FROM cards WHERE serial_number = ?", (serial,))
    if row is None:
        raise ProvisionFailed(f"the card is already provisioned as {serial}, which this registry "
                              f"does not know: factory-reset it first (or import its PSKC)",
                              serial_number=serial)
    if row["status"] != lifecycle.BLANK:
        raise AlreadyDone(serial, row["status"])
    return serial


def _confirm(reg: Registry, client: Client, serial: str, seed: bytes,
             info: ocra_check.SuiteInfo, opts: Options) -> None:
    """TEST: the card must compute the response the registry expects from the new seed (the
    host tools' one confirmation path, on the registry's clock and random source)."""
    def test() -> None:
        try:
            confirm_seed(client, info.parsed, seed, pin_len=opts.pin_len, now=reg.now,
                         rng=reg.random)
        except ConfirmationFailed:
            raise ProvisionFailed(f"card {serial} answered TEST with a wrong response: it does "
                                  f"not hold the new secret; not recorded, run `dsc provision` "
                                  f"again", serial_number=serial) from None

    _step(serial, "TEST", test)


def _step(serial: str, what: str, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except DscError as e:
        raise ProvisionFailed(f"card {serial}: {what} failed ({e}); it is not recorded as "
                              f"provisioned: reconnect it and run `dsc provision` again",
                              serial_number=serial) from None


class AlreadyDone(ProvisionFailed):
    """The attached card is already provisioned in this registry (batch mode skips it)."""

    def __init__(self, serial_number: str, status: str) -> None:
        super().__init__(f"card {serial_number} is already provisioned (it is {status})",
                         serial_number=serial_number)
        self.status = status


# --- batch ----------------------------------------------------------------------------------
Opener = Callable[[str], Client]
Report = Callable[[str], None]


@dataclass
class Batch:
    wanted: int
    done: list[Provisioned]
    skipped: list[str]
    failed: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"cards": [p.as_json() for p in self.done], "skipped": self.skipped,
                "failed": self.failed}


def provision_batch(reg: Registry, ports: Sequence[str], opener: Opener, count: int,
                    master_admin_key: bytes, derive: DeriveKey, opts: Options, *,
                    wait: float = 300.0, poll: float = 0.5, report: Report = lambda s: None,
                    progress: Callable[[int, int], None] = lambda i, n: None) -> Batch:
    ocra_check.suite_info(opts.suite)  # a bad suite is refused before any card is touched
    if not 4 <= opts.pin_len <= 12:
        raise InvalidInputError("a PIN length must be 4 to 12", field="pin_len")
    batch = Batch(wanted=count, done=[], skipped=[])
    progress(0, count)
    while len(batch.done) < count:
        client = _next_card(reg, ports, opener, batch, wait, poll, report)
        if client is None:
            batch.failed = f"no new card within {wait:g} s"
            break
        try:
            batch.done.append(provision_one(reg, client, master_admin_key, derive, opts))
        except ProvisionFailed as e:
            batch.failed = str(e)
            break
        finally:
            client.close()
        report(f"provisioned {batch.done[-1].serial_number}: connect the next card"
               if len(batch.done) < count else f"provisioned {batch.done[-1].serial_number}")
        progress(len(batch.done), count)
    return batch


def _next_card(reg: Registry, ports: Sequence[str], opener: Opener, batch: Batch,
               wait: float, poll: float, report: Report) -> Client | None:
    """The first port whose card can be provisioned (blank, or left pending), polling."""
    deadline = time.monotonic() + wait
    while True:
        for port in ports:
            client = _try_open(opener, port)
            if client is None:
                continue
            todo, done = _card_state(reg, client)
            if todo:
                return client
            client.close()
            ours = {p.serial_number for p in batch.done}  # still on the port until swapped
            if done is not None and done not in batch.skipped and done not in ours:
                batch.skipped.append(done)
                report(f"{port}: card {done} is already done: connect the next card")
        if time.monotonic() >= deadline:
            return None
        time.sleep(poll)


def _try_open(opener: Opener, port: str) -> Client | None:
    try:
        return opener(port)
    except DscError:  # nothing (usable) on that port yet
        return None


def _card_state(reg: Registry, client: Client) -> tuple[bool, str | None]:
    """(to be provisioned?, serial number of a card already done here)."""
    try:
        info = client.info()
    except DscError:  # not answering (yet): look again at the next poll
        return False, None
    if not info.provisioned:
        return True, None
    row = reg.db.one("SELECT status FROM cards WHERE serial_number = ?", (info.serial_number,))
    if row is None or row["status"] == lifecycle.BLANK:  # unknown: provision_one says why not
        return True, None
    return False, str(info.serial_number)


# --- wipe ------------------------------------------------------------------------------------
def wipe_card(reg: Registry, serial_number: str, client: Client) -> None:
    """WIPE a returned card (AUTH with its admin key), then mark it wiped for reuse."""
    from provisioning import support

    support.check_can(reg, serial_number, "wipe")
    card = client.info()
    if card.serial_number != serial_number:
        raise ProvisionFailed(f"the card on that port is {card.serial_number or 'blank'}, "
                              f"not {serial_number}: nothing wiped", serial_number=serial_number)
    admin_key = reg.admin_key(serial_number)
    _step(serial_number, "AUTH", lambda: client.authenticate(admin_key))
    _step(serial_number, "WIPE", client.wipe)
    support.finish(reg, serial_number, "wipe")
