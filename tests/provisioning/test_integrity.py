"""Issue 9, item 4: database writes without the master key take over nothing.

Each attack of the issue, done with plain SQL as someone who can write the database but does
not hold the key file, is refused with TamperedRowError and logged (audit and logger); the
audit chain stays verifiable. On SQLite and, when the server runs, PostgreSQL."""

from __future__ import annotations

import logging
import sqlite3

import auditkit
import downgrade
import pytest
from regkit import Env

from provisioning import audit, integrity, schema, support, temporary, verification
from provisioning.errors import TamperedRowError
from provisioning.keys import aad
from provisioning.registry import Registry


def _uid(env: Env, name: str) -> int:
    row = env.reg.db.one("SELECT id FROM users WHERE name = ?", (name,))
    assert row is not None
    return int(row["id"])


def _refusal_logged(env: Env, table: str) -> None:
    last = audit.entries(env.reg.db, action="integrity")
    assert last and last[-1].outcome == "refused" and last[-1].detail["table"] == table
    audit.verify(env.reg.db, env.reg.sealer)  # the log itself is intact, refusal included


def test_temporary_passcode_row_moved_to_a_victim_is_refused(both: Env,
                                                             caplog: pytest.LogCaptureFixture
                                                             ) -> None:
    env = both
    env.active("mallory", "1111")
    victim = env.active("victim", "2222")
    code, _, _ = temporary.issue_passcode(env.reg, "mallory")
    env.reg.db.execute("UPDATE temp_access SET user_id = ?", (_uid(env, "victim"),))
    with caplog.at_level(logging.ERROR, logger="provisioning.registry"), \
            pytest.raises(TamperedRowError, match="temp_access row id=1"):
        verification.issue_challenge(env.reg, "victim", victim)
    assert "refused a tampered row: temp_access" in caplog.text
    assert code not in caplog.text
    _refusal_logged(env, "temp_access")
    # Even a row whose MAC were somehow right would not open: the secret is sealed to mallory.
    row = env.reg.db.one("SELECT * FROM temp_access")
    assert row is not None
    with pytest.raises(Exception, match="altered or moved"):
        env.reg.unseal(row["secret_enc"], "temp_access", "secret_enc",
                       f"{row['uid']}|user={_uid(env, 'victim')}")


def test_lost_card_set_back_to_active_is_refused(both: Env) -> None:
    env = both
    serial = env.active()
    support.mark_lost(env.reg, serial)
    env.reg.db.execute("UPDATE cards SET status = 'active' WHERE serial_number = ?", (serial,))
    with pytest.raises(TamperedRowError, match=f"cards row id=1 .{serial}."):
        env.login("alice", serial)
    _refusal_logged(env, "cards")


def test_assignment_moved_to_a_victim_is_refused(both: Env) -> None:
    env = both
    mine = env.active("mallory", "1111")
    env.active("victim", "2222")
    env.reg.db.execute("UPDATE assignments SET user_id = ? WHERE card_id = "
                       "(SELECT id FROM cards WHERE serial_number = ?)",
                       (_uid(env, "victim"), mine))
    with pytest.raises(TamperedRowError, match="assignments row"):
        verification.issue_challenge(env.reg, "victim", mine)
    _refusal_logged(env, "assignments")


def test_failure_columns_cleared_between_tries_are_refused(both: Env) -> None:
    env = both
    serial = env.active()
    for _ in range(3):
        env.wrong("alice")
    ch = verification.issue_challenge(env.reg, "alice")
    env.reg.db.execute("UPDATE users SET failures = 0, failures_since = NULL, "
                       "failure_times = NULL WHERE name = 'alice'")
    with pytest.raises(TamperedRowError, match=r"users row id=1 .alice."):
        verification.verify(env.reg, "alice", ch.id, env.answer(serial, ch.challenge, "0000"))
    _refusal_logged(env, "users")


def test_a_lock_lifted_by_sql_is_refused(both: Env) -> None:
    env = both
    serial = env.active()
    for _ in range(10):
        env.wrong("alice")
    assert support.user_view(env.reg, "alice")["status"] == "locked"
    env.reg.db.execute("UPDATE users SET locked_until = NULL WHERE name = 'alice'")
    with pytest.raises(TamperedRowError, match="users row"):
        env.login("alice", serial)


def test_a_used_challenge_made_unused_again_is_refused(both: Env) -> None:
    env = both
    serial = env.active()
    ch = verification.issue_challenge(env.reg, "alice")
    good = env.answer(serial, ch.challenge)
    assert verification.verify(env.reg, "alice", ch.id, good).accepted
    env.reg.db.execute("UPDATE challenges SET used_at = NULL WHERE id = ?", (ch.id,))
    with pytest.raises(TamperedRowError, match="challenges row"):
        verification.verify(env.reg, "alice", ch.id, good)
    _refusal_logged(env, "challenges")


