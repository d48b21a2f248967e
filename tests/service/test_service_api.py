"""The API v1 in-process: logins, devices, PIN change, reactivation, support actions, probes."""

from __future__ import annotations

import time

from apikit import Api
from regkit import Clock, Env

from provisioning import apiclients, audit, temporary


def test_login_round_trip_by_card(api: Api) -> None:
    serial = api.env.active("alice", "1234")
    ch = api.challenge()
    assert ch["serial_number"] == serial and ch["device_type"] == "dsc-card"
    assert len(ch["challenge"]) == 6 and ch["purpose"] == "login" and ch["access"] == "full"
    answer = api.env.answer(serial, ch["challenge"])
    r = api.respond(ch["id"], f"{answer[:4]} {answer[4:]}")  # as the card displays it
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "accepted" and body["accepted"] is True
    assert (body["method"], body["access"], body["device_type"], body["serial_number"]) == \
        ("card", "full", "dsc-card", serial)
    again = api.respond(ch["id"], answer).json()
    assert (again["status"], again["reason"]) == ("rejected", "already-used")
    entries = audit.entries(api.env.reg.db, user="alice")
    assert {e.operator for e in entries if e.action in ("challenge", "verify")} == \
        {"api:login-server"}


def test_devices_lists_cards_and_temporary_access_with_limits(api: Api) -> None:
    api.env.active("alice")
    temporary.issue_security_card(api.env.reg, "alice")
    r = api.get("/v1/users/alice/devices")
    assert r.status_code == 200
    devices = {d["device_type"]: d for d in r.json()["devices"]}
    assert devices["dsc-card"]["status"] == "unavailable"
    assert devices["dsc-card"]["withdrawal_limit"] is None
    assert devices["security-code-card"]["withdrawal_limit"] == 200_000
    big = api.get("/v1/users/alice/devices?amount=250000").json()["devices"]
    assert [d["usable"] for d in big if d["device_type"] == "security-code-card"] == [False]


def test_security_card_answer_and_cells(api: Api) -> None:
    api.env.active("alice")
    grid, _ = temporary.issue_security_card(api.env.reg, "alice")
    ch = api.challenge()
    assert ch["cells"] and ch["also_answerable_with"] == ["security-code-card"]
    code = "".join(grid[temporary._cell_index(c)] for c in ch["cells"].split())
    body = api.respond(ch["id"], f"{code[:4]}-{code[4:]}").json()
    assert (body["status"], body["method"], body["device_type"]) == \
        ("accepted", "security-card", "security-code-card")


def test_pin_change_with_a_response_made_with_the_new_pin(api: Api) -> None:
    serial = api.env.active("alice", "1234")
    ch = api.challenge(purpose="pin-change")
    wrong_pin = api.post(f"/v1/challenges/{ch['id']}/pin-change",
                         {"response": api.env.answer(serial, ch["challenge"], "1234"),
                          "new_pin": "4321"})
    assert wrong_pin.json()["status"] == "rejected"  # made with the old PIN: counted
    assert api.failures() == 1
    ch = api.challenge(purpose="pin-change")
    r = api.post(f"/v1/challenges/{ch['id']}/pin-change",
                 {"response": api.env.answer(serial, ch["challenge"], "4321"), "new_pin": "4321"})
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    assert api.env.login("alice", serial, "4321").accepted
    assert "4321" not in r.text


def test_a_login_challenge_cannot_change_the_pin(api: Api) -> None:
    serial = api.env.active("alice", "1234")
    ch = api.challenge()
    r = api.post(f"/v1/challenges/{ch['id']}/pin-change",
                 {"response": api.env.answer(serial, ch["challenge"], "9999"), "new_pin": "9999"})
    assert r.status_code == 409 and r.json()["reason"] == "purpose-mismatch"
    ok = api.respond(ch["id"], api.env.answer(serial, ch["challenge"])).json()
    assert ok["status"] == "accepted"  # the refused call consumed nothing


