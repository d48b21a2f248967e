"""`dsc registry rotate-key` renews everything the master key vouches for, and nothing more.

The walk below finds the MACed and sealed columns in the schema itself (a column `mac` or
`*_mac`, a column `*_enc`), so a table added later with a MAC or a sealed value that rotation
does not know about fails it by name; the other tests check what a holder, an operator and an
API client see after a rotation, and that a row edited before it stays refused after it. On
SQLite, and on PostgreSQL when DSC_TEST_PG_URL is set."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from regkit import Env

from provisioning import (
    apiclients,
    audit,
    integrity,
    operators,
    policy,
    softcard,
    temporary,
    websessions,
)
from provisioning.db import Database
from provisioning.errors import InvalidInputError, TamperedRowError
from provisioning.keys import Sealer, aad, read_key_file
from provisioning.registry import SEALED, Registry

PASSWORD = "correct horse battery"
# MACed by provisioning.audit (`audit.rekey`): the chains' heads and the checkpoints.
AUDIT_TABLES = {"audit_chains", "audit_checkpoints"}


def schema_columns(db: Database) -> dict[str, list[str]]:
    """Every table of the registry and its columns, as the database itself lists them."""
    if db.dialect == "sqlite":
        names = [r["name"] for r in db.all("SELECT name FROM sqlite_master WHERE type = 'table' "
                                           "AND name NOT LIKE 'sqlite_%'")]
        return {t: [c["name"] for c in db.all(f"PRAGMA table_info({t})")] for t in names}
    out: dict[str, list[str]] = {}
    for r in db.all("SELECT table_name, column_name FROM information_schema.columns "
                    "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"):
        out.setdefault(str(r["table_name"]), []).append(str(r["column_name"]))
    return out


def mac_columns(cols: dict[str, list[str]]) -> dict[str, list[str]]:
    return {t: m for t, cs in cols.items() if (m := [c for c in cs
                                                     if c == "mac" or c.endswith("_mac")])}


def sealed_columns(cols: dict[str, list[str]]) -> set[tuple[str, str]]:
    return {(t, c) for t, cs in cols.items() for c in cs if c.endswith("_enc")}


def populate(env: Env) -> dict[str, str]:
    """A row in every table that carries a MAC or a sealed value; what the tests need again."""
    reg = env.reg
    serial = env.active("alice", "1234")
    op_serial = env.active("op-ada", "4321")
    operators.add(reg, "ada", "admin", PASSWORD, "op-ada")
    token = apiclients.add(reg, "login-server", "verify")
    policy.set_networks(reg, "alice", ["192.0.2.0/24"])
    env.active("bob", "5678")
    passcode, _, _ = temporary.issue_passcode(reg, "bob")
    reg.set_policy("max_failures", 7)
    stored = websessions.create(reg, "console", websessions.new_id(), {"operator": "ada"},
                                idle=900, lifetime=3600)
    websessions.put_once(reg, stored, "pdf", "card.pdf", "application/pdf", b"%PDF-1.4",
                         ttl=600)
    assert env.wrong("alice").reason == "wrong"  # a challenge row, a failure counted
    policy.issue(reg, "alice", client_ip="192.0.2.7", client="login-server")  # api_challenges
    softcard.create(reg, "alice")  # softcard_activations
    with reg.db.transaction():
        audit.checkpoint(reg.db, reg.sealer, reg.now())
    return {"serial": serial, "op_serial": op_serial, "token": token, "passcode": passcode}


def test_the_registries_name_every_maced_or_sealed_column_of_the_schema(both: Env) -> None:
    cols = schema_columns(both.reg.db)
    known = set(integrity.TABLES) | set(integrity.OWN) | AUDIT_TABLES
    unknown = sorted(set(mac_columns(cols)) - known)
    assert not unknown, (f"tables with a MAC that key rotation does not renew: {unknown}; list "
                         f"them in integrity.TABLES or integrity.OWN (or audit.rekey)")
    unsealed = sorted(sealed_columns(cols) - {(t, c) for t, c, _ in SEALED})
    assert not unsealed, f"sealed columns that key rotation does not re-seal: {unsealed}; " \
                         f"list them in registry.SEALED"
    # and the registries name nothing that is not there (a typo would cover nothing)
    assert known <= set(cols) and all("mac" in cols[t] for t in known)
    assert {(t, c) for t, c, _ in SEALED} <= sealed_columns(cols)


def test_rotation_renews_every_mac_and_sealed_value_under_the_new_key_only(both: Env) -> None:
    env = both
    populate(env)
    old_id = env.reg.sealer.key_id
    new_id = env.reg.rotate_key()
    assert new_id != old_id and [k for k, _ in read_key_file(env.key_file)] == [new_id]
    only_new = Sealer(read_key_file(env.key_file))
    db = env.reg.db
    cols = schema_columns(db)
    checked: dict[str, int] = {}
    for table, macs in sorted(mac_columns(cols).items()):
        rows = db.all(f"SELECT * FROM {table}")
        assert rows, f"populate() leaves {table} empty: give it a row, so rotation is tested on it"
        for row in rows:
            for column in macs:
                if row[column] is None and table not in integrity.OWN:
                    continue
                assert str(row[column]).startswith(new_id + ":"), \
                    f"{table}.{column} of {dict(row).get('id')} is not under the new key"
            if table in integrity.TABLES:
                assert integrity.ok(only_new, table, row), f"{table} row fails under the new key"
        if table in integrity.OWN:
            spec = integrity.OWN[table]
            for row in db.all(spec.select):
                assert integrity.own_ok(only_new, table, row, row["mac"]), table
        checked[table] = len(rows)
    assert set(checked) == set(integrity.TABLES) | set(integrity.OWN) | AUDIT_TABLES
    audit.verify(db, only_new)  # the chain heads and checkpoints
    for table, column in sorted(sealed_columns(cols)):
        ident = next(i for t, c, i in SEALED if (t, c) == (table, column))
        rows = db.all(f"SELECT * FROM {table} WHERE {column} IS NOT NULL")
        assert rows, f"populate() leaves {table}.{column} empty"
        for row in rows:
            assert only_new.key_id_of(row[column]) == new_id, f"{table}.{column}"
            only_new.open(row[column], aad(table, column, ident(row)))
    with Registry.open(env.url, env.key_file, clock=env.clock) as again:
        assert again.verify_rows() == sum(checked[t] for t in (*integrity.TABLES, *integrity.OWN))
        last = audit.entries(again.db, action="registry.rotate-key")[-1].detail
        assert last["rows_refused"] == 0 and last["key_id"] == new_id


def test_after_rotation_everyone_still_signs_in(both: Env) -> None:
    env = both
    known = populate(env)
    env.reg.rotate_key()
    with env.reopen() as reg:
        env.reg = reg
        # an operator: password, then a response of their own card
        op = operators.active(reg, "ada")
        assert op is not None and op.is_admin
        op, ch = operators.begin_sign_in(reg, "ada", PASSWORD)
        signed = operators.finish_sign_in(reg, "ada", ch.id,
                                          env.answer(known["op_serial"], ch.challenge, "4321"))
        assert signed.name == "ada"
        # an API client's bearer token
        assert apiclients.authenticate(reg, known["token"]).name == "login-server"
        # the IP restriction still applies, both ways
        with pytest.raises(policy.PolicyRefusal) as refused:
            policy.issue(reg, "alice", client_ip="198.51.100.1", client="login-server")
        assert refused.value.reason == "ip-not-allowed"
        issued = policy.issue(reg, "alice", client_ip="192.0.2.7", client="login-server")
        answer = policy.respond(reg, issued.challenge.id,
                                env.answer(known["serial"], issued.challenge.challenge),
                                client="login-server")
        assert answer.status == "accepted" and answer.access == "full"
        assert policy.describe_networks(reg, "alice") == ["192.0.2.0/24"]
        # a holder with a card, and one with a temporary passcode
        assert env.login("alice", known["serial"]).accepted
        issued = policy.issue(reg, "bob", client="login-server", device=policy.PASSCODE)
        answer = policy.respond(reg, issued.challenge.id, known["passcode"],
                                client="login-server")
        assert (answer.status, answer.method) == ("accepted", "passcode")


@pytest.fixture
def tampered(both: Env) -> Iterator[tuple[Env, dict[str, str]]]:
    """Rows edited by SQL (no key file) before the rotation: a helpdesk operator made admin, an
    API client's scope widened, an IP restriction lifted to everywhere."""
    env = both
    known = populate(env)
    env.active("op-hd", "4321")
    operators.add(env.reg, "hd", "helpdesk", PASSWORD, "op-hd")
    support_token = apiclients.add(env.reg, "console", "support")
    db = env.reg.db
    db.execute("UPDATE operators SET role = 'admin' WHERE name = 'hd'")
    db.execute("UPDATE api_clients SET scope = 'support' WHERE name = 'login-server'")
    db.execute("UPDATE user_networks SET networks = '0.0.0.0/0'")
    yield env, {**known, "support_token": support_token}