def test_a_setting_written_by_sql_is_not_used(both: Env,
                                              caplog: pytest.LogCaptureFixture) -> None:
    env = both
    env.reg.set_policy("max_failures", 5)
    env.reg.db.execute("UPDATE settings SET value = '100' WHERE name = 'max_failures'")
    with caplog.at_level(logging.ERROR, logger="provisioning.registry"), env.reopen() as reg:
        assert reg.policy.max_failures == 10  # the default, not the forged 100
    assert "max_failures" in caplog.text


def test_untouched_rows_pass_and_rotation_keeps_a_forged_row_refused(both: Env) -> None:
    env = both
    serial = env.active()
    lost = env.active("bob", "5678")
    support.mark_lost(env.reg, lost)
    env.reg.db.execute("UPDATE cards SET status = 'active' WHERE serial_number = ?", (lost,))
    env.reg.rotate_key()  # re-MACs what was good under the old key, and only that
    assert env.login("alice", serial).accepted
    with env.reopen() as reg:
        assert env.login("alice", serial).accepted
        with pytest.raises(TamperedRowError):
            reg.card_row(lost)
        assert audit.entries(reg.db, action="registry.rotate-key")[-1].detail["rows_refused"] == 1
        audit.verify(reg.db, reg.sealer)


def test_migration_from_v2_seals_temporary_access_to_its_user_and_macs_every_row(env: Env
                                                                                 ) -> None:
    serial = env.active()
    code, _, _ = temporary.issue_passcode(env.reg, "alice")
    # Put the file back to what schema v2 left: no MAC columns, the secret sealed to its row.
    row = env.reg.db.one("SELECT * FROM temp_access")
    assert row is not None
    plain = env.reg.sealer.open(row["secret_enc"], aad("temp_access", "secret_enc",
                                                       f"{row['uid']}|user={row['user_id']}"))
    old = env.reg.sealer.seal(plain, aad("temp_access", "secret_enc", row["uid"]))
    env.reg.close()
    with sqlite3.connect(env.url) as conn:
        conn.execute("UPDATE temp_access SET secret_enc = ?", (old,))
        downgrade.to_v2(conn)
    auditkit.to_single_chain(env.url, 2, env.reg.sealer)  # and the audit log as v2 kept it
    reg, _, applied = Registry.init(env.url, env.key_file, clock=env.clock)
    with reg:
        assert applied == schema.VERSION - 2
        for table in integrity.TABLES:
            for r in reg.db.all(f"SELECT * FROM {table}"):
                assert integrity.ok(reg.sealer, table, r), table
        env.reg = reg
        ch = verification.issue_challenge(reg, "alice")
        assert verification.verify(reg, "alice", ch.id, code).method == "passcode"
        assert reg.card(serial).status == "unavailable"


def test_audit_verify_also_checks_every_row_mac(both: Env, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """The issue: `dsc audit --verify` stayed "intact" while rows were edited by SQL."""
    env = both
    from host_tools.cli import main

    serial = env.active()
    support.mark_lost(env.reg, serial)
    monkeypatch.setenv("DSC_DB", env.url)
    monkeypatch.setenv("DSC_MASTER_KEY_FILE", str(env.key_file))
    assert main(["audit", "--verify"]) == 0
    assert "rows vouched for" in capsys.readouterr().out
    env.reg.db.execute("UPDATE cards SET status = 'active' WHERE serial_number = ?", (serial,))
    env.reg.db.execute("UPDATE users SET failures = 3")
    assert main(["audit", "--verify"]) != 0
    err = capsys.readouterr().err
    assert "integrity check failed: the users row id=1 (alice) (and 1 more row)" in err
    assert audit.entries(env.reg.db, action="integrity")[-1].detail["others"] == 1
    with pytest.raises(TamperedRowError):
        env.reg.verify_rows()


def test_a_refused_row_put_right_can_be_vouched_for(both: Env,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    env = both
    from host_tools.cli import main

    serial = env.active()
    support.mark_lost(env.reg, serial)
    env.reg.db.execute("UPDATE cards SET status = 'active', status_at = 1 "
                       "WHERE serial_number = ?", (serial,))
    with pytest.raises(TamperedRowError):
        support.replace(env.reg, serial, env.card())  # support is stuck on it too
    env.reg.db.execute("UPDATE cards SET status = 'lost' WHERE serial_number = ?", (serial,))
    monkeypatch.setenv("DSC_DB", env.url)
    monkeypatch.setenv("DSC_MASTER_KEY_FILE", str(env.key_file))
    assert main(["registry", "vouch", "cards", "1", "--why", "status put back to lost"]) == 0
    last = audit.entries(env.reg.db, action="integrity.vouch")[-1]
    assert last.detail == {"table": "cards", "row": "id=1", "why": "status put back to lost",
                           "was_valid": False}
    assert env.reg.card(serial).status == "lost"
    assert support.replace(env.reg, serial, env.card()) == ["alice"]
    assert main(["registry", "vouch", "cards", "x1", "--why", "?"]) == 2
