"""Registry test helpers: an injectable clock, and an Env with a registry, cards of known seeds
and what a card would answer. (Kept out of conftest.py: tests import it by name.)"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from dsc import ocra

from provisioning import support, verification
from provisioning.registry import Registry

SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"
T0 = 1_750_000_000


class Clock:
    """Seconds since the epoch that only move when a test says so."""

    def __init__(self, t: int = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return float(self.t)

    def advance(self, seconds: int) -> None:
        self.t += seconds


class Env:
    """A registry plus helpers to make cards and compute what the card would answer."""

    def __init__(self, reg: Registry, clock: Clock, url: str, key_file: Path) -> None:
        self.reg, self.clock, self.url, self.key_file = reg, clock, url, key_file
        self.seeds: dict[str, bytes] = {}

    def card(self, suite: str = SUITE, pin_len: int = 4) -> str:
        serial = self.reg.allocate_serial(suite, pin_len=pin_len)
        seed = secrets.token_bytes(32)
        self.reg.confirm_provisioned(serial, seed=seed, admin_key=b"A" * 32, suite=suite,
                                     pin_len=pin_len)
        self.seeds[serial] = seed
        return serial

    def assigned(self, user: str = "alice", pin: str = "1234", suite: str = SUITE) -> str:
        serial = self.card(suite)
        support.assign(self.reg, serial, user, pin, replace_pin=True)  # as before: the PIN given wins
        return serial

    def active(self, user: str = "alice", pin: str = "1234") -> str:
        serial = self.assigned(user, pin)
        support.activate(self.reg, serial)
        return serial

    def answer(self, serial: str, challenge: str, pin: str = "1234", **kw: object) -> str:
        return str(ocra.response(self.reg.card(serial).suite, self.seeds[serial], challenge,
                                 pin=pin, **kw))

    def login(self, user: str, serial: str, pin: str = "1234") -> verification.Outcome:
        ch = verification.issue_challenge(self.reg, user, serial)
        return verification.verify(self.reg, user, ch.id, self.answer(serial, ch.challenge, pin))

    def wrong(self, user: str) -> verification.Outcome:
        ch = verification.issue_challenge(self.reg, user)
        return verification.verify(self.reg, user, ch.id, "00000000")

    def reopen(self) -> Registry:
        return Registry.open(self.url, self.key_file, clock=self.clock, operator="tester")


@contextmanager
def fresh_pg_database() -> Iterator[str | None]:
    """The URL of a fresh, empty PostgreSQL database on the test server (dropped afterwards),
    or None when `make test` did not start one (DSC_TEST_PG_URL unset)."""
    base = os.environ.get("DSC_TEST_PG_URL")
    if not base:
        yield None
        return
    import psycopg

    name = f"dsc_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


# The fixtures `clock`, `env`, `pg_url` and `both`, shared by tests/provisioning and
# tests/service (each conftest imports them; named apart so that a test's parameter `env`
# does not shadow an import).
@pytest.fixture(name="clock")
def clock_fixture() -> Clock:
    return Clock()


@pytest.fixture(name="env")
def env_fixture(tmp_path: Path, clock: Clock) -> Iterator[Env]:
    url, key_file = str(tmp_path / "registry.sqlite3"), tmp_path / "keys" / "master.key"
    reg, _, _ = Registry.init(url, key_file, clock=clock, operator="tester")
    with reg:
        yield Env(reg, clock, url, key_file)


@pytest.fixture(name="pg_url")
def pg_url_fixture() -> Iterator[str]:
    """A fresh, empty PostgreSQL database (dropped afterwards)."""
    with fresh_pg_database() as url:
        if url is None:
            pytest.skip("DSC_TEST_PG_URL is not set: `make test` starts the PostgreSQL test "
                        "server")
        yield url


@pytest.fixture(name="both", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def both_fixture(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[Env]:
    """The `env` registry on SQLite, and again on PostgreSQL when DSC_TEST_PG_URL is set."""
    if request.param == "sqlite":
        url = str(tmp_path / "registry.sqlite3")
    else:
        url = request.getfixturevalue("pg_url")
    key_file = tmp_path / "keys" / "master.key"
    reg, _, _ = Registry.init(url, key_file, clock=clock, operator="tester")
    with reg:
        yield Env(reg, clock, url, key_file)
