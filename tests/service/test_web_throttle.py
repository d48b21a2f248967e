"""The console's sign-in throttle counted in the registry (`operators.Throttle`, table
`sign_in_throttle`): failures on one app instance (one `dsc serve` worker) count on another and
across a restart, on SQLite and PostgreSQL; workers racing for the last try get no extra one;
the table neither names operators nor addresses and stays bounded under a flood of keys."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from regkit import Clock, Env
from starlette.requests import Request
from starlette.testclient import TestClient
from test_web_pages import PASSWORD, csrf, make_operator, sign_in
from test_web_sessions import move_cookies, two_apps

from host_tools.web import console
from host_tools.web.app import Settings, create_app
from provisioning import operators
from provisioning.registry import Registry


def try_password(web: TestClient, name: str, password: str) -> Any:
    page = web.get("/console/login")
    return web.post("/console/login", data={"csrf": csrf(page.text), "name": name,
                                            "password": password})


def test_failures_on_one_worker_count_on_the_other(both: Env, clock: Clock) -> None:
    env = both
    make_operator(env, "hd", "helpdesk")
    one, two = two_apps(env, clock)
    with one, two:
        for web in (one, two, one, two, one):  # 5 failures, spread over both workers
            assert try_password(web, "hd", "wrong password here").status_code == 401
        for web in (one, two):  # the 6th is refused on either, the right password too
            r = try_password(web, "hd", PASSWORD)
            assert r.status_code == 429 and "try again in 900 seconds" in r.text
        clock.advance(600)
        assert "try again in 300 seconds" in try_password(two, "hd", PASSWORD).text
        clock.advance(300)  # the window slid past the failures
        assert try_password(one, "hd", PASSWORD).status_code == 200


def test_the_count_survives_a_restart(both: Env, clock: Clock) -> None:
    env = both
    serial = make_operator(env, "hd", "helpdesk")
    app = create_app(Settings(env.url, env.key_file, clock=clock))
    with TestClient(app, base_url="https://testserver") as web:
        for _ in range(5):
            assert try_password(web, "hd", "wrong password here").status_code == 401
    app = create_app(Settings(env.url, env.key_file, clock=clock))  # a restart
    with TestClient(app, base_url="https://testserver") as web:
        assert try_password(web, "hd", PASSWORD).status_code == 429
        clock.advance(900)
        sign_in(web, env, "hd", serial)  # a sign-in clears the operator's failures
    # the failures aged out (pruned) and the sign-in's own attempts were taken back
    assert env.reg.db.all("SELECT * FROM sign_in_throttle") == []


def test_a_right_password_is_not_counted_and_a_sign_in_clears_the_operator(
        env: Env, clock: Clock) -> None:
    serial = make_operator(env, "hd", "helpdesk")
    app = create_app(Settings(env.url, env.key_file, clock=clock))
    with TestClient(app, base_url="https://testserver") as web:
        for _ in range(4):
            assert try_password(web, "hd", "wrong password here").status_code == 401
        for _ in range(3):  # the charged attempt is taken back when the password is right
            assert try_password(web, "hd", PASSWORD).status_code == 200
        sign_in(web, env, "hd", serial)
        for _ in range(5):
            assert try_password(web, "hd", "wrong password here").status_code == 401
        assert try_password(web, "hd", PASSWORD).status_code == 429


def test_the_card_step_counts_too(both: Env, clock: Clock) -> None:
    env = both
    make_operator(env, "hd", "helpdesk")
    one, two = two_apps(env, clock)
    with one, two:
        for i in range(5):
            web = (one, two)[i % 2]
            page = try_password(web, "hd", PASSWORD)
            assert page.status_code == 200
            move_cookies(web, (two, one)[i % 2])
            r = (two, one)[i % 2].post("/console/login/card", data={
                "csrf": csrf(page.text), "response": "00000000"})
            assert r.status_code == 401
        assert try_password(one, "hd", PASSWORD).status_code == 429


def test_the_address_is_throttled_whatever_the_names(env: Env, clock: Clock) -> None:
    app = create_app(Settings(env.url, env.key_file, clock=clock))
    with TestClient(app, base_url="https://testserver") as web:
        for i in range(20):
            assert try_password(web, f"nobody{i}", "wrong password here").status_code == 401
        r = try_password(web, "somebody-else", "wrong password here")
        assert r.status_code == 429 and "try again in 900 seconds" in r.text


def test_the_registry_holds_neither_names_nor_addresses(both: Env, clock: Clock) -> None:
    env = both
    one, _ = two_apps(env, clock)
    with one:
        assert try_password(one, "operator-xyzzy", "wrong password here").status_code == 401
    rows = env.reg.db.all("SELECT * FROM sign_in_throttle")
    assert len(rows) == 2
    text = repr([dict(r) for r in rows])
    assert "xyzzy" not in text and "testclient" not in text and "wrong" not in text
    assert {r["key_hash"] for r in rows} == {operators.key_hash(env.reg, "op:operator-xyzzy"),
                                            operators.key_hash(env.reg, "ip:testclient")}
    assert {r["fails"] for r in rows} == {str(clock.t)}


def test_racing_workers_get_no_extra_try(both: Env, clock: Clock,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """12 connections (12 workers) race for the tries of one operator that already failed 3
    times: 2 are charged, 10 refused, on SQLite's write lock and PostgreSQL's row locks. Each
    dawdles between reading a row and writing it back, so that unlocked reads would all see
    3 failures and all be let through."""
    env = both
    import time

    real_times = operators._times

    def slow_times(row: Any) -> list[int]:
        time.sleep(0.03)
        return real_times(row)

    monkeypatch.setattr(operators, "_times", slow_times)
    throttle = operators.Throttle(5, 900)
    ip = operators.Throttle(20, 900)
    for _ in range(3):
        operators.charge(env.reg, (throttle, "op:hd"), (ip, "ip:one"))
    regs = [Registry.open(env.url, env.key_file, clock=clock) for _ in range(12)]
    start = threading.Barrier(len(regs))
    results: list[operators.Charge] = []
    lock = threading.Lock()

    def attempt(reg: Registry, n: int) -> None:
        start.wait()
        done = operators.charge(reg, (throttle, "op:hd"), (ip, f"ip:{n}"))
        with lock:
            results.append(done)

    threads = [threading.Thread(target=attempt, args=(r, n)) for n, r in enumerate(regs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in regs:
        r.close()
    assert sorted(d.wait for d in results) == [0, 0] + [900] * 10
    row = env.reg.db.one("SELECT fails FROM sign_in_throttle WHERE key_hash = ?",
                         (operators.key_hash(env.reg, "op:hd"),))
    assert row is not None and row["fails"] == " ".join([str(clock.t)] * 5)
    # the refused ones left no row of their address behind
    assert len(env.reg.db.all("SELECT key_hash FROM sign_in_throttle")) == 1 + 1 + 2


def test_a_flood_of_distinct_keys_is_bounded(both: Env, clock: Clock,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    env = both
    monkeypatch.setattr(operators, "MAX_KEYS", 10)
    throttle = operators.Throttle(5, 900)
    for i in range(10):
        assert operators.charge(env.reg, (throttle, f"ip:{i}")).wait == 0
        clock.advance(10)
    # full: a new key is refused (nothing counted) until the oldest row leaves its window
    assert operators.charge(env.reg, (throttle, "ip:new")).wait == 900 - 100
    assert operators.charge(env.reg, (throttle, "op:hd"), (throttle, "ip:3")).wait > 0
    count = env.reg.db.one("SELECT COUNT(*) AS n FROM sign_in_throttle")
    assert count is not None and int(count["n"]) == 10
    assert operators.charge(env.reg, (throttle, "ip:3")).wait == 0  # a known key still counts
    clock.advance(800)  # ip:0 ages out and is pruned: room for one more
    assert operators.charge(env.reg, (throttle, "ip:new")).wait == 0
    assert operators.charge(env.reg, (throttle, "ip:newer")).wait > 0
    count = env.reg.db.one("SELECT COUNT(*) AS n FROM sign_in_throttle")
    assert count is not None and int(count["n"]) == 10
    clock.advance(900)
    assert operators.prune(env.reg) == 10


def test_a_row_deleted_resets_its_count(env: Env, clock: Clock) -> None:
    """What docs/service.md says: deleting rows (a database writer) forgets the failures."""
    throttle = operators.Throttle(5, 900)
    for _ in range(5):
        operators.charge(env.reg, (throttle, "op:hd"))
    assert throttle.retry_after(env.reg, "op:hd") == 900
    env.reg.db.execute("DELETE FROM sign_in_throttle")
    assert throttle.retry_after(env.reg, "op:hd") == 0


def request_from(host: str) -> Request:
    return Request({"type": "http", "client": (host, 1234), "headers": []})


@pytest.mark.parametrize(("host", "key"), [
    ("192.0.2.7", "192.0.2.7"),
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),
    ("::ffff:192.0.2.7", "192.0.2.7"),
    ("testclient", "testclient"),
])
def test_an_ipv6_client_is_counted_by_its_64(host: str, key: str) -> None:
    assert console.address_key(request_from(host)) == key


def test_the_migration_brings_the_table_to_an_older_registry(env: Env, clock: Clock) -> None:
    import sqlite3

    import downgrade

    from provisioning import schema

    make_operator(env, "hd", "helpdesk")
    env.reg.close()
    with sqlite3.connect(env.url) as conn:
        downgrade.undo_throttle(conn)
        conn.execute("DELETE FROM schema_version WHERE version = ?", (schema.VERSION,))
    reg, _, applied = Registry.init(env.url, env.key_file, clock=clock)
    env.reg = reg
    assert applied == 1 and schema.current_version(reg.db) == schema.VERSION
    assert reg.db.all("SELECT * FROM sign_in_throttle") == []
    app = create_app(Settings(env.url, env.key_file, clock=clock))
    with TestClient(app, base_url="https://testserver") as web:
        for _ in range(5):
            assert try_password(web, "hd", "wrong password here").status_code == 401
        assert try_password(web, "hd", PASSWORD).status_code == 429
