"""Issue 9, items 5, 12 and 13: bounded settings, what counts as a response, passcode case;
and the verification result as data (issue 10 returns it as it is)."""

from __future__ import annotations

import pytest
from regkit import Env

from provisioning import support, temporary, verification
from provisioning.errors import InvalidInputError, MalformedResponseError, RegistryError
from provisioning.registry import BOUNDS, Policy

FULL_WIDTH = "".join(chr(0xFF10 + int(d)) for d in "12345678")  # what some keyboards type


# --- item 5: bounds ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", Policy.names())
def test_every_setting_has_bounds_checked_at_both_edges(both: Env, name: str) -> None:
    env = both
    low, high = BOUNDS[name]
    for bad in (low - 1, high + 1):
        with pytest.raises(InvalidInputError, match=f"{name} must be a whole number from "
                                                    f"{low} to {high}"):
            env.reg.set_policy(name, bad)
    for good in (low, high):
        env.reg.set_policy(name, good)
        assert getattr(env.reg.policy, name) == good
        with env.reopen() as reg:
            assert getattr(reg.policy, name) == good


@pytest.mark.parametrize(("name", "value"), [("lock_seconds", 9_300_000_000_000_000_000),
                                             ("failure_window", 0), ("lock_seconds", 0),
                                             ("challenge_ttl", 10**12), ("max_failures", 0)])
def test_the_issues_settings_that_switched_the_lockout_off_are_refused(both: Env, name: str,
                                                                       value: int) -> None:
    env = both
    before = getattr(env.reg.policy, name)
    with pytest.raises(InvalidInputError):
        env.reg.set_policy(name, value)
    assert getattr(env.reopen().policy, name) == before
    assert env.reg.db.one("SELECT * FROM settings WHERE name = ?", (name,)) is None


def test_the_lock_falls_at_the_longest_lock_allowed(both: Env) -> None:
    env = both
    env.active()
    env.reg.set_policy("lock_seconds", BOUNDS["lock_seconds"][1])
    env.reg.set_policy("failure_window", BOUNDS["failure_window"][1])
    for _ in range(9):
        env.wrong("alice")
    out = env.wrong("alice")
    assert out.locked_until == env.clock.t + BOUNDS["lock_seconds"][1]
    assert support.user_view(env.reg, "alice")["status"] == "locked"


def test_an_out_of_range_integer_is_a_clear_error_not_a_traceback(both: Env) -> None:
    with pytest.raises(RegistryError, match="out of range"):
        both.reg.db.execute("SELECT CAST(? AS BIGINT) AS n", (2**64,))
    with pytest.raises(RegistryError, match="out of range"):
        both.reg.db.execute("UPDATE users SET locked_until = ? WHERE id = 1", (2**63,))


# --- item 12: responses -------------------------------------------------------------------------
@pytest.mark.parametrize("typed", ["{} {}", "{}-{}", " {}  {} \n", "{}\t{}"])
def test_a_response_typed_as_the_card_shows_it_is_accepted(both: Env, typed: str) -> None:
    env = both
    serial = env.active()
    ch = verification.issue_challenge(env.reg, "alice")
    good = env.answer(serial, ch.challenge)
    if "\t" in typed:  # a tab is not what the card shows: bad input, and nothing used
        with pytest.raises(MalformedResponseError):
            verification.verify(env.reg, "alice", ch.id, typed.format(good[:4], good[4:]))
        typed = "{}{}"
    assert verification.verify(env.reg, "alice", ch.id,
                               typed.format(good[:4], good[4:])).accepted


@pytest.mark.parametrize("typed", ["abcdefgh", "1234567", "123456789", FULL_WIDTH, "",
                                   "12345678x", "1234.5678", "++12345678"])
def test_what_cannot_be_a_response_counts_nothing_and_keeps_the_challenge(both: Env,
                                                                          typed: str) -> None:
    env = both
    serial = env.active()
    ch = verification.issue_challenge(env.reg, "alice")
    with pytest.raises(MalformedResponseError, match="expected 8 digits") as e:
        verification.verify(env.reg, "alice", ch.id, typed)
    assert e.value.reason == "malformed" and e.value.expected == ("8 digits",)
    assert support.user_view(env.reg, "alice")["failures"] == 0
    out = verification.verify(env.reg, "alice", ch.id, env.answer(serial, ch.challenge))
    assert out.accepted  # the challenge was not used up


def test_only_well_formed_wrong_responses_count(both: Env) -> None:
    env = both
    env.active()
    ch = verification.issue_challenge(env.reg, "alice")
    for typed in ("0000 000", "0000 00000", "abcd efgh"):
        with pytest.raises(MalformedResponseError):
            verification.verify(env.reg, "alice", ch.id, typed)
    out = verification.verify(env.reg, "alice", ch.id, "0000 0000")
    assert (out.reason, out.attempts_remaining) == ("wrong", 9)
    assert verification.verify(env.reg, "alice", ch.id, "0000 0000").reason == "already used"


def test_pin_change_and_reactivation_refuse_malformed_responses_too(both: Env) -> None:
    env = both
    serial = env.active()
    ch = verification.issue_challenge(env.reg, "alice")
    with pytest.raises(MalformedResponseError):
        verification.change_pin(env.reg, "alice", ch.id, FULL_WIDTH, "4321")
    verification.change_pin(env.reg, "alice", ch.id,
                            " ".join([env.answer(serial, ch.challenge, "4321")[:4],
                                      env.answer(serial, ch.challenge, "4321")[4:]]), "4321")
    assert env.login("alice", serial, "4321").accepted


# --- item 13: passcodes are case-sensitive -------------------------------------------------------
def _passcode_with_letters(env: Env) -> str:
    while True:  # all ten characters digits: about one in a million
        code, _, _ = temporary.issue_passcode(env.reg, "alice")
        if any(c.isalpha() for c in code):
            return code


def test_temporary_passcodes_are_case_sensitive_and_upper_case(both: Env) -> None:
    env = both
    env.active()
    code = _passcode_with_letters(env)
    assert code == code.upper()
    ch = verification.issue_challenge(env.reg, "alice")
    for typed in (code.lower(), code[:3].lower() + code[3:]):
        if typed != code:
            with pytest.raises(MalformedResponseError, match="upper case: it is case-sensitive"):
                verification.verify(env.reg, "alice", ch.id, typed)
    assert support.user_view(env.reg, "alice")["failures"] == 0
    out = verification.verify(env.reg, "alice", ch.id, code)
    assert (out.accepted, out.method, out.device_type) == (True, "passcode", "temporary-passcode")


# --- the result as data (issue 10) ---------------------------------------------------------------
def test_the_outcome_is_structured(both: Env) -> None:
    env = both
    serial = env.active()
    ok = env.login("alice", serial).as_json()
    assert {k: ok[k] for k in ("status", "accepted", "method", "access", "device_type",
                               "serial_number", "reason", "attempts_remaining")} == {
        "status": "accepted", "accepted": True, "method": "card", "access": "full",
        "device_type": "dsc-card", "serial_number": serial, "reason": None,
        "attempts_remaining": None}
    bad = env.wrong("alice").as_json()
    assert (bad["status"], bad["reason"], bad["attempts_remaining"], bad["device_type"]) == (
        "rejected", "wrong", 9, "dsc-card")
