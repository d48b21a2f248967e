"""Device policy through the API: withdrawal limits, IP restrictions, portal-only access."""

from __future__ import annotations

from apikit import Api

from provisioning import audit, policy, support, temporary


def _soft_card(api: Api, user: str = "alice") -> str:
    serial = api.env.reg.allocate_serial(api.env.reg.card(api.env.active(user)).suite,
                                         board="soft")
    seed = b"\x05" * 32
    api.env.reg.confirm_provisioned(serial, seed=seed, admin_key=None,
                                    suite="OCRA-1:HOTP-SHA256-8:QN06-PSHA1", board="soft")
    api.env.seeds[serial] = seed
    support.assign(api.env.reg, serial, user, None)
    support.activate(api.env.reg, serial)
    return serial


def test_withdrawal_offers_only_devices_allowed_for_the_amount(api: Api) -> None:
    soft = _soft_card(api)
    card = next(c["serial_number"] for c in support.user_view(api.env.reg, "alice")["cards"]
                if c["serial_number"] != soft)
    r = api.post("/v1/challenges", {"user": "alice"})
    assert r.status_code == 409 and r.json()["reason"] == "device-required"
    # 2,000,000 USD: only the DSC+ card (no limit) may; it is chosen without asking.
    ch = api.challenge(purpose="withdrawal", amount=2_000_000)
    assert ch["serial_number"] == card and ch["amount"] == "2000000"
    r = api.post("/v1/challenges", {"user": "alice", "purpose": "withdrawal",
                                    "amount": 2_000_000, "device": soft})
    assert r.status_code == 403 and r.json()["reason"] == "device-limit"
    ok = api.challenge(purpose="withdrawal", amount=900_000, device=soft)
    assert ok["device_type"] == "soft-card"
    body = api.respond(ok["id"], api.env.answer(soft, ok["challenge"])).json()
    assert (body["status"], body["purpose"], body["device_type"]) == \
        ("accepted", "withdrawal", "soft-card")


def test_a_response_from_a_device_below_the_amount_is_refused(api: Api) -> None:
    api.env.active("alice")
    passcode, _, _ = temporary.issue_passcode(api.env.reg, "alice")
    temporary.issue_security_card(api.env.reg, "alice")
    policy.set_withdrawal_limit(api.env.reg, "temporary-passcode", 100_000)
    # 150,000: the security code card may, so a challenge is issued; the passcode may not.
    ch = api.challenge(purpose="withdrawal", amount=150_000)
    assert ch["also_answerable_with"] == ["security-code-card"] and ch["cells"]
    body = api.respond(ch["id"], passcode).json()
    assert (body["status"], body["accepted"], body["reason"], body["device_type"]) == \
        ("rejected", False, "device-limit", "temporary-passcode")
    assert api.failures() == 0  # a right passcode: refused, not counted
    small = api.challenge(purpose="withdrawal", amount=50_000)
    assert api.respond(small["id"], passcode).json()["status"] == "accepted"
    refused = audit.entries(api.env.reg.db, action="verify.policy")
    assert [(e.outcome, e.detail["reason"]) for e in refused] == [("rejected", "device-limit")]


def test_no_challenge_when_nothing_that_can_answer_may_withdraw_the_amount(api: Api) -> None:
    api.env.active("alice")
    temporary.issue_passcode(api.env.reg, "alice")   # the card is unavailable now
    r = api.post("/v1/challenges", {"user": "alice", "purpose": "withdrawal", "amount": 300_000})
    assert r.status_code == 403 and r.json()["reason"] == "device-limit"
    assert "temporary-passcode" in r.json()["detail"]


def test_withdrawal_limit_settings_change_the_answer(api: Api) -> None:
    soft = _soft_card(api)
    policy.set_withdrawal_limit(api.env.reg, "soft-card", 100)
    r = api.post("/v1/challenges", {"user": "alice", "purpose": "withdrawal", "amount": 101,
                                    "device": soft})
    assert r.status_code == 403 and r.json()["reason"] == "device-limit"
    r = api.post("/v1/challenges", {"user": "alice", "purpose": "withdrawal", "amount": 1,
                                    "device": soft, "access": "portal"})
    assert r.status_code == 422 and "full access" in r.json()["detail"]


def test_ip_restrictions_refuse_before_a_challenge_is_issued(api: Api) -> None:
    api.env.active("alice")
    r = api.client.put("/v1/support/users/alice/networks",
                       json={"networks": ["192.0.2.0/24", "2001:db8::/32"]},
                       headers=api.headers(api.support_token))
    assert r.json()["networks"] == ["192.0.2.0/24", "2001:db8::/32"]
    issued = api.env.reg.db.one("SELECT COUNT(*) AS n FROM challenges")
    for ip, reason in (("198.51.100.7", "ip-not-allowed"), (None, "client-ip-required"),
                       ("2001:db9::1", "ip-not-allowed")):
        body = {"user": "alice", **({"client_ip": ip} if ip else {})}
        r = api.post("/v1/challenges", body)
        assert r.status_code == 403 and r.json()["reason"] == reason
    r = api.post("/v1/challenges", {"user": "alice", "client_ip": "not an ip"})
    assert r.status_code == 422 and r.json()["reason"] == "invalid-client-ip"
    assert api.env.reg.db.one("SELECT COUNT(*) AS n FROM challenges") == issued
    r = api.post("/v1/challenges", {"user": "bob", "client_ip": "300.1.1.1"})
    assert r.status_code == 422 and r.json()["reason"] == "invalid-client-ip"  # even unrestricted
    assert api.challenge(client_ip="192.0.2.99")["id"]
    assert api.challenge(client_ip="2001:db8::5")["id"]
    bad = api.client.put("/v1/support/users/alice/networks", json={"networks": ["10.0.0.0/33"]},
                         headers=api.headers(api.support_token))
    assert bad.status_code == 422


def test_an_ip_restriction_edited_without_the_key_fails_closed(api: Api) -> None:
    api.env.active("alice")
    policy.set_networks(api.env.reg, "alice", ["192.0.2.0/24"])
    api.env.reg.db.execute("UPDATE user_networks SET networks = '0.0.0.0/0'")
    r = api.post("/v1/challenges", {"user": "alice", "client_ip": "198.51.100.1"})
    assert r.status_code == 403 and r.json()["reason"] == "ip-restriction-broken"


def test_portal_only_is_never_plain_success(api: Api, clock) -> None:  # type: ignore[no-untyped-def]
    api.env.active("alice")
    passcode, full_until, _ = temporary.issue_passcode(api.env.reg, "alice")
    clock.advance(full_until - int(clock()) + 60)   # past the full-access days
    ch = api.challenge()  # purpose login, access full (the default)
    body = api.respond(ch["id"], passcode).json()
    assert (body["status"], body["accepted"], body["reason"], body["access"]) == \
        ("rejected", False, "portal-only", "portal-only")
    ch = api.challenge(access="portal")
    body = api.respond(ch["id"], f"{passcode[:5]} {passcode[5:]}").json()
    assert (body["status"], body["accepted"], body["access"]) == \
        ("portal-only", False, "portal-only")
