"""Fixtures for the service tests: a registry with cards of known seeds (regkit), the app on it
in-process (Starlette's TestClient), and API clients of both scopes."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "provisioning"))
from regkit import Clock, Env, both_fixture, clock_fixture, env_fixture, pg_url_fixture

# Starlette 1.x would rather use httpx2 for its TestClient; httpx (pinned) still works.
warnings.filterwarnings("ignore", message=".*httpx.*")
from apikit import Api, pages_client  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from host_tools.web.app import Settings, create_app  # noqa: E402


@pytest.fixture
def api(env: Env, clock: Clock) -> Iterator[Api]:
    app = create_app(Settings(env.url, env.key_file, clock=clock, token_cache_seconds=0))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(env, client)


@pytest.fixture
def web(env: Env, clock: Clock) -> Iterator[TestClient]:
    """The console's and the portal's pages, in-process."""
    with pages_client(env, clock) as client:
        yield client



# the shared fixtures `clock`, `env`, `pg_url` and `both` (regkit)
__all__ = ["both_fixture", "clock_fixture", "env_fixture", "pg_url_fixture"]