def test_reactivation_ends_temporary_access(api: Api) -> None:
    serial = api.env.active("alice")
    temporary.issue_passcode(api.env.reg, "alice")
    ch = api.challenge(purpose="reactivation")
    r = api.post(f"/v1/challenges/{ch['id']}/reactivation",
                 {"response": api.env.answer(serial, ch["challenge"])})
    assert r.json()["status"] == "accepted" and r.json()["serial_number"] == serial
    assert api.env.reg.card(serial).status == "active"
    assert not temporary.has_access(api.env.reg, api.env.reg.user_row("alice")["id"],
                                    api.env.reg.now())


def test_support_router_unlock_view_card_and_limits(api: Api) -> None:
    serial = api.env.active("alice")
    for _ in range(10):
        api.respond(api.challenge()["id"], "00000000")
    s = api.support_token
    view = api.get("/v1/support/users/alice", s).json()
    assert view["status"] == "locked" and view["networks"] == []
    r = api.post("/v1/support/users/alice/unlock", None, s)
    assert r.status_code == 200 and r.json()["was_locked"] is True
    assert api.get(f"/v1/support/cards/{serial}", s).json()["status"] == "active"
    r = api.client.put("/v1/support/withdrawal-limits/softcard", json={"limit": 5000},
                       headers=api.headers(s))
    assert r.json()["withdrawal_limits"]["softcard"] == 5000
    r = api.client.put("/v1/support/withdrawal-limits/dsc-card", json={"limit": None},
                       headers=api.headers(s))
    assert r.json()["withdrawal_limits"]["dsc-card"] is None
    entries = api.get("/v1/support/audit?user=alice&limit=5", s).json()["entries"]
    assert len(entries) == 5 and entries[-1]["operator"] == "api:console"


def test_probes_and_metrics(api: Api) -> None:
    api.env.active("alice")
    assert api.client.get("/healthz").json() == {"status": "ok"}
    ready = api.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    api.respond(api.challenge()["id"], "00000000")
    api.respond("0123456789abcdef", "00000000")
    text = api.client.get("/metrics").text
    assert 'dsc_verifications_total{purpose="login",status="rejected",reason="wrong-response"} 1' \
        in text
    assert 'dsc_problems_total{reason="unknown-challenge"} 1' in text
    assert 'dsc_http_requests_total{method="POST",route="/v1/challenges",status="201"} 1' in text
    assert 'dsc_http_request_duration_seconds_count{route="/v1/challenges/{id}/response"} 2' \
        in text


def test_readyz_fails_when_the_audit_head_is_forged(api: Api) -> None:
    api.env.reg.db.execute("UPDATE audit_chains SET mac = 'x:y' WHERE id = 0")
    r = api.client.get("/readyz")
    assert r.status_code == 503 and r.json()["reason"] == "audit-broken"


def test_a_revoked_token_stops_working_within_the_token_cache_time(env: Env, clock: Clock) -> None:
    """With the cache on (as `dsc serve` runs), a token checked once is not looked up again for
    `token_cache_seconds`; its revocation takes effect once that has passed, not later."""
    from starlette.testclient import TestClient

    from host_tools.web.app import Settings, create_app

    app = create_app(Settings(env.url, env.key_file, clock=clock, token_cache_seconds=0.5))
    with TestClient(app, raise_server_exceptions=False) as client:
        api = Api(env, client)
        env.active("alice")
        assert api.get("/v1/users/alice/devices").status_code == 200
        revoked = time.monotonic()
        apiclients.revoke(env.reg, "login-server")
        still = api.get("/v1/users/alice/devices")  # within the bound: the cached check
        if time.monotonic() - revoked < 0.5:
            assert still.status_code == 200
        time.sleep(0.6)
        r = api.get("/v1/users/alice/devices")
        assert r.status_code == 401 and r.json()["reason"] == "unauthenticated"
        assert api.get("/v1/users/alice/devices").status_code == 401
