"""A soft card's activation code row is vouched for by the master key (`integrity.TABLES`).

Someone who can write the database but lacks the key file must not be able to activate a soft
card as a victim: a row planted with the hash of a code of their choosing, a used code set back
to unused, a code moved to another user, or an expiry put later, is refused (logged as a
tampered row), and nothing is used up or recorded. On SQLite, and on PostgreSQL when
DSC_TEST_PG_URL is set."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable

import downgrade
import pytest
from regkit import Env

from provisioning import audit, integrity, schema, softcard
from provisioning.db import Row
from provisioning.errors import TamperedRowError
from provisioning.registry import Registry

CODE = "ABCD-EFGH-JKLM"  # the code the attacker chose (a valid form)


def _row(env: Env, ident: int) -> Row:
    row = env.reg.db.one("SELECT * FROM softcard_activations WHERE id = ?", (ident,))
    assert row is not None
    return row


def _code_log(env: Env) -> list[tuple[str, dict[str, object]]]:
    return [(e.outcome, e.detail) for e in audit.entries(env.reg.db, action="softcard-code")]


def _refused(env: Env, code: str, caplog: pytest.LogCaptureFixture) -> None:
    """`code` is refused as a tampered row: logged (error log and audit), nothing consumed."""
    before = [dict(r) for r in env.reg.db.all("SELECT * FROM softcard_activations ORDER BY id")]
    cards = env.reg.db.all("SELECT id FROM cards")
    with caplog.at_level(logging.ERROR, logger="provisioning.registry"), \
            pytest.raises(softcard.ActivationRefused, match="fails its integrity check"):
        softcard.take(env.reg, code)
    assert "refused a tampered row: softcard_activations" in caplog.text
    assert softcard.normalise(code) not in caplog.text  # the code itself is never logged
    refusals = audit.entries(env.reg.db, action="integrity")
    assert refusals and refusals[-1].outcome == "refused"
    assert refusals[-1].detail["table"] == "softcard_activations"
    assert _code_log(env)[-1][0] == "refused"
    assert _code_log(env)[-1][1]["why"] == "tampered"
    after = [dict(r) for r in env.reg.db.all("SELECT * FROM softcard_activations ORDER BY id")]
    assert after == before  # nothing used up, nothing re-MACed
    assert env.reg.db.all("SELECT id FROM cards") == cards


def test_a_code_issued_by_the_registry_carries_a_mac_and_is_claimed(both: Env) -> None:
    env = both
    env.active("alice")
    act = softcard.create(env.reg, "alice")
    stored = env.reg.db.one("SELECT * FROM softcard_activations")
    assert stored is not None and integrity.ok(env.reg.sealer, "softcard_activations", stored)
    user, ident = softcard.take(env.reg, act.code)
    assert user == "alice"
    used = _row(env, ident)
    assert used["used_at"] == env.clock.t
    assert integrity.ok(env.reg.sealer, "softcard_activations", used)  # renewed with used_at
    assert env.reg.verify_rows() > 0
    with pytest.raises(softcard.ActivationRefused, match="already"):
        softcard.take(env.reg, act.code)


def test_a_row_planted_by_sql_activates_nothing(both: Env,
                                               caplog: pytest.LogCaptureFixture) -> None:
    env = both
    env.active("alice")
    now = env.clock.t
    for mac in (None, "k:forged"):
        env.reg.db.execute("DELETE FROM softcard_activations")
        env.reg.db.execute("INSERT INTO softcard_activations (code_hash, user_name, created_at, "
                           "expires_at, mac) VALUES (?, ?, ?, ?, ?)",
                           (softcard.code_hash(CODE), "alice", now, now + 600, mac))
        _refused(env, CODE, caplog)
    assert not [o for o, _ in _code_log(env) if o == "claimed"]


def _edit(sql: str) -> Callable[[Env, int], None]:
    def edit(env: Env, ident: int) -> None:
        env.reg.db.execute(sql, (ident,))
    return edit


@pytest.mark.parametrize(("claimed", "advance", "edit"), [
    pytest.param(True, 0, _edit("UPDATE softcard_activations SET used_at = NULL WHERE id = ?"),
                 id="used_at-reset"),
    pytest.param(False, 0, _edit("UPDATE softcard_activations SET user_name = 'bob' "
                                 "WHERE id = ?"), id="user_name-moved"),
    pytest.param(False, softcard.ACTIVATION_SECONDS + 5,
                 _edit("UPDATE softcard_activations SET expires_at = expires_at + 3600 "
                       "WHERE id = ?"), id="expires_at-extended"),
])
def test_an_edited_code_row_is_refused_and_nothing_is_used_up(
        both: Env, caplog: pytest.LogCaptureFixture, claimed: bool, advance: int,
        edit: Callable[[Env, int], None]) -> None:
    env = both
    env.active("alice")
    env.active("bob", "5678")
    act = softcard.create(env.reg, "alice")
    ident = int(env.reg.db.all("SELECT id FROM softcard_activations")[-1]["id"])
    if claimed:
        assert softcard.claim(env.reg, act.code) == "alice"
    env.clock.advance(advance)
    edit(env, ident)
    _refused(env, act.code, caplog)
    # put back as the registry left it, the row is what it was: used, or still unused
    # (unexpired) for the right user
    if not claimed and not advance:
        env.reg.db.execute("UPDATE softcard_activations SET user_name = 'alice' WHERE id = ?",
                           (ident,))
        assert softcard.claim(env.reg, act.code) == "alice"


def test_a_row_edited_after_the_claim_does_not_record_the_card(both: Env) -> None:
    """`activate` notes the card in the activation's row through its MAC: an edit between the
    claim and the recording makes the recording fail (the update checks the row first)."""
    env = both
    env.active("alice")
    act = softcard.create(env.reg, "alice")
    user, ident = softcard.take(env.reg, act.code)
    env.reg.db.execute("UPDATE softcard_activations SET expires_at = expires_at + 1 WHERE id = ?",
                       (ident,))
    with pytest.raises(TamperedRowError), env.reg.db.transaction():
        env.reg.update_where("softcard_activations", "id = ? AND user_name = ?", (ident, user),
                             serial_number="X")
    assert _row(env, ident)["serial_number"] is None


def test_upgrade_macs_the_codes_issued_before(env: Env) -> None:
    env.active("alice")
    act = softcard.create(env.reg, "alice")
    used = softcard.create(env.reg, "alice")
    softcard.claim(env.reg, used.code)
    env.reg.close()
    with sqlite3.connect(env.url) as conn:  # back to the schema before _V_ACTMAC
        downgrade.undo_throttle(conn)  # and the ones after it
        downgrade.undo_actmac(conn)
        again = downgrade.forget_since(conn, schema._V_ACTMAC)
    reg, _, applied = Registry.init(env.url, env.key_file, clock=env.clock)
    env.reg = reg
    with reg:
        assert applied == again
        assert schema.current_version(reg.db) == schema.VERSION
        rows = reg.db.all("SELECT * FROM softcard_activations")
        assert len(rows) == 2
        assert all(integrity.ok(reg.sealer, "softcard_activations", r) for r in rows)
        with pytest.raises(softcard.ActivationRefused, match="already"):
            softcard.claim(reg, used.code)
        assert softcard.claim(reg, act.code) == "alice"
        # and from now on an edit is seen
        reg.db.execute("UPDATE softcard_activations SET used_at = NULL")
        assert [t for t, _ in integrity.scan(reg.db, reg.sealer)[1]] == \
            ["softcard_activations"] * 2
