"""Opening, schema versions, sealed secrets, key rotation and the audit chain (SQLite)."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import auditkit
import downgrade
import pytest
from regkit import Env

from host_tools.cli import exits
from provisioning import audit, schema, support, temporary, verification
from provisioning.errors import AuditError, MasterKeyError, RegistryError, TamperedRowError
from provisioning.keys import read_key_file
from provisioning.registry import Registry


def test_init_creates_key_file_0600_and_is_idempotent(env: Env) -> None:
    assert stat.S_IMODE(env.key_file.stat().st_mode) == 0o600
    reg, created, applied = Registry.init(env.url, env.key_file)
    with reg:
        assert (created, applied) == (False, 0)
    with sqlite3.connect(env.url) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_version")]
    assert versions == list(range(1, schema.VERSION + 1))


def test_open_refuses_missing_registry_wrong_key_and_newer_schema(env: Env,
                                                                   tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match=r"no registry at .*: initialise one") as e:
        Registry.open(str(tmp_path / "none.sqlite3"), env.key_file)
    assert e.value.reason == "no registry"  # the CLI names its command from this
    other = tmp_path / "other.key"
    Registry.init(str(tmp_path / "b.sqlite3"), other)[0].close()
    with pytest.raises(MasterKeyError, match="does not hold this registry's key"):
        Registry.open(env.url, other)
    with pytest.raises(MasterKeyError, match="no master key file"):
        Registry.open(env.url, tmp_path / "missing.key")
    bad = tmp_path / "bad.key"
    bad.write_text("zz 00\n")
    bad.chmod(0o600)
    with pytest.raises(MasterKeyError, match="line 1") as e:
        Registry.open(env.url, bad)
    assert "00" not in str(e.value).split(":")[-1]
    with sqlite3.connect(env.url) as conn:
        conn.execute("INSERT INTO schema_version VALUES (?, 0)", (schema.VERSION + 1,))
    with pytest.raises(RegistryError, match=f"schema version {schema.VERSION + 1}.*upgrade"):
        Registry.open(env.url, env.key_file)


def test_init_does_not_leave_a_new_key_for_an_existing_registry(env: Env,
                                                                 tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.key"
    with pytest.raises(MasterKeyError):
        Registry.init(env.url, fresh)
    assert not fresh.exists()


def test_secrets_are_sealed_and_bound_to_their_row(env: Env) -> None:
    a, b = env.active(), env.active("bob", "5678")
    raw = Path(env.url).read_bytes()
    assert env.seeds[a] not in raw and env.seeds[b] not in raw and b"A" * 32 not in raw
    row_b = env.reg.card_row(b)
    with pytest.raises(MasterKeyError, match="altered or moved"):  # the AAD names the serial
        env.reg.unseal(row_b["seed_enc"], "cards", "seed_enc", a)
    env.reg.db.execute("UPDATE cards SET seed_enc = ? WHERE serial_number = ?",
                       (row_b["seed_enc"], a))
    with pytest.raises(TamperedRowError, match=r"cards row id=1 .DSC00000001."):  # the row MAC
        env.reg.seed(a)
    assert env.reg.seed(b) == env.seeds[b]


def test_rotate_key_reencrypts_everything(env: Env) -> None:
    serial = env.active()
    code, _, _ = temporary.issue_passcode(env.reg, "alice")
    old_id = read_key_file(env.key_file)[0][0]
    new_id = env.reg.rotate_key()
    keys = read_key_file(env.key_file)
    assert [k for k, _ in keys] == [new_id] and new_id != old_id
    assert stat.S_IMODE(env.key_file.stat().st_mode) == 0o600
    reg = env.reopen()
    with reg:
        assert reg.seed(serial) == env.seeds[serial]
        for table, column, _ in (("cards", "seed_enc", 0), ("users", "pin_enc", 0),
                                 ("temp_access", "secret_enc", 0)):
            for row in reg.db.all(f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL"):
                assert reg.sealer.key_id_of(row[column]) == new_id
        ch = verification.issue_challenge(reg, "alice")
        assert verification.verify(reg, "alice", ch.id, code).method == "passcode"


def test_audit_chain_records_actions_and_finds_tampering(env: Env) -> None:
    serial = env.active()
    env.login("alice", serial)
    env.wrong("alice")
    count, _ = audit.verify(env.reg.db, env.reg.sealer)
    actions = [e.action for e in audit.entries(env.reg.db)]
    assert actions[:4] == ["registry.init", "allocate", "provision", "assign"]
    assert actions.count("verify") == 2 and count == len(actions)
    last = audit.entries(env.reg.db, user="alice")[-1]
    assert last.outcome == "rejected" and last.detail["reason"] == "wrong"
    assert last.operator == "tester" and last.serial_number == serial
    db = env.reg.db
    db.execute("UPDATE audit SET outcome = 'accepted' WHERE seq = ?", (last.seq,))
    with pytest.raises(AuditError, match=f"entry {last.seq}: its content was edited"):
        audit.verify(db, env.reg.sealer)
    db.execute("UPDATE audit SET outcome = 'rejected' WHERE seq = ?", (last.seq,))
    db.execute("DELETE FROM audit WHERE seq = 3")
    with pytest.raises(AuditError, match="entry 3 is missing"):
        audit.verify(db, env.reg.sealer)


def test_audit_finds_deleted_tail(env: Env) -> None:
    env.active()
    count, _ = audit.verify(env.reg.db, env.reg.sealer)
    env.reg.db.execute("DELETE FROM audit WHERE seq = ?", (count,))
    with pytest.raises(AuditError, match="entries at the end were deleted"):
        audit.verify(env.reg.db, env.reg.sealer)


def test_audit_never_holds_secrets(env: Env) -> None:
    serial = env.active()
    code, _, _ = temporary.issue_passcode(env.reg, "alice")
    text = repr([e.as_json() for e in audit.entries(env.reg.db)])
    assert code not in text and "1234" not in text and env.seeds[serial].hex() not in text


def test_audit_finds_the_newest_entries_deleted_with_the_head_rewritten(env: Env) -> None:
    serial = env.active()
    env.wrong("alice")
    env.login("alice", serial)
    count, _ = audit.verify(env.reg.db, env.reg.sealer)
    env.reg.db.execute("DELETE FROM audit WHERE seq > ?", (count - 2,))
    auditkit.rechain(env.reg.db, 0, count - 2)
    with pytest.raises(AuditError, match="head fails its MAC check"):
        audit.verify(env.reg.db, env.reg.sealer)
    # nothing more is chained onto a head that fails its check (it would launder the cut)
    with pytest.raises(AuditError, match="head fails its MAC check"):
        support.unlock(env.reg, "alice")


def test_audit_finds_an_edit_whose_chain_was_recomputed(env: Env) -> None:
    env.active()
    env.wrong("alice")
    env.reg.db.execute("UPDATE audit SET outcome = 'accepted' WHERE action = 'verify'")
    auditkit.rechain(env.reg.db, 0, 1)
    with pytest.raises(AuditError, match="head fails its MAC check"):
        audit.verify(env.reg.db, env.reg.sealer)


def test_audit_head_survives_key_rotation_and_reopening(env: Env) -> None:
    env.active()
    env.reg.rotate_key()
    with env.reopen() as reg:
        support.unlock(reg, "alice")
        count, head = audit.verify(reg.db, reg.sealer)
        assert audit.head_hash(reg.db) == head and count > 5


def test_upgrade_from_schema_1_anchors_the_head_and_keeps_failure_counts(env: Env) -> None:
    serial = env.active()
    for _ in range(3):
        env.wrong("alice")
    env.reg.close()
    # put the file back to what schema v1 left: no failure_times, no head MAC
    with sqlite3.connect(env.url) as conn:
        conn.execute("UPDATE users SET failures = 3, failures_since = ? WHERE name = 'alice'",
                     (env.clock.t,))
        downgrade.to_v2(conn)
        conn.execute("ALTER TABLE users DROP COLUMN failure_times")
    auditkit.to_single_chain(env.url, 1, None)
    with pytest.raises(RegistryError, match="initialise it again to migrate") as old:
        env.reopen()
    assert old.value.reason == "old schema"
    assert exits.message(old.value).endswith("(`dsc registry init` migrates it)")
    reg, created, applied = Registry.init(env.url, env.key_file, clock=env.clock)
    with reg:
        assert (created, applied) == (False, schema.VERSION - 1)
        assert audit.entries(reg.db)[-1].action == "audit.anchor"
        assert audit.verify(reg.db, reg.sealer)[0] == len(audit.entries(reg.db, limit=1000))
        env.reg = reg
        assert env.wrong("alice").attempts_remaining == 6  # the 3 from before still count
        assert env.login("alice", serial).accepted


def test_only_an_explicit_anchor_clears_an_alarm(env: Env) -> None:
    env.active()
    count, _ = audit.verify(env.reg.db, env.reg.sealer)
    env.reg.db.execute("DELETE FROM audit WHERE seq = ?", (count,))
    auditkit.rechain(env.reg.db, 0, count)
    env.reg.db.execute("UPDATE audit_chains SET mac = NULL")  # hoping init re-anchors it
    reg, _, applied = Registry.init(env.url, env.key_file, clock=env.clock)
    with reg:
        assert applied == 0
        with pytest.raises(AuditError, match="head fails its MAC check"):
            audit.verify(reg.db, reg.sealer)
        assert reg.anchor_audit("looked into") == count - 1
        assert audit.verify(reg.db, reg.sealer)[0] == count
        assert audit.entries(reg.db)[-1].detail == {"head": count - 1, "why": "looked into"}


def test_registry_file_is_private_and_a_readable_key_file_is_refused(env: Env,
                                                                     tmp_path: Path) -> None:
    assert stat.S_IMODE(Path(env.url).stat().st_mode) == 0o600
    assert stat.S_IMODE(env.key_file.parent.stat().st_mode) == 0o700
    env.key_file.chmod(0o640)
    with pytest.raises(MasterKeyError, match=r"can be read by others \(mode 0640\): chmod 600"):
        env.reopen()
    env.key_file.chmod(0o600)
    env.reopen().close()
