"""The life cycle: only the listed transitions, refusals that name the state; temporary access."""

from __future__ import annotations

import pytest
from regkit import Env

from provisioning import lifecycle, support, temporary, verification
from provisioning.errors import (
    CardStateError,
    MalformedResponseError,
    UserStateError,
    VerificationRejected,
)

DAY = 86400


def test_transition_table_is_exactly_the_issue() -> None:
    pairs = {(src, dst) for srcs, dst in lifecycle.TRANSITIONS.values() for src in srcs}
    assert pairs == {
        ("blank", "provisioned"), ("provisioned", "assigned"), ("assigned", "active"),
        ("active", "unavailable"), ("unavailable", "active"), ("assigned", "lost"),
        ("active", "lost"), ("unavailable", "lost"), ("lost", "returned"), ("lost", "active"),
        ("returned", "wiped"), ("returned", "retired")}


@pytest.mark.parametrize("action", sorted(lifecycle.TRANSITIONS))
def test_every_other_state_is_refused_with_its_name(action: str) -> None:
    sources, _ = lifecycle.TRANSITIONS[action]
    for status in lifecycle.STATES:
        if status in sources:
            continue
        with pytest.raises(CardStateError, match=f"it is {status} ") as e:
            lifecycle.target(action, "DSC00000001", status)
        assert e.value.status == status


def test_full_life(env: Env) -> None:
    serial = env.assigned()
    support.activate(env.reg, serial)
    support.mark_lost(env.reg, serial)
    with pytest.raises(CardStateError, match="it is lost"):
        support.activate(env.reg, serial)
    support.return_card(env.reg, serial)
    assert env.reg.card(serial).users == ()
    with pytest.raises(CardStateError, match="returned"):
        support.mark_lost(env.reg, serial)
    support.finish(env.reg, serial, "retire")
    row = env.reg.card_row(serial)
    assert row["status"] == "retired" and row["seed_enc"] is None
    assert row["admin_key_enc"] is None


def test_replace_moves_users_to_a_stock_card(env: Env) -> None:
    old = env.active()
    support.assign(env.reg, old, "bob", "5678")
    new = env.card()
    with pytest.raises(CardStateError, match="report it lost first") as not_lost:
        support.replace(env.reg, old, new)
    assert not_lost.value.reason == "not lost"
    support.mark_lost(env.reg, old)
    assert support.replace(env.reg, old, new) == ["alice", "bob"]
    assert env.reg.card(new).status == "assigned"
    assert env.login("alice", new).accepted and env.reg.card(new).status == "active"
    assert env.reg.card(old).users == ()


def test_automatic_activation_after_configured_days(env: Env) -> None:
    serial = env.assigned()
    env.reg.set_policy("auto_activate_days", 3)
    assert support.activate_due(env.reg) == []
    env.clock.advance(3 * DAY)
    assert support.activate_due(env.reg) == [serial]
    assert env.reg.card(serial).status == "active"


def test_temporary_passcode_full_then_portal_only(env: Env) -> None:
    serial = env.active()
    code, full_until, expires = temporary.issue_passcode(env.reg, "alice")
    assert len(code) == 10 and code.isalnum() and code == code.upper()
    assert set(code) <= set(temporary.PASSCODE_ALPHABET)
    # the documents: full access 2 days, then the portal only until day 10
    assert (full_until, expires) == (env.clock.t + 2 * DAY, env.clock.t + 10 * DAY)
    assert env.reg.card(serial).status == "unavailable"
    stored = env.reg.db.one("SELECT secret_enc FROM temp_access")
    assert stored is not None and code.encode() not in bytes(stored["secret_enc"])

    def try_code(text: str) -> verification.Outcome:
        ch = verification.issue_challenge(env.reg, "alice")
        return verification.verify(env.reg, "alice", ch.id, text)

    out = try_code(code)
    assert (out.accepted, out.method, out.access) == (True, "passcode", "full")
    env.clock.advance(2 * DAY)
    assert try_code(code).access == "portal-only"
    assert try_code("ABCDEFGHJK").reason == "wrong"
    # the card itself no longer logs in while unavailable
    assert not env.login("alice", serial).accepted
    env.clock.advance(8 * DAY - 1)
    assert try_code(code).access == "portal-only"
    env.clock.advance(1)
    assert try_code(code).reason == "no active card"