def test_rows_tampered_before_rotation_stay_refused_after_it(
        tampered: tuple[Env, dict[str, str]]) -> None:
    env, known = tampered
    for reg in (env.reg,):  # refused before
        assert operators.active(reg, "hd") is None
    env.reg.rotate_key()
    with env.reopen() as reg:
        assert operators.active(reg, "hd") is None
        with pytest.raises(operators.SignInError):
            operators.begin_sign_in(reg, "hd", PASSWORD)
        with pytest.raises(apiclients.AuthenticationError, match="MAC"):
            apiclients.authenticate(reg, known["token"])
        with pytest.raises(policy.PolicyRefusal) as refused:
            policy.issue(reg, "alice", client_ip="198.51.100.1", client="console")
        assert refused.value.reason == "ip-restriction-broken"
        # the untouched rows beside them were renewed
        assert operators.active(reg, "ada") is not None
        assert apiclients.authenticate(reg, known["support_token"]).scope == "support"
        last = audit.entries(reg.db, action="registry.rotate-key")[-1].detail
        assert last["rows_refused"] == 3
        # and they keep a MAC under the old key, which the key file no longer holds
        row = reg.db.one("SELECT mac FROM operators WHERE name = 'hd'")
        assert row is not None and not str(row["mac"]).startswith(reg.sealer.key_id + ":")
    # a second rotation does not launder them either
    with env.reopen() as reg:
        reg.rotate_key()
        assert operators.active(reg, "hd") is None
        assert audit.entries(reg.db, action="registry.rotate-key")[-1].detail["rows_refused"] == 3


