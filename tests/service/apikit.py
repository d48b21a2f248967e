"""The service app in-process with a verify and a support token (imported by name: a conftest
module is not importable by name when several test directories run together)."""

from __future__ import annotations

import warnings

# Starlette 1.x would rather use httpx2 for its TestClient; httpx (pinned) still works.
warnings.filterwarnings("ignore", message=".*httpx.*")
from regkit import Clock, Env  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from host_tools.web.app import Settings, create_app  # noqa: E402
from provisioning import apiclients  # noqa: E402


def pages_client(env: Env, clock: Clock) -> TestClient:
    """The app in-process as a browser sees it (https, redirects followed), on `env`'s
    registry, with no bearer-token cache (a revocation counts at once)."""
    app = create_app(Settings(env.url, env.key_file, clock=clock, token_cache_seconds=0))
    return TestClient(app, base_url="https://testserver", follow_redirects=True)


class Api:
    """The app in-process, with a verify and a support token."""

    def __init__(self, env: Env, client: TestClient) -> None:
        self.env, self.client = env, client
        self.verify_token = apiclients.add(env.reg, "login-server", "verify")
        self.support_token = apiclients.add(env.reg, "console", "support")

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.verify_token}"}

    def post(self, path: str, body: object, token: str | None = None):  # type: ignore[no-untyped-def]
        return self.client.post(path, json=body, headers=self.headers(token))

    def get(self, path: str, token: str | None = None):  # type: ignore[no-untyped-def]
        return self.client.get(path, headers=self.headers(token))

    def challenge(self, user: str = "alice", **kw: object) -> dict:  # type: ignore[type-arg]
        r = self.post("/v1/challenges", {"user": user, **kw})
        assert r.status_code == 201, r.text
        return dict(r.json())

    def respond(self, cid: str, response: str, token: str | None = None):  # type: ignore[no-untyped-def]
        return self.post(f"/v1/challenges/{cid}/response", {"response": response}, token)

    def audit_count(self) -> int:
        row = self.env.reg.db.one("SELECT COUNT(*) AS n FROM audit")
        assert row is not None
        return int(row["n"])

    def failures(self, user: str = "alice") -> int:
        from provisioning import support
        return int(support.user_view(self.env.reg, user)["failures"])
