"""Fixtures for the registry tests: a registry in a temp dir with an injectable clock, and
(when DSC_TEST_PG_URL is set) a fresh PostgreSQL database per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from regkit import Clock, Env, clock_fixture, env_fixture, fresh_pg_database

from provisioning.registry import Registry


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database (dropped afterwards)."""
    with fresh_pg_database() as url:
        if url is None:
            pytest.skip("DSC_TEST_PG_URL is not set: `make test` starts the PostgreSQL test "
                        "server")
        yield url




@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def both(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[Env]:
    """The `env` registry on SQLite, and again on PostgreSQL when DSC_TEST_PG_URL is set."""
    if request.param == "sqlite":
        url = str(tmp_path / "registry.sqlite3")
    else:
        url = request.getfixturevalue("pg_url")
    key_file = tmp_path / "keys" / "master.key"
    reg, _, _ = Registry.init(url, key_file, clock=clock, operator="tester")
    with reg:
        yield Env(reg, clock, url, key_file)


__all__ = ["clock_fixture", "env_fixture"]  # the shared fixtures `clock` and `env` (regkit)
