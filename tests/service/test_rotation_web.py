"""After `dsc registry rotate-key`, the service (started on the rotated registry, or running
through the rotation) serves everyone as before: an operator signs in
to the console with password and card, an API client's bearer token authenticates, a user's IP
restriction still applies and a holder's response is accepted; rows edited before the rotation
stay refused. On SQLite and on PostgreSQL."""

from __future__ import annotations

import re

from apikit import pages_client
from regkit import Clock, Env
from starlette.testclient import TestClient
from test_web_pages import make_operator, sign_in

from provisioning import apiclients, audit, policy


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def log_in(web: TestClient, env: Env, token: str, serial: str, **body: str) -> str:
    """alice's login through the API with the card `serial`: the response's status."""
    r = web.post("/v1/challenges", json={"user": "alice", **body}, headers=bearer(token))
    assert r.status_code == 201, r.text
    ch = r.json()
    r = web.post(f"/v1/challenges/{ch['id']}/response",
                 json={"response": env.answer(serial, ch["challenge"])}, headers=bearer(token))
    assert r.status_code == 200, r.text
    return str(r.json()["status"])


def test_the_service_serves_everyone_after_a_rotation(both: Env, clock: Clock) -> None:
    env = both
    op_serial = make_operator(env, "ada", "admin")
    serial = env.active("alice", "1234")
    token = apiclients.add(env.reg, "login-server", "verify")
    policy.set_networks(env.reg, "alice", ["192.0.2.0/24"])
    with pages_client(env, clock) as web:  # all good before
        sign_in(web, env, "ada", op_serial)
    old = env.reg.sealer.key_id
    new = env.reg.rotate_key()
    assert new != old
    with pages_client(env, clock) as web:
        page = sign_in(web, env, "ada", op_serial)
        assert "ada" in page
        assert web.get("/console/user/alice").status_code == 200
        # outside alice's networks: refused for that reason, not for a broken restriction
        r = web.post("/v1/challenges", json={"user": "alice", "client_ip": "198.51.100.1"},
                     headers=bearer(token))
        assert r.status_code == 403 and r.json()["reason"] == "ip-not-allowed", r.text
        assert log_in(web, env, token, serial, client_ip="192.0.2.9") == "accepted"
        r = web.post("/v1/challenges", json={"user": "alice", "client_ip": "192.0.2.9"},
                     headers=bearer("dsc_" + "x" * 43))
        assert r.status_code == 401, r.text
    with env.reopen() as reg:
        entry = audit.entries(reg.db, action="registry.rotate-key")[-1]
        assert entry.detail["key_id"] == new and entry.detail["rows_refused"] == 0
        assert not audit.entries(reg.db, action="operator.tampered")


def test_rows_edited_before_a_rotation_stay_refused_by_the_service(both: Env,
                                                                    clock: Clock) -> None:
    env = both
    hd_serial = make_operator(env, "hd", "helpdesk")
    ada_serial = make_operator(env, "ada", "helpdesk")
    env.active("alice", "1234")
    token = apiclients.add(env.reg, "login-server", "verify")
    policy.set_networks(env.reg, "alice", ["192.0.2.0/24"])
    env.reg.db.execute("UPDATE operators SET role = 'admin' WHERE name = 'hd'")
    env.reg.db.execute("UPDATE user_networks SET networks = '0.0.0.0/0'")
    env.reg.rotate_key()
    with pages_client(env, clock) as web:
        sign_in(web, env, "ada", ada_serial)  # the untouched operator beside it signs in
    with pages_client(env, clock) as web:
        page = web.get("/console/login")
        m = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert m
        page = web.post("/console/login", data={"csrf": m.group(1), "name": "hd",
                                                "password": "correct horse battery"})
        assert "<h1>Search</h1>" not in page.text and 'id="challenge"' not in page.text
        assert "wrong operator name or password" in page.text
        r = web.post("/v1/challenges", json={"user": "alice", "client_ip": "198.51.100.1"},
                     headers=bearer(token))
        assert r.status_code == 403 and r.json()["reason"] == "ip-restriction-broken", r.text
    assert hd_serial in env.seeds  # the card is fine: the operator row is what is refused
    with env.reopen() as reg:
        assert audit.entries(reg.db, action="registry.rotate-key")[-1].detail[
            "rows_refused"] == 2
        assert audit.entries(reg.db, action="operator.tampered")


def test_a_running_service_follows_a_rotation_without_a_restart(both: Env, clock: Clock) -> None:
    """rotate-key run beside a running service: the pool sees the key file change and reopens
    its connections, so the signed-in operator stays signed in, tokens authenticate, holders
    log in and the audit log goes on under the new key."""
    env = both
    op_serial = make_operator(env, "ada", "admin")
    serial = env.active("alice", "1234")
    token = apiclients.add(env.reg, "login-server", "verify")
    with pages_client(env, clock) as web:
        sign_in(web, env, "ada", op_serial)
        assert web.post("/v1/challenges", json={"user": "alice"},
                        headers=bearer(token)).status_code == 201  # pooled under the old key
        new = env.reg.rotate_key()
        page = web.get("/console/user/alice")
        assert page.status_code == 200 and "alice" in page.text
        assert 'name="password"' not in page.text  # still signed in
        assert log_in(web, env, token, serial) == "accepted"
    with env.reopen() as reg:
        assert reg.sealer.key_id == new
        assert audit.verify(reg.db, reg.sealer)[0] == len(audit.entries(reg.db, limit=100000))
        assert not audit.entries(reg.db, action="operator.tampered")
        assert not audit.entries(reg.db, action="integrity")