def test_a_row_tampered_under_a_generic_mac_is_counted_with_the_others(both: Env) -> None:
    env = both
    populate(env)
    env.reg.db.execute("UPDATE users SET failures = 0 WHERE name = 'alice'")
    env.reg.db.execute("UPDATE operators SET user_name = 'bob' WHERE name = 'ada'")
    env.reg.rotate_key()
    with env.reopen() as reg:
        with pytest.raises(TamperedRowError):
            reg.user_row("alice")
        assert operators.active(reg, "ada") is None
        assert audit.entries(reg.db, action="registry.rotate-key")[-1].detail["rows_refused"] == 2


def test_verify_and_vouch_know_the_tables_with_macs_of_their_own(both: Env) -> None:
    """`dsc audit --verify` (verify_rows) reports an edited operator, API client or IP
    restriction like any other refused row, and `dsc registry vouch` can put one right."""
    env = both
    populate(env)
    reg = env.reg
    before = reg.verify_rows()
    reg.db.execute("UPDATE user_networks SET networks = '0.0.0.0/0'")
    reg.db.execute("UPDATE api_clients SET scope = 'support'")
    with pytest.raises(TamperedRowError) as refused:
        reg.verify_rows()
    assert (refused.value.table, refused.value.row, refused.value.others) == \
        ("api_clients", "id=1 (login-server)", 1)
    user_id = reg.user_row("alice")["id"]
    assert reg.vouch_row("user_networks", str(user_id), "the wider network was agreed") is False
    assert reg.vouch_row("api_clients", "1", "the scope was agreed") is False
    assert reg.verify_rows() == before
    assert policy.describe_networks(reg, "alice") == ["0.0.0.0/0"]
    assert reg.vouch_row("operators", "1", "checked again") is True
    with pytest.raises(InvalidInputError):
        reg.vouch_row("user_networks", "alice", "not a number")
    with pytest.raises(InvalidInputError):
        reg.vouch_row("schema_version", "1", "not MACed")


def test_the_own_macs_keep_the_form_existing_registries_hold(env: Env) -> None:
    """Moving these MACs into `integrity.OWN` changed no byte of them: rows written before
    still check (the forms are spelled out here as the modules wrote them)."""
    populate(env)
    sealer, db = env.reg.sealer, env.reg.db
    op = db.one("SELECT * FROM operators WHERE name = 'ada'")
    client = db.one("SELECT * FROM api_clients")
    nets = db.one("SELECT * FROM user_networks")
    assert op is not None and client is not None and nets is not None
    assert sealer.mac_ok(op["mac"], f"ada\nadmin\n{op['password_hash']}\nop-ada\nNone".encode(),
                         "operator")
    # (API clients: the form of _V_REVOKE, which added the creation and revocation times)
    assert sealer.mac_ok(client["mac"], f"login-server\nverify\n{client['token_hash']}\n"
                         f"{client['created_at']}\nNone".encode(), "api-client/2")
    assert sealer.mac_ok(nets["mac"], b"alice\n192.0.2.0/24", "user-networks")


def test_dsc_registry_rotate_key_keeps_operators_and_api_clients(
        both: Env, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The issue as reported: after `dsc registry rotate-key`, `operators.active` returned None
    and every bearer token failed its MAC check."""
    from host_tools.cli import main

    env = both
    known = populate(env)
    monkeypatch.setenv("DSC_DB", env.url)
    monkeypatch.setenv("DSC_MASTER_KEY_FILE", str(env.key_file))
    assert main(["registry", "rotate-key"]) == 0
    out = capsys.readouterr().out
    new_id = read_key_file(env.key_file)[0][0]
    assert f"under key {new_id}" in out and "running `dsc serve` takes the new key" in out
    assert known["token"] not in out
    with env.reopen() as reg:
        assert operators.active(reg, "ada") is not None
        assert apiclients.authenticate(reg, known["token"]).scope == "verify"
        assert policy.describe_networks(reg, "alice") == ["192.0.2.0/24"]
    assert main(["audit", "--verify"]) == 0
    assert "rows vouched for" in capsys.readouterr().out
