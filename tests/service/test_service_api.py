"""The API v1 in-process: logins, devices, PIN change, reactivation, support actions, probes."""

from __future__ import annotations

from conftest import Api

from provisioning import audit, temporary


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
