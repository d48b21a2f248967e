"""The audit log's chains on SQLite and PostgreSQL: every kind of tampering is found, writers
do not wait for each other, checkpoints and the external head hash, and the upgrade from the
single-chain log."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import auditkit
import pytest
from regkit import Clock, Env

from provisioning import audit, schema, support
from provisioning.errors import AuditError
from provisioning.registry import Registry


@pytest.fixture(params=["sqlite", "postgres"])
def any_env(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[Env]:
    if request.param == "postgres":
        url = request.getfixturevalue("pg_url")
    else:
        url = str(tmp_path / "registry.sqlite3")
    key_file = tmp_path / "keys" / "master.key"
    reg, _, _ = Registry.init(url, key_file, clock=clock, operator="tester")
    with reg:
        yield Env(reg, clock, url, key_file)


def _busy(env: Env) -> Env:
    serial = env.active()
    env.wrong("alice")
    env.login("alice", serial)
    env.wrong("alice")
    return env


def _check_fails(env: Env, match: str) -> None:
    with pytest.raises(AuditError, match=match):
        audit.verify(env.reg.db, env.reg.sealer)


def _chain_rows(env: Env) -> list[dict[str, object]]:
    chain = auditkit.busy_chains(env.reg.db)[0]
    return [dict(r) for r in env.reg.db.all(
        "SELECT * FROM audit WHERE chain = ? ORDER BY chain_seq", (chain,))]


def test_intact_log_counts_every_entry_and_gives_the_head_hash(any_env: Env) -> None:
    env = _busy(any_env)
    count, head = audit.verify(env.reg.db, env.reg.sealer)
    listed = audit.entries(env.reg.db)
    assert count == len(listed) and [e.action for e in listed][:2] == ["registry.init",
                                                                       "allocate"]
    assert [e.seq for e in listed] == sorted(e.seq for e in listed)
    assert head == audit.head_hash(env.reg.db) and len(head) == 64
    assert head == audit.head_hash(chain_heads=audit.heads(env.reg.db))
    env.wrong("alice")
    assert audit.verify(env.reg.db, env.reg.sealer)[1] != head  # it moves with the log


def test_edited_entry_is_found(any_env: Env) -> None:
    env = _busy(any_env)
    last = audit.entries(env.reg.db, user="alice")[-1]
    env.reg.db.execute("UPDATE audit SET outcome = 'accepted' WHERE seq = ?", (last.seq,))
    _check_fails(env, f"entry {last.seq}: its content was edited")


def test_edited_entry_with_its_chain_recomputed_is_found(any_env: Env) -> None:
    env = _busy(any_env)
    rows = _chain_rows(env)
    env.reg.db.execute("UPDATE audit SET outcome = 'accepted' WHERE seq = ?", (rows[3]["seq"],))
    auditkit.rechain(env.reg.db, int(str(rows[0]["chain"])), 1)
    _check_fails(env, "head fails its MAC check")


def test_deleted_entry_is_found(any_env: Env) -> None:
    env = _busy(any_env)
    rows = _chain_rows(env)
    env.reg.db.execute("DELETE FROM audit WHERE seq = ?", (rows[2]["seq"],))
    _check_fails(env, f"chain {rows[2]['chain']} entry 3 is missing")


def test_deleted_tail_is_found(any_env: Env) -> None:
    env = _busy(any_env)
    rows = _chain_rows(env)
    env.reg.db.execute("DELETE FROM audit WHERE seq = ?", (rows[-1]["seq"],))
    _check_fails(env, "entries at the end were deleted")


def test_inserted_entry_is_found(any_env: Env) -> None:
    env = _busy(any_env)
    rows = _chain_rows(env)
    chain, last = rows[0]["chain"], rows[-1]
    # a forged entry, hashed correctly, appended after the last one of the chain
    forged = dict(last, seq=int(str(last["seq"])) + 1000, chain_seq=len(rows) + 1,
                  outcome="accepted", prev_hash=last["hash"])
    forged["hash"] = audit._digest(str(last["hash"]), audit._fields(forged))
    columns = ", ".join(forged)
    marks = ", ".join("?" for _ in forged)
    env.reg.db.execute(f"INSERT INTO audit ({columns}) VALUES ({marks})", list(forged.values()))
    _check_fails(env, f"chain {chain} ends at entry {len(rows) + 1} but its head says "
                      f"{len(rows)}")
    # ... or squeezed in the middle, the places after it moved up by one
    env.reg.db.execute("DELETE FROM audit WHERE seq = ?", (forged["seq"],))
    env.reg.db.execute("UPDATE audit SET chain_seq = chain_seq + 1000 WHERE chain = ? AND "
                       "chain_seq >= 3", (chain,))
    env.reg.db.execute("UPDATE audit SET chain_seq = chain_seq - 999 WHERE chain = ? AND "
                       "chain_seq >= 1000", (chain,))
    middle = dict(rows[1], seq=int(str(last["seq"])) + 2000, chain_seq=3,
                  prev_hash=rows[1]["hash"])
    middle["hash"] = audit._digest(str(rows[1]["hash"]), audit._fields(middle))
    env.reg.db.execute(f"INSERT INTO audit ({columns}) VALUES ({marks})", list(middle.values()))
    _check_fails(env, "it does not follow the entry before it")


def test_reordered_entries_are_found(any_env: Env) -> None:
    env = _busy(any_env)
    rows = _chain_rows(env)
    a, b = rows[2], rows[3]
    db = env.reg.db
    db.execute("UPDATE audit SET chain_seq = -1 WHERE seq = ?", (a["seq"],))
    db.execute("UPDATE audit SET chain_seq = ? WHERE seq = ?", (a["chain_seq"], b["seq"]))
    db.execute("UPDATE audit SET chain_seq = ? WHERE seq = ?", (b["chain_seq"], a["seq"]))
    _check_fails(env, f"entry {b['seq']}: it does not follow the entry before it")
    # swapping the global numbers instead (the listing order) breaks both hashes
    db.execute("UPDATE audit SET chain_seq = -1 WHERE seq = ?", (a["seq"],))
    db.execute("UPDATE audit SET chain_seq = ? WHERE seq = ?", (b["chain_seq"], b["seq"]))
    db.execute("UPDATE audit SET chain_seq = ? WHERE seq = ?", (a["chain_seq"], a["seq"]))
    audit.verify(db, env.reg.sealer)
    db.execute("UPDATE audit SET seq = -1 WHERE seq = ?", (a["seq"],))
    db.execute("UPDATE audit SET seq = ? WHERE seq = ?", (a["seq"], b["seq"]))
    db.execute("UPDATE audit SET seq = ? WHERE seq = -1", (b["seq"],))
    _check_fails(env, "its content was edited")


def test_a_whole_chain_deleted_is_found(any_env: Env) -> None:
    env = _busy(any_env)
    chain = auditkit.busy_chains(env.reg.db)[0]
    env.reg.db.execute("DELETE FROM audit WHERE chain = ?", (chain,))
    env.reg.db.execute("DELETE FROM audit_chains WHERE id = ?", (chain,))
    _check_fails(env, f"chain {chain} and its entries were deleted")


def test_an_old_head_put_back_with_its_tail_cut_is_caught_by_a_checkpoint(any_env: Env) -> None:
    env = _busy(any_env)
    db, sealer = env.reg.db, env.reg.sealer
    chain = auditkit.busy_chains(db)[0]
    old = db.one("SELECT seq, hash, mac FROM audit_chains WHERE id = ?", (chain,))
    assert old is not None
    env.wrong("alice")
    audit.checkpoint(db, sealer, env.reg.now())
    env.wrong("alice")
    # the attacker saved the head row earlier: its MAC is genuine
    db.execute("DELETE FROM audit WHERE chain = ? AND chain_seq > ?", (chain, old["seq"]))
    db.execute("UPDATE audit_chains SET seq = ?, hash = ?, mac = ? WHERE id = ?",
               (old["seq"], old["hash"], old["mac"], chain))
    _check_fails(env, "before what checkpoint 1 recorded")


def test_checkpoints_are_macd_and_hold_the_quoted_head(any_env: Env) -> None:
    env = _busy(any_env)
    db, sealer = env.reg.db, env.reg.sealer
    quoted = audit.checkpoint(db, sealer, env.reg.now())
    assert audit.verify(db, sealer, expect=quoted)[1] == quoted
    env.wrong("alice")
    count, now = audit.verify(db, sealer, expect=quoted)  # still held, by the checkpoint
    assert now != quoted and count == len(audit.entries(db))
    with pytest.raises(AuditError, match="does not hold the state 0000"):
        audit.verify(db, sealer, expect="0000")
    row = db.one("SELECT heads FROM audit_checkpoints")
    assert row is not None
    heads = json.loads(row["heads"])
    heads[0][1] += 1
    db.execute("UPDATE audit_checkpoints SET heads = ?", (json.dumps(heads),))
    _check_fails(env, "checkpoint 1 fails its MAC check")
    db.execute("DELETE FROM audit_checkpoints")
    with pytest.raises(AuditError, match=f"does not hold the state {quoted}"):
        audit.verify(db, sealer, expect=quoted)


def test_checkpoint_if_due_writes_one_per_period(any_env: Env) -> None:
    env = _busy(any_env)
    db, sealer = env.reg.db, env.reg.sealer
    first = audit.checkpoint_if_due(db, sealer, env.reg.now(), every=300)
    assert first == audit.head_hash(db)
    env.wrong("alice")
    env.clock.advance(299)
    assert audit.checkpoint_if_due(db, sealer, env.reg.now(), every=300) is None
    env.clock.advance(1)
    second = audit.checkpoint_if_due(db, sealer, env.reg.now(), every=300)
    assert second is not None and second != first
    assert audit.verify(db, sealer, expect=first)[1] == second  # the old one still provable
    row = db.one("SELECT COUNT(*) AS n FROM audit_checkpoints")
    assert row is not None and row["n"] == 2


def test_nothing_is_chained_onto_or_checkpointed_over_a_forged_head(any_env: Env) -> None:
    env = _busy(any_env)
    db = env.reg.db
    failures = support.user_view(env.reg, "alice")["failures"]
    assert audit.head_ok(db, env.reg.sealer)
    db.execute("UPDATE audit_chains SET mac = NULL WHERE id = 3")
    assert not audit.head_ok(db, env.reg.sealer)
    db.execute("UPDATE audit_chains SET mac = NULL")
    with pytest.raises(AuditError, match="head fails its MAC check"):
        audit.checkpoint(db, env.reg.sealer, env.reg.now())
    with pytest.raises(AuditError, match="head fails its MAC check"):
        support.unlock(env.reg, "alice")
    with pytest.raises(AuditError, match="head fails its MAC check"):
        env.wrong("alice")  # the whole verification is refused, nothing counted
    assert support.user_view(env.reg, "alice")["failures"] == failures == 1


def test_key_rotation_re_macs_every_chain_and_checkpoint(any_env: Env) -> None:
    env = _busy(any_env)
    quoted = audit.checkpoint(env.reg.db, env.reg.sealer, env.reg.now())
    env.reg.rotate_key()
    with env.reopen() as reg:
        support.unlock(reg, "alice")
        count, _ = audit.verify(reg.db, reg.sealer, expect=quoted)
        assert count == len(audit.entries(reg.db))


@pytest.mark.postgres
def test_parallel_writers_on_postgres_take_different_chains(pg_url: str, tmp_path: Path) -> None:
    clock = Clock()
    key = tmp_path / "k"
    first, _, _ = Registry.init(pg_url, key, clock=clock, operator="a")
    second = Registry.open(pg_url, key, clock=clock, operator="b")
    done = threading.Event()
    with first, second:
        with first.db.transaction():
            first.log("test", "ok", detail={"n": 1})  # holds its chain until the commit

            def other() -> None:
                second.log("test", "ok", detail={"n": 2})
                done.set()

            t = threading.Thread(target=other)
            t.start()
            assert done.wait(10), "a second writer waited for the first one's chain"
            t.join()
        for _ in range(5):
            first.log("test", "ok")
            second.log("test", "ok")
        used = {e.chain for e in audit.entries(first.db, action="test")}
        assert len(used) >= 2
        assert audit.verify(first.db, first.sealer)[0] == len(audit.entries(first.db))


OLD_LOG = [("registry.init", None, "ok"), ("assign", "alice", "ok"),
           ("verify", "alice", "rejected"), ("verify", "alice", "accepted"),
           ("verify", "bob", "rejected"), ("unlock", "bob", "ok")]


def test_upgrade_from_the_single_chain_log_keeps_it_verified(tmp_path: Path,
                                                             clock: Clock) -> None:
    path, key = tmp_path / "old.sqlite3", tmp_path / "master.key"
    auditkit.legacy_registry(path, key, 2, OLD_LOG, at=clock.t)
    reg, _, applied = Registry.init(str(path), key, clock=clock, operator="new")
    with reg:
        assert applied == schema.VERSION - 2
        after = audit.entries(reg.db)
        assert [(e.action, e.user, e.outcome) for e in after[:-1]] == OLD_LOG
        assert after[-1].action == "audit.chains" and after[-1].seq == len(OLD_LOG) + 1
        assert {e.chain for e in after} == {0}
        count, _ = audit.verify(reg.db, reg.sealer)
        assert count == len(OLD_LOG) + 1
        reg.log("test", "ok")
        assert audit.verify(reg.db, reg.sealer)[0] == count + 1
        # the old entries are still tamper-evident under their old hashes
        reg.db.execute("UPDATE audit SET outcome = 'accepted' WHERE seq = 3")
        with pytest.raises(AuditError, match="entry 3: its content was edited"):
            audit.verify(reg.db, reg.sealer)


def test_upgrade_does_not_launder_a_broken_single_chain(tmp_path: Path, clock: Clock) -> None:
    path, key = tmp_path / "old.sqlite3", tmp_path / "master.key"
    auditkit.legacy_registry(path, key, 2, OLD_LOG, at=clock.t)
    with sqlite3.connect(path) as conn:  # the newest entry cut, the head pointed back
        conn.execute("DELETE FROM audit WHERE seq = ?", (len(OLD_LOG),))
        conn.execute("UPDATE audit_head SET seq = seq - 1, hash = (SELECT hash FROM audit "
                     "WHERE seq = ?)", (len(OLD_LOG) - 1,))
    reg, _, _ = Registry.init(str(path), key, clock=clock)
    with reg:
        with pytest.raises(AuditError, match="chain 0's head fails its MAC check"):
            audit.verify(reg.db, reg.sealer)
        assert audit.entries(reg.db)[-1].action == "verify"  # no audit.chains entry
        with pytest.raises(AuditError, match="head fails its MAC check"):
            reg.log("test", "ok")  # and nothing is chained onto it


def test_dsc_audit_verify_prints_a_head_it_keeps_provable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from host_tools.cli import main

    db, key = tmp_path / "r.sqlite3", tmp_path / "master.key"
    monkeypatch.setenv("DSC_DB", str(db))
    monkeypatch.setenv("DSC_MASTER_KEY_FILE", str(key))
    assert main(["registry", "init"]) == 0
    capsys.readouterr()
    assert main(["audit", "--verify", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["status"] == "intact" and len(first["head"]) == 64
    with Registry.open(str(db), key) as reg:
        assert first["head"] == audit.head_hash(reg.db)
        reg.set_policy("challenge_ttl", 120)  # the log moves on
        count, now = audit.verify(reg.db, reg.sealer, expect=first["head"])
        assert now != first["head"] and count == first["entries"] + 1
        points = reg.db.one("SELECT COUNT(*) AS n, MAX(head) AS head FROM audit_checkpoints")
        assert points is not None and (points["n"], points["head"]) == (1, first["head"])
