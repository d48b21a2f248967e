"""Provisioning cards into the registry over the service protocol.

For one card: INFO; allocate a serial number (a `blank` row: no secret recorded); seed from
`secrets`; admin key derived from the master admin key and the serial number; PROVISION; AUTH
with the new admin key; TEST with a random challenge and PIN, compared with the response the
firmware's OCRA computes here; LOCK (the production lock: the REPL is unreachable from then on,
so nobody reads the record through it) and INFO to see that the card says `locked`; only then
`confirm_provisioned` stores the sealed seed and marks the card provisioned. A development card
(REPL left open for debugging) is an explicit choice (`Options.development`) and is recorded as
one. A card that fails midway is not recorded. The next run picks it up: a
still-blank card gets a fresh serial number, a card that kept its new serial number but never
confirmed it (`blank` in the registry) is provisioned again under that serial number, after AUTH
with its derived admin key.

Batch mode: with a count, it waits for that many new cards on the given ports (swap cards on
one port); without one, it provisions one card per port, and a port whose card is already done
counts as settled, so running a partly done batch again finishes it. Either way it skips cards
whose serial number is already done and stops at the first failure (the summary says which
card; running again resumes). A port that cannot be opened at the start is named at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from dsc import record

from host_tools.confirm import ConfirmationFailed, confirm_seed
from host_tools.errors import DscError
from host_tools.text import printable
from provisioning import lifecycle, ocra_check
from provisioning.errors import InvalidInputError, ProvisionFailed
from provisioning.registry import Registry

DeriveKey = Callable[[bytes, str], bytes]


class Info(Protocol):
    serial_number: str | None
    firmware: str
    board: str
    provisioned: bool
    locked: bool


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
    def lock(self) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class Provisioned:
    serial_number: str
    suite: str
    board: str
    firmware: str
    seconds: float
    resumed: bool          # True: a card left unconfirmed by an earlier run
    locked: bool = True    # False: a development card (REPL reachable)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Options:
    suite: str = record.DEFAULT_SUITE
    batch: str | None = None
    pin_len: int = record.DEFAULT_PIN_LEN
    idle_ms: int = record.DEFAULT_IDLE_MS
    response_ms: int = record.DEFAULT_RESPONSE_MS
    development: bool = False  # leave the REPL reachable: a development card, never issued


def provision_one(reg: Registry, client: Client, master_admin_key: bytes, derive: DeriveKey,
                  opts: Options, then: Callable[[str], None] | None = None) -> Provisioned:
    """INFO, PROVISION, AUTH, TEST, LOCK, then record the card as provisioned; `then(serial)`
    runs in the same transaction as that record (a soft card's assignment and activation:
    all of it, or none)."""
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
    locked = _lock(client, serial, opts.development)
    with reg.db.transaction():
        reg.confirm_provisioned(serial, seed=seed, admin_key=admin_key, suite=opts.suite,
                                board=card.board, firmware=card.firmware, batch=opts.batch,
                                pin_len=opts.pin_len, development=not locked)
        if then is not None:
            then(serial)
    return Provisioned(serial, opts.suite, card.board, card.firmware,
                       round(time.perf_counter() - t0, 3), resumed, locked)


def _lock(client: Client, serial: str, development: bool) -> bool:
    """LOCK (unless a development card is wanted), then INFO: True when the card says it is
    locked. A card for issue that does not confirm the lock is not recorded."""
    if not development:
        _step(serial, "LOCK", client.lock)
    after = _step(serial, "INFO after LOCK", client.info)
    if after.serial_number != serial:
        raise ProvisionFailed(f"card {serial}: INFO names another card after LOCK; it is not "
                              f"recorded as provisioned", serial_number=serial,
                              reason="other card")
    if not development and not after.locked:
        raise ProvisionFailed(f"card {serial} did not confirm the production lock (INFO says "
                              f"it is not locked); it is not recorded as provisioned: "
                              f"provision it again", serial_number=serial, reason="retry")
    return bool(after.locked)


def _pending_serial(reg: Registry, card: Info) -> str:
    serial = card.serial_number or "?"
    row = reg.db.one("SELECT status FROM cards WHERE serial_number = ?", (serial,))
    if row is None:  # the card's own words: escaped (a hostile card may send escapes)
        raise ProvisionFailed(f"the card is already provisioned as {printable(serial)}, which "
                              f"this registry does not know: factory-reset it first (or import "
                              f"its PSKC)", serial_number=printable(serial),
                              reason="unknown card")
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
                                  f"not hold the new secret; not recorded: provision it "
                                  f"again", serial_number=serial, reason="retry") from None

    _step(serial, "TEST", test)


def _step(serial: str, what: str, fn: Callable[[], Any], *, wiping: bool = False) -> Any:
    """`fn()`, a card error becoming a ProvisionFailed that says how to go on."""
    try:
        return fn()
    except DscError as e:
        done, again, reason = (("wiped", "wipe", "retry wipe") if wiping
                               else ("provisioned", "provision", "retry"))
        raise ProvisionFailed(f"card {serial}: {what} failed ({e}); it is not recorded as "
                              f"{done}: reconnect it and {again} it again",
                              serial_number=serial, reason=reason) from None


class AlreadyDone(ProvisionFailed):
    """The attached card is already provisioned in this registry (batch mode skips it)."""

    def __init__(self, serial_number: str, status: str) -> None:
        super().__init__(f"card {serial_number} is already provisioned (it is {status})",
                         serial_number=serial_number, reason="already provisioned")
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
    error: ProvisionFailed | None = None  # what `failed` says, when a card failed

    def as_json(self) -> dict[str, Any]:
        return {"cards": [p.as_json() for p in self.done], "skipped": self.skipped,
                "failed": self.failed}


def provision_batch(reg: Registry, ports: Sequence[str], opener: Opener, count: int | None,
                    master_admin_key: bytes, derive: DeriveKey, opts: Options, *,
                    wait: float = 300.0, poll: float = 0.5, report: Report = lambda s: None,
                    progress: Callable[[int, int], None] = lambda i, n: None) -> Batch:
    """`count` new cards on `ports` (swapping cards), or with `count` None one card per port
    (a port whose card is already done counts)."""
    ocra_check.suite_info(opts.suite)  # a bad suite is refused before any card is touched
    if not 4 <= opts.pin_len <= 12:
        raise InvalidInputError("a PIN length must be 4 to 12", field="pin_len")
    if count is not None and count < 1:
        raise InvalidInputError("the number of cards must be at least 1")
    _check_ports(ports, opener)
    per_port = count is None
    wanted = len(ports) if count is None else count
    batch = Batch(wanted=wanted, done=[], skipped=[])
    pending = list(ports)  # per port: the ports still to settle
    progress(0, wanted)

    def settled() -> int:
        return len(batch.done) + (len(batch.skipped) if per_port else 0)

    while settled() < wanted:
        found = _next_card(reg, pending if per_port else ports, opener, batch, wait, poll,
                           report, per_port)
        if found is None:
            batch.failed = f"no new card within {wait:g} s"
            break
        port, client = found
        if client is None:  # per port: that port's card was done already
            pending.remove(port)
            progress(settled(), wanted)
            continue
        try:
            batch.done.append(provision_one(reg, client, master_admin_key, derive, opts))
        except ProvisionFailed as e:
            batch.failed, batch.error = str(e), e
            break
        finally:
            client.close()
        if per_port:
            pending.remove(port)
        report(f"provisioned {batch.done[-1].serial_number}: connect the next card"
               if settled() < wanted and not per_port
               else f"provisioned {batch.done[-1].serial_number}")
        progress(settled(), wanted)
    return batch


def _check_ports(ports: Sequence[str], opener: Opener) -> None:
    """A port that cannot be opened at the start is named at once (a mistyped name), instead
    of being polled for the whole wait."""
    if len(set(ports)) != len(ports):
        raise InvalidInputError("a port is named twice")
    for port in ports:
        try:
            opener(port).close()
        except DscError as e:
            raise InvalidInputError(f"cannot open port {printable(port)} ({e}): check its name "
                                    f"and that a card is connected; nothing was provisioned"
                                    ) from None


def _next_card(reg: Registry, ports: Sequence[str], opener: Opener, batch: Batch,
               wait: float, poll: float, report: Report,
               per_port: bool = False) -> tuple[str, Client | None] | None:
    """The first port whose card can be provisioned (blank, or left pending), polling;
    per port, also a port whose card is done already (with no client)."""
    deadline = time.monotonic() + wait
    while True:
        for port in ports:
            client = _try_open(opener, port)
            if client is None:
                continue
            todo, done = _card_state(reg, client)
            if todo:
                return port, client
            client.close()
            ours = {p.serial_number for p in batch.done}  # still on the port until swapped
            if done is not None and done not in batch.skipped and done not in ours:
                batch.skipped.append(done)
                report(f"{port}: card {done} is already done"
                       + ("" if per_port else ": connect the next card"))
                if per_port:
                    return port, None
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
                              f"not {serial_number}: nothing wiped", serial_number=serial_number,
                              reason="other card")
    admin_key = reg.admin_key(serial_number)
    _step(serial_number, "AUTH", lambda: client.authenticate(admin_key), wiping=True)
    _step(serial_number, "WIPE", client.wipe, wiping=True)
    support.finish(reg, serial_number, "wipe")
