"""Fixtures for the registry tests: a registry in a temp dir with an injectable clock, and
(when DSC_TEST_PG_URL is set) a fresh PostgreSQL database per test."""

from __future__ import annotations

from regkit import both_fixture, clock_fixture, env_fixture, pg_url_fixture

# the shared fixtures `clock`, `env`, `pg_url` and `both` (regkit)
__all__ = ["both_fixture", "clock_fixture", "env_fixture", "pg_url_fixture"]
