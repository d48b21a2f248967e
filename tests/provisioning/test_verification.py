"""Challenges, responses, the failure counter and locks, PIN change and reset (SQLite)."""

from __future__ import annotations

import pytest
from dsc import ocra
from regkit import SUITE, Env

from provisioning import support, verification
from provisioning.errors import (
    CardStateError,
    InvalidInputError,
    NotFoundError,
    UserStateError,
    VerificationRejected,
)

DAY = 86400


def test_correct_response_accepted_and_first_one_activates(env: Env) -> None:
    serial = env.assigned()
    ch = verification.issue_challenge(env.reg, "alice")
    assert len(ch.challenge) == 6 and ch.challenge.isdigit()
    assert ch.expires_at == env.clock.t + 300 and ch.serial_number == serial
    out = verification.verify(env.reg, "alice", ch.id, env.answer(serial, ch.challenge))
    assert (out.accepted, out.method, out.access, out.serial_number) == (True, "card", "full",
                                                                        serial)
    assert env.reg.card(serial).status == "active"


def test_replay_expiry_and_unknown_challenge(env: Env) -> None:
    serial = env.active()
    ch = verification.issue_challenge(env.reg, "alice")
    good = env.answer(serial, ch.challenge)
    assert verification.verify(env.reg, "alice", ch.id, good).accepted
    assert verification.verify(env.reg, "alice", ch.id, good).reason == "already used"
    ch = verification.issue_challenge(env.reg, "alice")
    env.clock.advance(301)
    assert verification.verify(env.reg, "alice", ch.id,
                               env.answer(serial, ch.challenge)).reason == "expired"
    assert verification.verify(env.reg, "alice", "nope", good).reason == "unknown challenge"
    # none of these proves anything about the PIN: no failures counted
    assert support.user_view(env.reg, "alice")["failures"] == 0


def test_wrong_pin_is_wrong_and_counts(env: Env) -> None:
    serial = env.active()
    ch = verification.issue_challenge(env.reg, "alice")
    out = verification.verify(env.reg, "alice", ch.id, env.answer(serial, ch.challenge, "9999"))
    assert (out.accepted, out.reason, out.attempts_remaining) == (False, "wrong", 9)
    assert "9 attempts left" in out.describe()


