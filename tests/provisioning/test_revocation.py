"""A state change that turns something off cannot be undone by an UPDATE (issue: a revoked API
client's `revoked_at` set back to NULL by hand made its token work again).

The column list is discovered: every column of every MACed table (`integrity.TABLES` and
`integrity.OWN`) as the schema itself has it. Each is edited by SQL and the row must then fail
its MAC (and pass again once put back). A column a MAC leaves out on purpose is listed in
`NOT_COVERED` with the reason; a new column nobody listed fails here by name. On SQLite, and on
PostgreSQL when DSC_TEST_PG_URL is set."""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import downgrade
import pytest
from regkit import Clock, Env, fresh_pg_database
from test_rotation import populate, schema_columns

from provisioning import apiclients, integrity, operators, policy, schema
from provisioning.errors import TamperedRowError
from provisioning.registry import Registry

# Columns that no MAC covers, and why that decides no access or login.
NOT_COVERED = {
    ("operators", "id"): "the name (UNIQUE) names an operator; the id decides nothing",
    ("operators", "created_at"): "shown only",
    ("api_clients", "id"): "a token is found by its hash (UNIQUE), a client by its name",
}


def _maced_columns() -> list[tuple[str, str]]:
    """(table, column) of every MACed table of a fresh registry, `mac` itself left out."""
    with tempfile.TemporaryDirectory() as tmp:
        reg, _, _ = Registry.init(str(Path(tmp) / "r.sqlite3"), Path(tmp) / "master.key")
        with reg:
            cols = schema_columns(reg.db)
    return [(t, c) for t in (*integrity.TABLES, *integrity.OWN) for c in cols[t] if c != "mac"]


COLUMNS = _maced_columns()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres",
                                                                marks=pytest.mark.postgres)])
def full(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Env]:
    """One registry with a row in every MACed table (edited and put back by each test)."""
    tmp = tmp_path_factory.mktemp("revocation")
    with fresh_pg_database() as pg:
        if request.param == "sqlite":
            url = str(tmp / "registry.sqlite3")
        elif pg is None:
            pytest.skip("DSC_TEST_PG_URL is not set")
        else:
            url = pg
        clock = Clock()
        reg, _, _ = Registry.init(url, tmp / "master.key", clock=clock, operator="tester")
        with reg:
            env = Env(reg, clock, url, tmp / "master.key")
            populate(env)
            policy.set_withdrawal_limit(reg, policy.SOFT_CARD, 500)
            revoked = apiclients.add(reg, "old-server", "verify")
            apiclients.revoke(reg, "old-server")
            operators.add(reg, "gone", "helpdesk", "correct horse battery", "alice")
            operators.disable(reg, "gone")
            policy.issue(reg, "alice", purpose="withdrawal", amount=Decimal(10),
                         client_ip="192.0.2.7", client="login-server")
            assert revoked
            yield env


def _other(value: Any) -> Any:
    if value is None:
        return 1
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1000
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value) + b"x"
    return str(value) + "x"


@pytest.mark.parametrize(("table", "column"), COLUMNS, ids=[f"{t}.{c}" for t, c in COLUMNS])
def test_an_edited_column_makes_its_row_fail_its_mac(full: Env, table: str, column: str) -> None:
    reg = full.reg
    key = integrity.key_column(table)
    rows = reg.db.all(integrity.select(table))
    assert rows, f"no {table} row to edit: give the fixture one"
    assert all(integrity.row_ok(reg.sealer, table, r) for r in rows), table
    # only fixed table and column names (from the schema) are formatted in
    for row in rows:
        before = row[column]
        changed = _other(before)
        where = changed if column == key else row[key]
        try:
            reg.db.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = ?",
                           (changed, row[key]))
        except Exception:
            continue
        try:
            edited = reg.db.one(f"{integrity.select(table)} WHERE {key} = ?", (where,))
            assert edited is not None
            held = integrity.row_ok(reg.sealer, table, edited)
        finally:
            reg.db.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = ?",
                           (before, where))
        if (table, column) in NOT_COVERED:
            assert held, f"{table}.{column} is listed as not covered, but its MAC covers it"
            return
        assert not held, (f"{table}.{column} is not under the row's MAC: an UPDATE goes "
                          f"unnoticed (cover it, or list it in NOT_COVERED with the reason)")
    put_back = reg.db.all(integrity.select(table))
    assert all(integrity.row_ok(reg.sealer, table, r) for r in put_back)


def test_not_covered_names_only_columns_that_exist() -> None:
    assert set(NOT_COVERED) <= set(COLUMNS)