def test_security_card_cells(env: Env) -> None:
    env.active()
    grid, expires = temporary.issue_security_card(env.reg, "alice")
    assert len(grid) == 64 and all(len(c) == 4 and c.isdigit() for c in grid)
    assert expires == env.clock.t + 21 * DAY
    ch = verification.issue_challenge(env.reg, "alice")
    assert ch.cells is not None
    first, second = ch.cells.split()
    rows = temporary.grid_rows(grid)

    def code(cell: str) -> str:
        return rows[int(cell[1:]) - 1][temporary.COLUMNS.index(cell[0])]

    out = verification.verify(env.reg, "alice", ch.id, code(first) + code(second))
    assert (out.accepted, out.method, out.access) == (True, "security-card", "full")
    ch = verification.issue_challenge(env.reg, "alice")
    first, second = ch.cells.split()  # type: ignore[union-attr]
    assert verification.verify(env.reg, "alice", ch.id,
                               code(second) + code(first)).accepted is (first == second)


def test_reactivation_ends_all_temporary_access(env: Env) -> None:
    serial = env.active()
    code, _, _ = temporary.issue_passcode(env.reg, "alice")
    temporary.issue_security_card(env.reg, "alice")
    ch = verification.issue_challenge(env.reg, "alice")
    with pytest.raises(VerificationRejected, match="wrong"):
        verification.reactivate(env.reg, "alice", ch.id, "00000000")
    ch = verification.issue_challenge(env.reg, "alice")
    assert verification.reactivate(env.reg, "alice", ch.id,
                                   env.answer(serial, ch.challenge)) == serial
    assert env.reg.card(serial).status == "active"
    assert support.user_view(env.reg, "alice")["temporary_access"] == []
    ch = verification.issue_challenge(env.reg, "alice")
    assert ch.cells is None
    with pytest.raises(MalformedResponseError, match="expected 8 digits"):  # no passcode now
        verification.verify(env.reg, "alice", ch.id, code)
    ch = verification.issue_challenge(env.reg, "alice")
    with pytest.raises(CardStateError, match="it is active"):
        verification.reactivate(env.reg, "alice", ch.id, env.answer(serial, ch.challenge))


def test_temporary_access_needs_a_card_the_user_holds(env: Env) -> None:
    serial = env.assigned("bob")
    support.mark_lost(env.reg, serial)
    support.return_card(env.reg, serial)
    with pytest.raises(UserStateError, match="holds no such card"):
        temporary.issue_passcode(env.reg, "bob")


@pytest.mark.parametrize(("action", "status", "text"), [
    ("lost", "provisioned", "cannot report card DSC00000001 lost: it is provisioned (it is in "
                            "stock: assign it); that needs a card that is assigned, active or "
                            "unavailable"),
    ("return", "assigned", "cannot record card DSC00000001 as returned: it is assigned (it waits "
                           "for its first correct response or an activation); that needs a "
                           "card that is lost"),
    ("temporary-access", "lost", "cannot give temporary access in place of card DSC00000001: "
                                 "it is lost"),
])
def test_refusals_read_as_sentences(action: str, status: str, text: str) -> None:
    with pytest.raises(CardStateError) as e:
        lifecycle.target(action, "DSC00000001", status)
    assert str(e.value).startswith(text)


def test_assign_refusal_names_every_state_it_accepts(env: Env) -> None:
    serial = env.active()
    support.mark_lost(env.reg, serial)
    with pytest.raises(CardStateError, match="that needs a card that is provisioned, assigned "
                                             "or active"):
        support.assign(env.reg, serial, "bob", "1111")
