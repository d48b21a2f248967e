"""Operators of the support console: the CLI, the password hash, the MAC over the row."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from regkit import Clock, Env

from host_tools.cli import main
from provisioning import operators
from provisioning.errors import InvalidInputError
from provisioning.registry import Registry


@pytest.fixture
def env(tmp_path: Path) -> Env:
    clock = Clock()
    url, key = str(tmp_path / "r.sqlite3"), tmp_path / "master.key"
    reg, _, _ = Registry.init(url, key, clock=clock, operator="tester")
    return Env(reg, clock, url, key)


def test_cli_add_list_disable_password_from_stdin(env: Env, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    env.active("op-ann")
    base = ["--db", env.url, "--master-key-file", str(env.key_file)]
    monkeypatch.setattr("sys.stdin", io.StringIO("a long secret password\n"))
    assert main(["operator", "add", "ann", "--role", "admin", "--user", "op-ann", *base,
                 "--json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["role"] == "admin" and "secret" not in out
    assert main(["operator", "list", *base, "--json"]) == 0
    assert [o["name"] for o in json.loads(capsys.readouterr().out)["operators"]] == ["ann"]
    assert main(["operator", "disable", "ann", *base]) == 0
    capsys.readouterr()
    with pytest.raises(operators.SignInError):
        operators.begin_sign_in(env.reg, "ann", "a long secret password")


def test_password_hash_is_scrypt_and_checks(env: Env) -> None:
    stored = operators.hash_password("a long secret password")
    assert stored.startswith("scrypt$16384$8$1$")
    assert operators.password_ok(stored, "a long secret password")
    assert not operators.password_ok(stored, "a long secret passworD")
    with pytest.raises(InvalidInputError):
        operators.add(env.reg, "x", "admin", "short", "nobody")


def test_edited_role_signs_nobody_in(env: Env) -> None:
    env.active("op-hal")
    operators.add(env.reg, "hal", operators.HELPDESK, "a long secret password", "op-hal")
    with env.reg.db.transaction():
        env.reg.db.execute("UPDATE operators SET role = 'admin' WHERE name = 'hal'")
    assert operators.active(env.reg, "hal") is None
    with pytest.raises(operators.SignInError):
        operators.begin_sign_in(env.reg, "hal", "a long secret password")


def test_search_partial_and_escaped(env: Env) -> None:
    env.active("alice")
    env.active("malik")
    found = operators.search(env.reg, "LI")
    assert found["users"] == ["alice", "malik"]
    assert operators.search(env.reg, "%")["users"] == []
    assert operators.search(env.reg, "0001")["cards"] == ["DSC00000001"]


@pytest.mark.postgres
def test_operators_on_postgres(tmp_path: Path) -> None:
    from regkit import fresh_pg_database

    with fresh_pg_database() as url:
        if url is None:
            pytest.skip("DSC_TEST_PG_URL is not set: `make test` starts the PostgreSQL server")
        reg, _, _ = Registry.init(url, tmp_path / "master.key", operator="tester")
        with reg:
            env = Env(reg, Clock(), url, tmp_path / "master.key")
            env.active("op-pg")
            operators.add(reg, "pg", operators.ADMIN, "a long secret password", "op-pg")
            _, ch = operators.begin_sign_in(reg, "pg", "a long secret password")
            serial = reg.cards()[0].serial_number
            signed = operators.finish_sign_in(reg, "pg", ch.id, env.answer(serial, ch.challenge))
            assert signed.role == operators.ADMIN
            assert [o.name for o in operators.list_operators(reg)] == ["pg"]
