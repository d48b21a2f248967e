"""`dsc serve` over a real socket: a login, then races from many clients against one user."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from regkit import SUITE, Env
from serverkit import Server

from provisioning import apiclients, audit, support
from provisioning.registry import Registry


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def served(request: pytest.FixtureRequest,
           tmp_path: Path) -> Iterator[tuple[Env, Server, str]]:
    """`dsc serve` on SQLite (one process), and on PostgreSQL with two worker processes."""
    key = tmp_path / "master.key"
    url = (str(request.getfixturevalue("pg_url")) if request.param == "postgres"
           else str(tmp_path / "reg.sqlite3"))
    reg, _, _ = Registry.init(url, key, operator="tester")
    reg.set_policy("challenge_rate", 10_000)  # 32 clients at one user: the caps at their bounds
    reg.set_policy("max_open_challenges", 1000)
    env = Env(reg, lambda: 0.0, url, key)  # type: ignore[arg-type]
    env.seeds_shown = []  # type: ignore[attr-defined]  # responses sent: never in the log
    serial = env.card(SUITE)
    support.assign(reg, serial, "alice", "1234")
    support.activate(reg, serial)
    token = apiclients.add(reg, "bank", "verify")
    server = Server(url, key, workers=2 if request.param == "postgres" else 1, access_log=True)
    try:
        yield env, server, token
    finally:
        output = server.stop()
        reg.close()
        assert "POST /v1/challenges HTTP/1.1" in output  # the access log was on
        secrets = [token, apiclients.token_hash(token), *env.seeds_shown]
        assert not [s for s in secrets if s in output]


def _challenge(server: Server, token: str) -> dict:  # type: ignore[type-arg]
    r = httpx.post(server.url + "/v1/challenges", json={"user": "alice"},
                   headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201, r.text
    return dict(r.json())


def _respond(server: Server, token: str, cid: str, response: str) -> dict:  # type: ignore[type-arg]
    r = httpx.post(f"{server.url}/v1/challenges/{cid}/response", json={"response": response},
                   headers={"Authorization": f"Bearer {token}"}, timeout=30)
    return dict(r.json())


def test_login_over_a_socket(served: tuple[Env, Server, str]) -> None:
    env, server, token = served
    serial = next(iter(env.seeds))
    ch = _challenge(server, token)
    answer = env.answer(serial, ch["challenge"])
    env.seeds_shown.append(answer)  # type: ignore[attr-defined]
    body = _respond(server, token, ch["id"], answer)
    assert body["status"] == "accepted" and body["serial_number"] == serial
    spec = httpx.get(server.url + "/openapi.json").json()
    assert spec["openapi"] == "3.1.0" and "/v1/challenges" in spec["paths"]


def _parallel(n: int, work) -> list:  # type: ignore[no-untyped-def,type-arg]
    results: list = [None] * n  # type: ignore[type-arg]
    start = threading.Barrier(n)

    def run(i: int) -> None:
        start.wait()
        results[i] = work(i)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_many_clients_against_one_user_lock_at_exactly_ten(
        served: tuple[Env, Server, str]) -> None:
    env, server, token = served
    ids = [_challenge(server, token)["id"] for _ in range(32)]
    out = _parallel(32, lambda i: _respond(server, token, ids[i], "00000000"))
    reasons = Counter(o["reason"] for o in out)
    assert reasons == {"wrong-response": 10, "locked": 22}
    assert sorted(o["attempts_remaining"] for o in out if o["reason"] == "wrong-response") == \
        list(range(10))
    with env.reopen() as reg:
        view = support.user_view(reg, "alice")
        assert view["status"] == "locked"
        wrong = [e for e in audit.entries(reg.db, user="alice", action="verify")
                 if e.detail.get("reason") == "wrong"]
        assert len(wrong) == 10
        audit.verify(reg.db, reg.sealer)


def test_the_same_correct_response_raced_is_accepted_exactly_once(
        served: tuple[Env, Server, str]) -> None:
    env, server, token = served
    serial = next(iter(env.seeds))
    ch = _challenge(server, token)
    answer = env.answer(serial, ch["challenge"])
    out = _parallel(16, lambda i: _respond(server, token, ch["id"], answer))
    assert Counter(o["status"] for o in out) == {"accepted": 1, "rejected": 15}
    assert {o["reason"] for o in out if o["status"] == "rejected"} == {"already-used"}
