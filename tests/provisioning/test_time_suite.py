"""Time-based (T) suites end to end: the drift window the registry accepts, and a T-suite card
provisioned through the registry (which sets the card's clock) logging in on the emulator,
whose clock and the registry's run together in virtual time."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from regkit import T0, Env

from emulator import Emulator
from host_tools.admin_keys import derive_admin_key
from host_tools.client import CardClient
from provisioning import ocra_check, provisioner, support, verification
from provisioning.registry import Registry

SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1-T1M"
STEP = 60


def _login(env: Env, serial: str, computed_at: int, verified_at: int) -> bool:
    """Issue at the clock's time, the card computes at `computed_at` (its own clock's time),
    the server verifies at `verified_at` (seconds after the issue)."""
    ch = verification.issue_challenge(env.reg, "alice", serial)
    answer = env.answer(serial, ch.challenge, timestamp=computed_at // STEP)
    env.clock.advance(verified_at)
    return verification.verify(env.reg, "alice", ch.id, answer).accepted


@pytest.mark.parametrize(("drift", "accepted"), [
    (0, True), (STEP, True), (-STEP, True), (59, True), (-59, True),
    (3 * STEP, False), (-3 * STEP, False),
])
def test_a_card_clock_off_by_up_to_one_step_is_accepted(env: Env, drift: int,
                                                         accepted: bool) -> None:
    serial = env.assigned(suite=SUITE)
    support.activate(env.reg, serial)
    env.clock.t = T0 - T0 % STEP + 30  # mid-step: one step of drift reaches either neighbour
    start = env.clock.t
    assert _login(env, serial, start + drift, 0) is accepted


def test_a_response_typed_long_after_it_was_computed_is_accepted(env: Env) -> None:
    # Computed at the issue, verified 150 s (2.5 steps) later: still inside the challenge's
    # 300 s TTL. Without the span from the issue, ±1 step around the verification missed it.
    serial = env.assigned(suite=SUITE)
    support.activate(env.reg, serial)
    assert _login(env, serial, env.clock.t, 150)
    # ...but a response of a step before the issue (minus the window) is not.
    assert not _login(env, serial, env.clock.t - 2 * STEP - 1, 0)


def test_the_steps_tried_are_bounded() -> None:
    info = ocra_check.suite_info("OCRA-1:HOTP-SHA256-8:QN06-T1S")
    seed, ch = b"k" * 32, "123456"
    now = T0
    old = ocra_check.compute(info, seed, ch, None, timestamp=now - ocra_check.MAX_TIME_STEPS)
    recent = ocra_check.compute(info, seed, ch, None, timestamp=now - 10)
    assert ocra_check.match(info, seed, ch, None, recent, now=now, since=now - 300) == 0
    assert ocra_check.match(info, seed, ch, None, old, now=now, since=now - 300) is None


class _WorldClock:
    """The registry's clock: T0 plus the emulator's virtual time (they run together)."""

    def __init__(self) -> None:
        self.card: Emulator | None = None

    def __call__(self) -> float:
        return float(T0 + (self.card.now() // 1000 if self.card is not None else 0))


@pytest.fixture(params=["cpython", "micropython"])
def desk(request: pytest.FixtureRequest, tmp_path) -> Iterator[tuple[Registry, Emulator]]:  # type: ignore[no-untyped-def]
    world = _WorldClock()
    reg, _, _ = Registry.init(str(tmp_path / "reg.sqlite3"), tmp_path / "master.key",
                              clock=world, operator="tester")
    # A blank board whose RTC nobody set: only provisioning can give it the time.
    with reg, Emulator(runtime=request.param, rtc_set=False) as card:
        world.card = card
        yield reg, card


def _typed(card: Emulator, pin: str, challenge: str) -> str:
    card.hold("POWER", 1500)
    card.type(pin)
    card.press("OK")
    assert card.screen_text() == "CHALLNG>", card.screen_text()
    card.type(challenge)
    card.press("OK")
    digits = card.screen_text().replace(" ", "")
    card.press("POWER")  # off
    assert digits.isdigit() and len(digits) == 8, digits
    return digits


def test_a_t_suite_card_provisioned_through_the_registry_logs_in(
        desk: tuple[Registry, Emulator]) -> None:
    reg, card = desk
    client = CardClient(card.transport())
    master = bytes(range(32))
    done = provisioner.provision_one(reg, client, master, derive_admin_key,
                                     provisioner.Options(suite=SUITE))
    assert card.board.unix_time() == int(reg.now())  # SET_TIME gave it the registry's time
    support.assign(reg, done.serial_number, "alice", "2580")
    support.activate(reg, done.serial_number)
    for wait_s in (0, 45, 3600):  # across steps and an hour later: the clocks run together
        card.advance(wait_s * 1000)
        ch = verification.issue_challenge(reg, "alice")
        response = _typed(card, "2580", ch.challenge)
        card.advance(20000)  # the holder types it in
        assert verification.verify(reg, "alice", ch.id, response).accepted
    # A card whose clock ran 10 minutes fast computes responses the registry refuses.
    card.board.set_unix_time(int(reg.now()) + 600)
    ch = verification.issue_challenge(reg, "alice")
    outcome = verification.verify(reg, "alice", ch.id, _typed(card, "2580", ch.challenge))
    assert not outcome.accepted and outcome.reason == "wrong"