# --- what each edit means for a login --------------------------------------------------------
def test_a_revoked_token_stays_revoked_when_revoked_at_is_set_back(both: Env) -> None:
    env = both
    token = apiclients.add(env.reg, "bank", "verify")
    assert apiclients.authenticate(env.reg, token).name == "bank"
    apiclients.revoke(env.reg, "bank")
    with pytest.raises(apiclients.AuthenticationError, match="revoked"):
        apiclients.authenticate(env.reg, token)
    env.reg.db.execute("UPDATE api_clients SET revoked_at = NULL WHERE name = 'bank'")
    with pytest.raises(apiclients.AuthenticationError, match="fails its MAC"):
        apiclients.authenticate(env.reg, token)
    # nor by another revocation time, nor by the creation time moved
    env.reg.db.execute("UPDATE api_clients SET revoked_at = 1, created_at = 0")
    with pytest.raises(apiclients.AuthenticationError, match="fails its MAC"):
        apiclients.authenticate(env.reg, token)


def test_revoking_a_tampered_row_does_not_launder_it(both: Env) -> None:
    env = both
    token = apiclients.add(env.reg, "bank", "verify")
    env.reg.db.execute("UPDATE api_clients SET scope = 'support'")
    apiclients.revoke(env.reg, "bank")
    row = env.reg.db.one("SELECT * FROM api_clients")
    assert row is not None and row["revoked_at"] is not None
    assert not integrity.own_ok(env.reg.sealer, "api_clients", row, row["mac"])
    # the edit undone and the revocation with it: the row as it was before, active, still fails
    env.reg.db.execute("UPDATE api_clients SET revoked_at = NULL, scope = 'verify'")
    with pytest.raises(apiclients.AuthenticationError, match="fails its MAC"):
        apiclients.authenticate(env.reg, token)
    assert integrity.scan(env.reg.db, env.reg.sealer)[1] == [("api_clients", "id=1 (bank)")]


def test_a_disabled_operator_stays_disabled(both: Env) -> None:
    env = both
    env.active("op-hd", "4321")
    operators.add(env.reg, "hd", "helpdesk", "correct horse battery", "op-hd")
    operators.disable(env.reg, "hd")
    env.reg.db.execute("UPDATE operators SET disabled_at = NULL")
    assert operators.active(env.reg, "hd") is None
    with pytest.raises(operators.SignInError):
        operators.begin_sign_in(env.reg, "hd", "correct horse battery")


def test_an_edited_withdrawal_limit_is_zero_not_lifted(both: Env) -> None:
    env = both
    policy.set_withdrawal_limit(env.reg, policy.SOFT_CARD, 500)
    assert policy.withdrawal_limits(env.reg)[policy.SOFT_CARD] == 500
    env.reg.db.execute("UPDATE settings SET value = 'unlimited' "
                       "WHERE name = 'withdrawal_limit.softcard'")
    assert policy.withdrawal_limits(env.reg)[policy.SOFT_CARD] == 0
    policy.set_withdrawal_limit(env.reg, policy.SOFT_CARD, 700)
    assert policy.withdrawal_limits(env.reg)[policy.SOFT_CARD] == 700
    assert env.reg.verify_rows() > 0  # the limit row is MACed like the other settings


def test_the_amount_a_withdrawal_is_checked_against_cannot_be_edited(both: Env) -> None:
    env = both
    serial = env.active("alice", "1234")
    issued = policy.issue(env.reg, "alice", purpose="withdrawal", amount=Decimal(25),
                          client="bank")
    env.reg.db.execute("UPDATE api_challenges SET amount = NULL")
    response = env.answer(serial, issued.challenge.challenge)
    with pytest.raises(TamperedRowError, match="api_challenges"):
        policy.respond(env.reg, issued.challenge.id, response, client="bank")
    # put right and vouched for (the challenge id is text, like a challenges row's)
    env.reg.db.execute("UPDATE api_challenges SET amount = '25'")
    assert env.reg.vouch_row("api_challenges", issued.challenge.id, "amount restored") is True
    answer = policy.respond(env.reg, issued.challenge.id, response, client="bank")
    assert answer.status == "accepted"