def test_ten_failures_lock_for_a_day_and_success_clears(env: Env) -> None:
    serial = env.active()
    for _ in range(5):
        env.wrong("alice")
    assert env.login("alice", serial).accepted
    assert support.user_view(env.reg, "alice")["failures"] == 0
    outs = [env.wrong("alice") for _ in range(10)]
    assert [o.attempts_remaining for o in outs] == [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
    assert outs[-1].locked_until == env.clock.t + DAY
    assert env.login("alice", serial).reason == "locked"
    env.clock.advance(DAY - 1)
    assert env.login("alice", serial).reason == "locked"
    env.clock.advance(1)
    assert env.login("alice", serial).accepted


def test_failures_spread_beyond_the_window_do_not_lock(env: Env) -> None:
    env.active()
    for _ in range(9):
        env.wrong("alice")
    env.clock.advance(DAY)
    out = env.wrong("alice")
    assert out.attempts_remaining == 9 and out.locked_until is None


def test_unlock_clears_lock(env: Env) -> None:
    serial = env.active()
    for _ in range(10):
        env.wrong("alice")
    assert support.unlock(env.reg, "alice") is True
    assert env.login("alice", serial).accepted
    assert support.unlock(env.reg, "alice") is False


def test_policy_is_configurable(env: Env) -> None:
    env.active()
    env.reg.set_policy("max_failures", 3)
    env.reg.set_policy("lock_seconds", 60)
    outs = [env.wrong("alice") for _ in range(3)]
    assert outs[-1].locked_until == env.clock.t + 60
    with pytest.raises(InvalidInputError, match="unknown setting"):
        env.reg.set_policy("nope", 1)
    assert env.reopen().policy.max_failures == 3


def test_no_active_card(env: Env) -> None:
    serial = env.active()
    ch = verification.issue_challenge(env.reg, "alice")
    support.mark_lost(env.reg, serial)
    out = verification.verify(env.reg, "alice", ch.id, env.answer(serial, ch.challenge))
    assert out.reason == "no active card"
    with pytest.raises(UserStateError, match="no active card"):
        verification.issue_challenge(env.reg, "alice")
    with pytest.raises(NotFoundError, match="no user bob"):
        verification.issue_challenge(env.reg, "bob")


def test_several_cards_choose_one_and_one_card_several_users(env: Env) -> None:
    a, b = env.active(), env.active()
    with pytest.raises(UserStateError, match="several cards"):
        verification.issue_challenge(env.reg, "alice")
    assert env.login("alice", b).serial_number == b
    support.assign(env.reg, a, "bob", "5678")
    assert env.reg.card(a).users == ("alice", "bob")
    assert env.login("bob", a, "5678").accepted
    assert env.login("bob", a, "1234").reason == "wrong"


def test_change_pin_needs_response_with_new_pin(env: Env) -> None:
    serial = env.active()
    ch = verification.issue_challenge(env.reg, "alice")
    with pytest.raises(VerificationRejected) as e:
        verification.change_pin(env.reg, "alice", ch.id, env.answer(serial, ch.challenge, "1234"),
                                "4321")
    assert e.value.reason == "wrong" and e.value.attempts_remaining == 9
    ch = verification.issue_challenge(env.reg, "alice")
    verification.change_pin(env.reg, "alice", ch.id, env.answer(serial, ch.challenge, "4321"),
                            "4321")
    assert env.login("alice", serial, "4321").accepted
    assert env.login("alice", serial, "1234").reason == "wrong"
    ch = verification.issue_challenge(env.reg, "alice")
    with pytest.raises(InvalidInputError, match="4 digits"):
        verification.change_pin(env.reg, "alice", ch.id, "12345678", "123")
    # a refused input consumed nothing: the challenge still works
    assert verification.verify(env.reg, "alice", ch.id,
                               env.answer(serial, ch.challenge, "4321")).accepted


def test_reset_pin(env: Env) -> None:
    serial = env.active()
    support.reset_pin(env.reg, "alice", "2468")
    assert env.login("alice", serial, "2468").accepted
    with pytest.raises(InvalidInputError):
        support.reset_pin(env.reg, "alice", "24a8")


def test_counter_suite_looks_ahead_and_resynchronises(env: Env) -> None:
    suite = "OCRA-1:HOTP-SHA1-6:C-QN06-PSHA1"
    serial = env.assigned(suite=suite)
    ch = verification.issue_challenge(env.reg, "alice")
    # the card answered three times offline: its counter is at 3
    resp = env.answer(serial, ch.challenge, counter=3)
    assert verification.verify(env.reg, "alice", ch.id, resp).accepted
    ch = verification.issue_challenge(env.reg, "alice")
    assert verification.verify(env.reg, "alice", ch.id,
                               env.answer(serial, ch.challenge, counter=3)).reason == "wrong"
    ch = verification.issue_challenge(env.reg, "alice")
    assert verification.verify(env.reg, "alice", ch.id,
                               env.answer(serial, ch.challenge, counter=4)).accepted


def test_time_suite_accepts_one_step_of_drift(env: Env) -> None:
    suite = "OCRA-1:HOTP-SHA256-8:QN08-PSHA1-T1M"
    serial = env.assigned(suite=suite)
    step = env.clock.t // 60
    for drift, ok in ((0, True), (-1, True), (1, True), (3, False)):
        ch = verification.issue_challenge(env.reg, "alice")
        assert len(ch.challenge) == 8
        resp = env.answer(serial, ch.challenge, timestamp=step + drift)
        assert verification.verify(env.reg, "alice", ch.id, resp).accepted is ok


def test_assign_rules(env: Env) -> None:
    serial = env.card()
    with pytest.raises(InvalidInputError, match="no PIN yet"):
        support.assign(env.reg, serial, "carol", None)
    with pytest.raises(InvalidInputError, match="4 digits"):
        support.assign(env.reg, serial, "carol", "12")
    assert env.reg.card(serial).status == "provisioned"  # refused: nothing changed
    support.assign(env.reg, serial, "carol", "1111")
    with pytest.raises(InvalidInputError, match="already assigned"):
        support.assign(env.reg, serial, "carol", None)
    support.mark_lost(env.reg, serial)
    with pytest.raises(CardStateError, match="it is lost") as e:
        support.assign(env.reg, serial, "dave", "1111")
    assert e.value.status == "lost"


def test_rfc_suite_default_matches_firmware(env: Env) -> None:
    # the registry computes exactly what dsc.ocra computes for the card
    serial = env.active()
    ch = verification.issue_challenge(env.reg, "alice")
    direct = ocra.response(SUITE, env.seeds[serial], ch.challenge, pin="1234")
    assert verification.verify(env.reg, "alice", ch.id, direct).accepted


def test_ten_failures_inside_any_24h_lock_even_across_the_first_ones_window(env: Env) -> None:
    # 1 failure, then 8 nearly a day later, then 2 more: the last 10 all fall within 2 hours
    env.active()
    env.wrong("alice")
    env.clock.advance(23 * 3600)
    for _ in range(8):
        env.wrong("alice")
    env.clock.advance(2 * 3600)  # the very first failure is now older than 24 h
    out = env.wrong("alice")
    assert out.attempts_remaining == 1 and out.locked_until is None
    out = env.wrong("alice")
    assert out.attempts_remaining == 0 and out.locked_until == env.clock.t + DAY


def test_failures_older_than_the_window_drop_out_one_by_one(env: Env) -> None:
    env.active()
    for _ in range(9):  # one failure an hour
        env.wrong("alice")
        env.clock.advance(3600)
    env.clock.advance(DAY - 9 * 3600)  # now the first one is exactly 24 h old: out
    assert env.wrong("alice").attempts_remaining == 1  # 8 recent ones + this one
    assert support.user_view(env.reg, "alice")["failures"] == 9


def test_any_accepted_method_clears_the_failure_count(env: Env) -> None:
    from provisioning import temporary

    env.active()
    for _ in range(3):
        env.wrong("alice")
    code, _, _ = temporary.issue_passcode(env.reg, "alice")
    ch = verification.issue_challenge(env.reg, "alice")
    assert verification.verify(env.reg, "alice", ch.id, code).method == "passcode"
    assert support.user_view(env.reg, "alice")["failures"] == 0
    outs = [env.wrong("alice") for _ in range(9)]
    assert outs[-1].attempts_remaining == 1 and outs[-1].locked_until is None


def test_the_unavailable_card_itself_is_told_to_reactivate_not_counted(env: Env) -> None:
    from provisioning import temporary

    serial = env.active()
    temporary.issue_passcode(env.reg, "alice")
    ch = verification.issue_challenge(env.reg, "alice")
    out = verification.verify(env.reg, "alice", ch.id, env.answer(serial, ch.challenge))
    assert (out.accepted, out.reason, out.serial_number) == (False, "no active card", serial)
    assert "dsc reactivate" in out.describe()
    assert support.user_view(env.reg, "alice")["failures"] == 0
    assert env.reg.card(serial).status == "unavailable"


def test_rejection_text_gives_the_lock_end_as_a_date(env: Env) -> None:
    env.active()
    env.reg.set_policy("max_failures", 2)
    assert env.wrong("alice").describe() == \
        "rejected: wrong (1 attempt left before the user is locked)"
    text = env.wrong("alice").describe()
    assert text == "rejected: wrong; the user is now locked until 2025-06-16 15:06:40 UTC"
    assert env.wrong("alice").describe() == \
        "rejected: locked (until 2025-06-16 15:06:40 UTC; `dsc unlock` ends it early)"
