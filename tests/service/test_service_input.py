"""Bad input, authentication and policy: a clear problem document, and nothing changes."""

from __future__ import annotations

import logging

import pytest
from apikit import Api

from provisioning import apiclients, audit, temporary


def _problem(r, status: int, reason: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = dict(r.json())
    assert body["reason"] == reason and body["status"] == status
    assert body["type"] == f"urn:opendsc:problem:{reason}" and body["title"]
    return body


def _state(api: Api) -> tuple[int, int, int]:
    """Audit entries other than refusals, counted failures, consumed challenges."""
    used = api.env.reg.db.one("SELECT COUNT(*) AS n FROM challenges WHERE used_at IS NOT NULL")
    logged = api.env.reg.db.one("SELECT COUNT(*) AS n FROM audit WHERE outcome != 'refused'")
    assert used is not None and logged is not None
    return int(logged["n"]), api.failures(), int(used["n"])


def _refusals(api: Api) -> list[tuple[str | None, str]]:
    return [(e.user, e.detail["reason"]) for e in audit.entries(api.env.reg.db, limit=1000)
            if e.outcome == "refused"]


def test_no_token_wrong_token_wrong_scope_revoked(api: Api) -> None:
    api.env.active("alice")
    before = _state(api)
    r = api.client.post("/v1/challenges", json={"user": "alice"})
    assert _problem(r, 401, "unauthenticated") and r.headers["www-authenticate"].startswith("Bearer")
    _problem(api.post("/v1/challenges", {"user": "alice"}, "dsc_" + "x" * 43), 401,
             "unauthenticated")
    _problem(api.post("/v1/challenges", {"user": "alice"}, "not-even-a-token"), 401,
             "unauthenticated")
    _problem(api.post("/v1/challenges", {"user": "alice"}, api.support_token), 403,
             "forbidden-scope")
    _problem(api.get("/v1/support/users/alice", api.verify_token), 403, "forbidden-scope")
    apiclients.revoke(api.env.reg, "login-server")
    before = api.audit_count()
    _problem(api.post("/v1/challenges", {"user": "alice"}), 401, "unauthenticated")
    assert api.audit_count() == before  # an unauthenticated call is not even logged


def test_a_row_forged_without_the_master_key_authenticates_nobody(api: Api) -> None:
    token = "dsc_" + "A" * 43
    api.env.reg.db.execute("UPDATE api_clients SET token_hash = ? WHERE name = 'console'",
                           (apiclients.token_hash(token),))
    _problem(api.get("/v1/support/users/alice", token), 401, "unauthenticated")
    api.env.reg.db.execute("UPDATE api_clients SET scope = 'support' WHERE name = "
                           "'login-server'")
    _problem(api.get("/v1/support/users/alice"), 401, "unauthenticated")


@pytest.mark.parametrize(("body", "ctype", "status", "reason"), [
    (b"{not json", "application/json", 400, "malformed-json"),
    (b"[1, 2]", "application/json", 400, "malformed-json"),
    (b'{"response": "1", "response": "2"}', "application/json", 400, "malformed-json"),
    (b'{"response": NaN}', "application/json", 400, "malformed-json"),
    (b"\xff\xfe", "application/json", 400, "malformed-json"),
    (b'{"response": 12345678}', "application/json", 422, "invalid-field"),
    (b'{"response": "12345678", "pin": "1234"}', "application/json", 422, "invalid-field"),
    (b"{}", "application/json", 422, "invalid-field"),
    (b'{"response": "12345678"}', "text/plain", 415, "unsupported-media-type"),
    (b'{"response": "' + b"1" * 20000 + b'"}', "application/json", 413, "body-too-large"),
])
def test_malformed_bodies_change_nothing(api: Api, body: bytes, ctype: str, status: int,
                                         reason: str) -> None:
    api.env.active("alice")
    ch = api.challenge()
    before = _state(api)
    r = api.client.post(f"/v1/challenges/{ch['id']}/response", content=body,
                        headers={**api.headers(), "content-type": ctype})
    _problem(r, status, reason)
    assert _state(api) == before and _refusals(api) == []


@pytest.mark.parametrize(("response", "detail"), [
    ("1234567", "has 7 digits"), ("123456789", "has 9 digits"), ("1234567a", "other than"),
    ("", "empty"), ("\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18", "other than")  # full-width, ("12 34 56 7", "has 7 digits"),
])
def test_malformed_responses_are_refused_before_anything_is_counted(
        api: Api, response: str, detail: str) -> None:
    serial = api.env.active("alice")
    ch = api.challenge()
    before = _state(api)
    body = _problem(api.respond(ch["id"], response), 422, "malformed-response")
    assert detail in body["detail"] and "8 digits" in body["detail"]
    assert _state(api) == before
    assert _refusals(api) == [("alice", "malformed-response")]
    assert api.respond(ch["id"], api.env.answer(serial, ch["challenge"])).json()["accepted"]


def test_a_well_formed_wrong_response_is_counted(api: Api) -> None:
    api.env.active("alice")
    body = api.respond(api.challenge()["id"], "1234-5678").json()
    assert (body["status"], body["reason"], body["attempts_remaining"]) == \
        ("rejected", "wrong-response", 9)
    assert api.failures() == 1


def test_unknown_users_and_challenges(api: Api) -> None:
    api.env.active("alice")
    before = _state(api)
    _problem(api.post("/v1/challenges", {"user": "mallory"}), 404, "unknown-user")
    _problem(api.get("/v1/users/mallory/devices"), 404, "unknown-user")
    _problem(api.respond("0123456789abcdef", "12345678"), 404, "unknown-challenge")
    _problem(api.respond("ZZ%27%20OR%201", "12345678"), 404, "unknown-challenge")
    assert _state(api) == before
    assert _refusals(api) == [(None, "unknown-user"), (None, "unknown-user"),
                              (None, "unknown-challenge")]


def test_another_clients_challenge_is_unknown_to_this_one(api: Api) -> None:
    serial = api.env.active("alice")
    other = apiclients.add(api.env.reg, "other-bank", "verify")
    ch = api.challenge()
    before = _state(api)
    r = api.respond(ch["id"], api.env.answer(serial, ch["challenge"]), other)
    _problem(r, 404, "unknown-challenge")
    assert _state(api) == before
    assert _refusals(api) == [("alice", "unknown-challenge")]
    assert api.respond(ch["id"], api.env.answer(serial, ch["challenge"])).json()["accepted"]


def test_wrong_types_in_a_challenge_request(api: Api) -> None:
    api.env.active("alice")
    for body in ({"user": 5}, {"user": "alice", "amount": "lots"}, {"user": "alice",
                 "purpose": "shopping"}, {"user": "alice", "amount": True}, {}):
        r = api.post("/v1/challenges", body)
        _problem(r, 422, "invalid-field")
    _problem(api.post("/v1/challenges", {"user": "alice", "amount": 5}), 422, "invalid-input")
    _problem(api.post("/v1/challenges", {"user": "alice", "purpose": "withdrawal",
                                          "amount": 1.001}), 422, "invalid-input")
    _problem(api.post("/v1/challenges", {"user": "alice", "purpose": "withdrawal"}), 422,
             "invalid-input")


def test_no_secret_token_or_pin_in_responses_logs_or_metrics(
        api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    serial = api.env.active("alice", "2468")
    passcode, _, _ = temporary.issue_passcode(api.env.reg, "alice")
    seen = []
    ch = api.challenge()
    answer = api.env.answer(serial, ch["challenge"], "2468")
    seen.append(api.respond(ch["id"], "9" * 8).text)
    seen.append(api.respond(api.challenge()["id"], passcode).text)
    ch = api.challenge(purpose="pin-change")
    seen.append(api.post(f"/v1/challenges/{ch['id']}/pin-change",
                         {"response": "1" * 8, "new_pin": "8642"}).text)
    seen.append(api.post("/v1/challenges", {"user": "alice", "device": answer}).text)
    seen.append(api.get("/v1/support/users/alice", api.support_token).text)
    seen.append(api.get("/v1/support/audit?limit=100", api.support_token).text)
    seen.append(api.client.get("/metrics").text)
    seen.append(api.client.get("/openapi.json").text)
    seen.append(caplog.text)
    everything = "\n".join(seen)
    seed_hex = api.env.seeds[serial].hex()
    for secret in (api.verify_token, api.support_token, passcode, "2468", "8642", seed_hex,
                   apiclients.token_hash(api.verify_token)):
        assert secret not in everything


def test_a_new_pin_of_the_wrong_length_is_refused_and_consumes_nothing(api: Api) -> None:
    serial = api.env.active("alice", "1234")
    ch = api.challenge(purpose="pin-change")
    before = _state(api)
    for pin in ("12345", "12a4", ""):
        r = api.post(f"/v1/challenges/{ch['id']}/pin-change",
                     {"response": api.env.answer(serial, ch["challenge"], pin or "0"),
                      "new_pin": pin})
        assert r.status_code == 422 and r.json()["reason"] == "invalid-input", r.text
        assert pin not in r.json()["detail"] or not pin
    assert _state(api) == before
    r = api.post(f"/v1/challenges/{ch['id']}/pin-change",
                 {"response": api.env.answer(serial, ch["challenge"], "5678"), "new_pin": "5678"})
    assert r.json()["status"] == "accepted"


def test_an_oversize_chunked_body_is_refused_while_read(api: Api) -> None:
    api.env.active("alice")
    ch = api.challenge()
    before = _state(api)

    def chunks():  # type: ignore[no-untyped-def]
        yield b'{"response": "'
        for _ in range(40):
            yield b"1" * 1024
        yield b'"}'
    r = api.client.post(f"/v1/challenges/{ch['id']}/response", content=chunks(),
                        headers={**api.headers(), "content-type": "application/json"})
    assert "content-length" not in {k.lower() for k in r.request.headers}
    _problem(r, 413, "body-too-large")
    assert _state(api) == before


def test_too_many_open_challenges_is_429_with_retry_after(api: Api) -> None:
    api.env.active("alice")
    api.env.reg.set_policy("max_open_challenges", 2)
    first = [api.challenge()["id"] for _ in range(2)]
    r = api.post("/v1/challenges", {"user": "alice"})
    assert r.status_code == 429, r.text
    assert r.json()["reason"] == "too-many-open"
    assert int(r.headers["Retry-After"]) >= 1
    assert len(set(first)) == 2


def test_a_row_edited_by_sql_is_refused_as_tampered(api: Api) -> None:
    api.env.active("alice")
    cid = api.challenge()["id"]
    with api.env.reg.db.transaction():  # a hand edit: the row's MAC no longer fits
        api.env.reg.db.execute("UPDATE users SET locked_until = 1 WHERE name = 'alice'")
    r = api.respond(cid, "12345678")
    assert r.status_code == 403, r.text
    assert r.json()["reason"] == "tampered-row"
    assert "12345678" not in r.text
