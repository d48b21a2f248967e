"""Support flows from the product's own scenarios (issue 9, items 8-11, 14, 15): temporary
access per missing card, found cards, assign refusals, portal-only, auto-activation."""

from __future__ import annotations

from pathlib import Path

import pytest
from regkit import Clock, Env

from provisioning import audit, support, temporary, verification
from provisioning.errors import (
    CardStateError,
    InvalidInputError,
    MalformedResponseError,
    UserStateError,
)
from provisioning.registry import Registry

DAY = 86400


def _try(env: Env, user: str, text: str, serial: str | None = None) -> verification.Outcome:
    ch = verification.issue_challenge(env.reg, user, serial)
    return verification.verify(env.reg, user, ch.id, text)


def _accepts(env: Env, user: str, text: str) -> bool:
    """Whether `text` logs the user in (once temporary access ended, a passcode is not even a
    well-formed response: refused as bad input)."""
    try:
        return _try(env, user, text).accepted
    except MalformedResponseError:
        return False


# --- item 8: lost -> replace -> temporary access --------------------------------------------
@pytest.mark.parametrize("kind", ["passcode", "grid"])
def test_temporary_access_after_the_replacement_is_assigned(env: Env, kind: str) -> None:
    old = env.active()
    support.mark_lost(env.reg, old)
    new = env.card()
    support.replace(env.reg, old, new)
    if kind == "passcode":
        code, _, _ = temporary.issue_passcode(env.reg, "alice")
        out = _try(env, "alice", code)
        assert (out.accepted, out.method, out.access) == (True, "passcode", "full")
    else:
        temporary.issue_security_card(env.reg, "alice")
        assert verification.issue_challenge(env.reg, "alice").cells is not None
    view = support.user_view(env.reg, "alice")
    assert [t["in_place_of"] for t in view["temporary_access"]] == [new]
    assert env.reg.card(new).status == "assigned"  # the replacement still waits for its holder
    # its first correct response activates it and ends the temporary access it stood in for
    assert env.login("alice", new).accepted
    assert env.reg.card(new).status == "active"
    assert support.user_view(env.reg, "alice")["temporary_access"] == []


def test_a_replacement_takes_over_the_temporary_access_of_the_lost_card(env: Env) -> None:
    old = env.active()
    support.mark_lost(env.reg, old)
    code, _, _ = temporary.issue_passcode(env.reg, "alice")  # lost -> temp -> replace
    new = env.card()
    support.replace(env.reg, old, new)
    assert _try(env, "alice", code).accepted
    support.activate(env.reg, new)  # activation by support ends it too
    assert not _accepts(env, "alice", code)


# --- item 9: the user's other devices keep working ---------------------------------------------
def test_temporary_access_stands_in_for_the_missing_card_only(env: Env) -> None:
    lost, other = env.active(), env.active()
    support.mark_lost(env.reg, lost)
    code, _, _ = temporary.issue_passcode(env.reg, "alice")
    assert env.reg.card(other).status == "active"
    assert env.login("alice", other).accepted
    assert _try(env, "alice", code).accepted


def test_a_card_at_home_is_named_when_the_user_has_several(env: Env) -> None:
    home, other = env.active(), env.active()
    with pytest.raises(UserStateError, match="several cards"):
        temporary.issue_passcode(env.reg, "alice")
    with pytest.raises(UserStateError, match="holds no card DSC00000099"):
        temporary.issue_passcode(env.reg, "alice", "DSC00000099")
    temporary.issue_passcode(env.reg, "alice", home)
    assert (env.reg.card(home).status, env.reg.card(other).status) == ("unavailable", "active")
    assert env.login("alice", other).accepted
    # a reactivation of the card at home ends its temporary access, not the other card's use
    ch = verification.issue_challenge(env.reg, "alice", home)
    verification.reactivate(env.reg, "alice", ch.id, env.answer(home, ch.challenge))
    assert support.user_view(env.reg, "alice")["temporary_access"] == []


def test_temporary_access_is_refused_for_a_card_in_stock_state(env: Env) -> None:
    serial = env.active()
    support.mark_lost(env.reg, serial)
    support.return_card(env.reg, serial)
    support.assign(env.reg, env.card(), "alice", None)
    other = env.reg.cards("assigned")[0].serial_number
    with pytest.raises(UserStateError, match=f"holds no card {serial}"):
        temporary.issue_passcode(env.reg, "alice", serial)
    temporary.issue_passcode(env.reg, "alice", other)


# --- item 10: found -------------------------------------------------------------------------
def test_a_lost_card_that_turns_up_is_active_again(env: Env) -> None:
    serial = env.active()
    support.mark_lost(env.reg, serial)
    code, _, _ = temporary.issue_passcode(env.reg, "alice")
    assert support.found(env.reg, serial) == "active"
    assert env.reg.card(serial).status == "active"
    assert env.login("alice", serial).accepted
    assert not _accepts(env, "alice", code)  # its temporary access ended
    last = audit.entries(env.reg.db, action="found")[-1]
    assert last.serial_number == serial and last.detail["status"] == "active"


def test_a_lost_card_found_after_its_replacement_goes_to_returned(env: Env) -> None:
    old = env.active()
    support.mark_lost(env.reg, old)
    new = env.card()
    support.replace(env.reg, old, new)
    assert support.found(env.reg, old) == "returned"
    assert env.reg.card(old).status == "returned" and env.reg.card(new).status == "assigned"
    with pytest.raises(CardStateError, match="it is returned"):
        support.found(env.reg, old)
    with pytest.raises(CardStateError, match="it is assigned"):
        support.found(env.reg, new)