def test_deleting_an_ip_restriction_does_not_lift_it(both: Env) -> None:
    env = both
    env.active("alice", "1234")
    policy.set_networks(env.reg, "alice", ["192.0.2.0/24"])
    with pytest.raises(policy.PolicyRefusal) as outside:
        policy.issue(env.reg, "alice", client_ip="198.51.100.1", client="bank")
    assert outside.value.reason == "ip-not-allowed"
    env.reg.db.execute("DELETE FROM user_networks")
    with pytest.raises(policy.PolicyRefusal) as gone:
        policy.issue(env.reg, "alice", client_ip="198.51.100.1", client="bank")
    assert gone.value.reason == "ip-restriction-broken"
    # and the mark in the user's row cleared as well: that row then fails its MAC
    env.reg.db.execute("UPDATE users SET ip_restricted = NULL WHERE name = 'alice'")
    with pytest.raises(TamperedRowError, match="users row"):
        policy.issue(env.reg, "alice", client_ip="198.51.100.1", client="bank")
    env.reg.db.execute("UPDATE users SET ip_restricted = 1 WHERE name = 'alice'")
    policy.set_networks(env.reg, "alice", [])  # lifted the proper way
    assert policy.issue(env.reg, "alice", client_ip="198.51.100.1", client="bank").challenge


# --- the upgrade ------------------------------------------------------------------------------
def _old_mac(reg: Registry, row: Any, **changes: Any) -> str:
    r = {**dict(row), **changes}
    return reg.sealer.mac(f"{r['name']}\n{r['scope']}\n{r['token_hash']}".encode(), "api-client")


def test_upgrade_remacs_api_clients_and_keeps_refused_rows_refused(env: Env) -> None:
    reg = env.reg
    good = apiclients.add(reg, "good", "verify")
    gone = apiclients.add(reg, "gone", "verify")
    apiclients.revoke(reg, "gone")
    undone = apiclients.add(reg, "undone", "verify")
    apiclients.revoke(reg, "undone")
    forged = apiclients.add(reg, "forged", "verify")
    serial = env.active("alice", "1234")
    policy.set_withdrawal_limit(reg, policy.SOFT_CARD, 500)
    issued = policy.issue(reg, "alice", purpose="withdrawal", amount=Decimal(25), client="good")
    env.active("bob", "5678")
    bob = reg.user_row("bob")["id"]
    nets = integrity.own_mac(reg.sealer, "user_networks",
                             {"user_name": "bob", "networks": "192.0.2.0/24"})
    rows = {r["name"]: r for r in reg.db.all("SELECT * FROM api_clients")}
    reg.close()
    # Back to what the schema before _V_REVOKE left: MACs of the old form, limits without one,
    # api_challenges without its column; then the attacks the old form could not see.
    with sqlite3.connect(env.url) as conn:
        for name, row in rows.items():
            mac = _old_mac(reg, row, scope="support") if name == "forged" else _old_mac(reg, row)
            conn.execute("UPDATE api_clients SET mac = ? WHERE id = ?", (mac, row["id"]))
        conn.execute("UPDATE api_clients SET scope = 'support' WHERE name = 'forged'")
        conn.execute("UPDATE api_clients SET revoked_at = NULL WHERE name = 'undone'")
        conn.execute("UPDATE api_clients SET mac = 'k:x' WHERE name = 'forged'")
        conn.execute("UPDATE settings SET mac = NULL WHERE name LIKE 'withdrawal_limit.%'")
        downgrade.undo_actmac(conn)  # and the migration after it
        downgrade.undo_revoke(conn)
        # bob's restriction as the registry wrote it before (his own row did not know of it)
        conn.execute("INSERT INTO user_networks (user_id, networks, mac) VALUES (?, ?, ?)",
                     (bob, "192.0.2.0/24", nets))
        downgrade.undo_throttle(conn)
        again = downgrade.forget_since(conn, schema._V_REVOKE)
    reg, _, applied = Registry.init(env.url, env.key_file, clock=env.clock)
    env.reg = reg
    with reg:
        assert applied == again
        assert schema.current_version(reg.db) == schema.VERSION
        assert apiclients.authenticate(reg, good).name == "good"
        with pytest.raises(apiclients.AuthenticationError, match="revoked"):
            apiclients.authenticate(reg, gone)
        for token in (undone, forged):  # undone by hand before the upgrade; forged
            with pytest.raises(apiclients.AuthenticationError, match="fails its MAC"):
                apiclients.authenticate(reg, token)
        assert policy.withdrawal_limits(reg)[policy.SOFT_CARD] == 500
        answer = policy.respond(reg, issued.challenge.id,
                                env.answer(serial, issued.challenge.challenge), client="good")
        assert answer.status == "accepted"
        # bob's restriction is marked in his row now: deleting its row no longer lifts it
        assert integrity.ok(reg.sealer, "users", reg.user_row("bob"))
        reg.db.execute("DELETE FROM user_networks")
        with pytest.raises(policy.PolicyRefusal, match="missing"):
            policy.issue(reg, "bob", client_ip="198.51.100.1", client="good")
        bad = integrity.scan(reg.db, reg.sealer)[1]
        assert sorted(bad) == [("api_clients", "id=3 (undone)"), ("api_clients", "id=4 (forged)")]