# --- item 11: assign refusals -------------------------------------------------------------
def test_assign_does_not_replace_a_pin_silently(env: Env) -> None:
    first = env.active()
    second = env.card()
    with pytest.raises(support.PinConflict, match="already has a PIN") as e:
        support.assign(env.reg, second, "alice", "9999")
    assert e.value.kind == "replace"
    assert env.reg.card(second).status == "provisioned"  # nothing changed
    assert env.login("alice", first, "1234").accepted
    support.assign(env.reg, second, "alice", None)  # keeps the PIN
    assert env.login("alice", second, "1234").accepted
    third = env.card()
    support.assign(env.reg, third, "alice", "9999", replace_pin=True)  # meant
    assert env.login("alice", first, "9999").accepted


def test_assign_refuses_a_card_for_another_pin_length(env: Env) -> None:
    env.active()
    six = env.card(pin_len=6)
    with pytest.raises(support.PinConflict, match="takes 6-digit PINs but the PIN of alice has "
                                                   "4 digits") as e:
        support.assign(env.reg, six, "alice", None)
    assert e.value.kind == "length"
    with pytest.raises(support.PinConflict, match="other cards of alice take 4-digit"):
        support.assign(env.reg, six, "alice", "123456", replace_pin=True)
    assert env.reg.card(six).status == "provisioned"
    # the length is kept with the PIN, even once the user holds no card
    bob = env.card()
    support.assign(env.reg, bob, "bob", "1234")
    support.mark_lost(env.reg, bob)
    support.return_card(env.reg, bob)
    with pytest.raises(support.PinConflict, match="has 4 digits"):
        support.assign(env.reg, six, "bob", None)
    support.assign(env.reg, six, "bob", "123456", replace_pin=True)
    assert env.login("bob", six, "123456").accepted


def test_a_new_user_with_a_short_pin_is_refused(env: Env) -> None:
    six = env.card(pin_len=6)
    with pytest.raises(InvalidInputError, match="6 digits"):
        support.assign(env.reg, six, "carol", "1234")


# --- item 14: portal-only ------------------------------------------------------------------
def test_portal_only_is_a_status_of_its_own(env: Env) -> None:
    env.active()
    code, _, expires = temporary.issue_passcode(env.reg, "alice")
    assert _try(env, "alice", code).as_json()["status"] == "accepted"
    env.clock.advance(2 * DAY)
    out = _try(env, "alice", code)
    assert out.access == "portal-only" and out.as_json()["status"] == "portal-only"
    assert expires == env.clock.t + 8 * DAY


# --- item 15: auto-activation without a cron job ---------------------------------------------
def test_a_due_card_is_active_when_looked_at(env: Env) -> None:
    serial = env.assigned()
    env.clock.advance(14 * DAY)
    assert env.reg.card(serial).status == "assigned"  # the plain row is untouched ...
    assert support.card_view(env.reg, serial).status == "active"  # ... `dsc show` activates
    other = env.assigned("bob")
    env.clock.advance(14 * DAY)
    assert support.user_view(env.reg, "bob")["cards"][0]["status"] == "active"
    third = env.assigned("carol")
    env.clock.advance(14 * DAY)
    assert [c.status for c in support.card_list(env.reg)] == ["active"] * 3
    assert {e.serial_number for e in audit.entries(env.reg.db, action="activate")} == \
        {serial, other, third}


def test_a_replacement_that_activates_itself_ends_the_temporary_access(env: Env) -> None:
    old = env.active()
    support.mark_lost(env.reg, old)
    new = env.card()
    env.reg.set_policy("auto_activate_days", 3)
    support.replace(env.reg, old, new)
    code, _, _ = temporary.issue_passcode(env.reg, "alice")
    env.clock.advance(DAY)
    assert _try(env, "alice", code).accepted
    env.clock.advance(2 * DAY)
    assert support.card_view(env.reg, new).status == "active"
    assert support.user_view(env.reg, "alice")["temporary_access"] == []
    assert env.login("alice", new).accepted
    assert not _accepts(env, "alice", code)


@pytest.mark.postgres
def test_the_flows_on_postgres(pg_url: str, tmp_path: Path, clock: Clock) -> None:
    reg, _, _ = Registry.init(pg_url, tmp_path / "k", clock=clock, operator="pg")
    with reg:
        env = Env(reg, clock, pg_url, tmp_path / "k")
        lost, other = env.active(), env.active()
        support.mark_lost(env.reg, lost)
        new = env.card()
        support.replace(env.reg, lost, new)
        code, _, _ = temporary.issue_passcode(env.reg, "alice")
        assert env.login("alice", other).accepted and _try(env, "alice", code, new).accepted
        assert support.user_view(env.reg, "alice")["temporary_access"][0]["in_place_of"] == new
        assert support.found(env.reg, lost) == "returned"
        clock.advance(14 * DAY)
        assert [c.status for c in support.card_list(env.reg, "active")] == ["active"] * 2
        assert support.user_view(env.reg, "alice")["temporary_access"] == []
        assert env.reg.card(new).development is False
        with pytest.raises(support.PinConflict):
            support.assign(env.reg, env.card(pin_len=6), "alice", None)
