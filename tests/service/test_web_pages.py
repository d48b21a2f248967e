"""The support console and the portal in-process (Starlette's TestClient over https): security
headers, cookies, CSRF, throttling, roles, and the support and holder flows on cards of known
seeds (regkit)."""

from __future__ import annotations

import re

from regkit import Clock, Env
from starlette.testclient import TestClient

from host_tools.web.app import Settings, create_app
from provisioning import audit, operators

PASSWORD = "correct horse battery"


def csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, html
    return m.group(1)


def once(html: str) -> str:
    """The one-time token of a confirmation page."""
    m = re.search(r'name="once" value="([^"]+)"', html)
    assert m, html
    return m.group(1)


def challenge_of(html: str) -> str:
    m = re.search(r'id="challenge">(\d+)<', html)
    assert m, html
    return m.group(1)


def make_operator(env: Env, name: str, role: str) -> str:
    serial = env.active(f"op-{name}", "4321")
    operators.add(env.reg, name, role, PASSWORD, f"op-{name}")
    return serial


def sign_in(web: TestClient, env: Env, name: str, serial: str) -> str:
    page = web.get("/console/login")
    page = web.post("/console/login", data={"csrf": csrf(page.text), "name": name,
                                            "password": PASSWORD})
    assert page.status_code == 200, page.text
    resp = env.answer(serial, challenge_of(page.text), "4321")
    page = web.post("/console/login/card", data={"csrf": csrf(page.text),
                                                 "response": resp[:4] + " " + resp[4:]})
    assert page.status_code == 200 and "<h1>Search</h1>" in page.text, page.text
    return page.text


def test_headers_and_cookie_flags(web: TestClient) -> None:
    r = web.get("/console/login")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-frame-options"] == "DENY"
    cookie = r.headers["set-cookie"]
    for flag in ("Secure", "HttpOnly", "SameSite=strict", "Path=/console"):
        assert flag.lower() in cookie.lower(), cookie
    assert "<script" not in r.text.split("</head>")[1]  # no inline script in the body
    assert web.get("/static/web/style.css").status_code == 200


def test_form_without_csrf_is_refused(web: TestClient, env: Env) -> None:
    make_operator(env, "hd", "helpdesk")
    web.get("/console/login")
    r = web.post("/console/login", data={"name": "hd", "password": PASSWORD})
    assert r.status_code == 403 and "security token" in r.text
    r = web.post("/console/login", data={"csrf": "forged", "name": "hd", "password": PASSWORD})
    assert r.status_code == 403


def test_password_alone_does_not_sign_in(web: TestClient, env: Env) -> None:
    make_operator(env, "hd", "helpdesk")
    page = web.get("/console/login")
    page = web.post("/console/login", data={"csrf": csrf(page.text), "name": "hd",
                                            "password": PASSWORD})
    r = web.post("/console/login/card", data={"csrf": csrf(page.text), "response": "00000000"})
    assert r.status_code == 401
    assert web.get("/console/search").url.path == "/console/login"


def test_sign_in_throttled_per_operator(web: TestClient, env: Env) -> None:
    make_operator(env, "hd", "helpdesk")
    for _ in range(5):
        page = web.get("/console/login")
        r = web.post("/console/login", data={"csrf": csrf(page.text), "name": "hd",
                                             "password": "wrong password here"})
        assert r.status_code == 401
    page = web.get("/console/login")
    r = web.post("/console/login", data={"csrf": csrf(page.text), "name": "hd",
                                         "password": PASSWORD})
    assert r.status_code == 429 and "try again in" in r.text


def test_idle_timeout_signs_out(web: TestClient, env: Env, clock: Clock) -> None:
    serial = make_operator(env, "hd", "helpdesk")
    sign_in(web, env, "hd", serial)
    assert web.get("/console/search").url.path == "/console/search"
    clock.advance(16 * 60)
    assert web.get("/console/search").url.path == "/console/login"


def test_helpdesk_refused_admin_action_and_logged(web: TestClient, env: Env) -> None:
    serial = make_operator(env, "hd", "helpdesk")
    sign_in(web, env, "hd", serial)
    assert web.get("/console/audit").status_code == 403
    assert web.get("/console/stock").status_code == 403
    refused = audit.entries(env.reg.db, action="operator.forbidden")
    assert [e.detail["wanted"] for e in refused] == ["audit", "stock"]
    assert all(e.operator == "console:hd" for e in refused)


def test_admin_sees_audit_chain_and_head(web: TestClient, env: Env) -> None:
    serial = make_operator(env, "boss", "admin")
    sign_in(web, env, "boss", serial)
    r = web.get("/console/audit")
    assert r.status_code == 200 and "Chain verified" in r.text
    head = re.search(r'id="head">([0-9a-f]{64})<', r.text)
    assert head and head.group(1) == audit.verify(env.reg.db, env.reg.sealer)[1]


def test_unlock_and_passcode_then_portal(web: TestClient, env: Env, clock: Clock) -> None:
    serial = make_operator(env, "hd", "helpdesk")
    holder = env.active("alice", "1234")
    for _ in range(10):
        env.wrong("alice")
    html = sign_in(web, env, "hd", serial)
    r = web.get("/console/search", params={"q": "lic"})
    assert "/console/user/alice" in r.text
    r = web.get("/console/user/alice")
    assert 'id="status">locked<' in r.text
    assert 'id="failures">0 since the lock' in r.text  # the run restarts at the lock
    r = web.post("/console/user/alice/unlock", data={"csrf": csrf(r.text)})
    assert "Please confirm" in r.text
    r = web.post("/console/user/alice/unlock", data={"csrf": csrf(r.text), "confirmed": "yes"})
    assert "alice unlocked" in r.text and 'id="status">ok<' in r.text
    r = web.post("/console/user/alice/passcode", data={"csrf": csrf(r.text), "confirmed": "yes"})
    code = re.search(r'id="secret">([^<]+)<', r.text)
    assert code and r.headers["cache-control"] == "no-store"
    passcode = code.group(1)
    entries = audit.entries(env.reg.db, user="alice")
    assert {"unlock", "temporary-access"} <= {e.action for e in entries
                                             if e.operator == "console:hd"}
    assert passcode not in str([e.detail for e in entries])
    del html, holder

    # the holder, three days later: portal only, nothing but the security code card
    clock.advance(3 * 86400)
    portal = web.get("/portal")
    r = web.post("/portal/start", data={"csrf": csrf(portal.text), "user": "alice"})
    assert '<option value="temporary-passcode">' in r.text
    r = web.post("/portal/challenge", data={"csrf": csrf(r.text),
                                            "device": "temporary-passcode"})
    r = web.post("/portal/respond", data={"csrf": csrf(r.text), "response": passcode})
    assert r.status_code == 200 and "<h1>Portal only</h1>" in r.text, r.text
    assert "/portal/pin" not in r.text and "/portal/reactivate" not in r.text
    assert web.get("/portal/pin").url.path == "/portal"


def test_portal_wrong_responses_in_words(web: TestClient, env: Env) -> None:
    env.active("bob", "1234")
    for _ in range(9):
        env.wrong("bob")
    portal = web.get("/portal")
    r = web.post("/portal/start", data={"csrf": csrf(portal.text), "user": "bob"})
    r = web.post("/portal/challenge", data={"csrf": csrf(r.text), "device": ""})
    r = web.post("/portal/respond", data={"csrf": csrf(r.text), "response": "0000 0000"})
    assert r.status_code == 401 and "locked until" in r.text and "call us" in r.text


def test_portal_change_pin_only_when_response_matches(web: TestClient, env: Env) -> None:
    serial = env.active("carol", "1234")
    portal = web.get("/portal")
    r = web.post("/portal/start", data={"csrf": csrf(portal.text), "user": "carol"})
    r = web.post("/portal/challenge", data={"csrf": csrf(r.text), "device": serial})
    resp = env.answer(serial, challenge_of(r.text), "1234")
    r = web.post("/portal/respond", data={"csrf": csrf(r.text), "response": resp})
    assert "Welcome, carol" in r.text
    r = web.get("/portal/pin")
    assert "PIN&gt;" in r.text and "CHALLNG&gt;" in r.text
    wrong = env.answer(serial, challenge_of(r.text), "1234")  # made with the old PIN
    r = web.post("/portal/pin", data={"csrf": csrf(r.text), "pin": "5678", "response": wrong})
    assert r.status_code == 401
    assert env.login("carol", serial, "1234").accepted
    r = web.get("/portal/pin")
    good = env.answer(serial, challenge_of(r.text), "5678")
    r = web.post("/portal/pin", data={"csrf": csrf(r.text), "pin": "5678", "response": good})
    assert "new PIN is stored" in r.text
    assert env.login("carol", serial, "5678").accepted


def test_lost_card_replaced_from_stock(web: TestClient, env: Env) -> None:
    serial = make_operator(env, "hd", "helpdesk")
    old = env.active("dave", "1234")
    spare = env.card()
    sign_in(web, env, "hd", serial)
    r = web.get(f"/console/card/{old}")
    r = web.post(f"/console/card/{old}/lost", data={"csrf": csrf(r.text), "confirmed": "yes"})
    assert f"Card {old} is now lost." in r.text and f'<option value="{spare}">' in r.text
    r = web.post(f"/console/card/{old}/replace", data={"csrf": csrf(r.text), "new": spare})
    assert "Please confirm" in r.text
    r = web.post(f"/console/card/{old}/replace", data={"csrf": csrf(r.text), "new": spare,
                                                      "confirmed": "yes"})
    assert f"Card {spare} is assigned to dave" in r.text
    assert env.reg.card(spare).users == ("dave",)
    # a helpdesk operator cannot wipe (admin), even by posting the form directly
    r = web.post(f"/console/card/{old}/wipe", data={"csrf": csrf(r.text), "confirmed": "yes"})
    assert r.status_code == 403 and env.reg.card(old).status == "lost"


def test_admin_disables_helpdesk_who_is_then_signed_out(env: Env, clock: Clock) -> None:
    boss_card = make_operator(env, "boss", "admin")
    hd_card = make_operator(env, "hd", "helpdesk")
    app = create_app(Settings(env.url, env.key_file, clock=clock, token_cache_seconds=0))
    with TestClient(app, base_url="https://testserver") as admin, \
            TestClient(app, base_url="https://testserver") as helpdesk:
        sign_in(admin, env, "boss", boss_card)
        sign_in(helpdesk, env, "hd", hd_card)
        assert helpdesk.get("/console/operators").status_code == 403
        r = admin.get("/console/operators")
        r = admin.post("/console/operators/hd/disable", data={"csrf": csrf(r.text)})
        assert "Please confirm" in r.text
        r = admin.post("/console/operators/hd/disable", data={"csrf": csrf(r.text),
                                                             "confirmed": "yes",
                                                             "once": once(r.text)})
        assert "Operator hd is disabled." in r.text
        assert helpdesk.get("/console/search").url.path == "/console/login"


def test_search_text_is_escaped_and_user_links_quoted(web: TestClient, env: Env) -> None:
    serial = make_operator(env, "hd", "helpdesk")
    env.active("o'neil")
    sign_in(web, env, "hd", serial)
    r = web.get("/console/search", params={"q": "<b>x"})
    assert "&lt;b&gt;x" in r.text and "<b>x" not in r.text
    r = web.get("/console/search", params={"q": "o'n"})
    assert 'href="/console/user/o%27neil"' in r.text
    assert web.get("/console/user/o%27neil").status_code == 200


def test_admin_changes_a_setting_helpdesk_cannot(web: TestClient, env: Env) -> None:
    boss = make_operator(env, "boss", "admin")
    sign_in(web, env, "boss", boss)
    r = web.get("/console/settings")
    assert 'id="s-max_failures"' in r.text
    r = web.post("/console/settings", data={"csrf": csrf(r.text), "name": "max_failures",
                                            "value": "7"})
    r = web.post("/console/settings", data={"csrf": csrf(r.text), "name": "max_failures",
                                            "value": "7", "confirmed": "yes"})
    assert "max_failures is now 7." in r.text
    assert env.reopen().policy.max_failures == 7
    r = web.post("/console/settings", data={"csrf": csrf(r.text), "name": "max_failures",
                                            "value": "0", "confirmed": "yes"})
    assert r.status_code == 409 and env.reopen().policy.max_failures == 7
    entry = audit.entries(env.reg.db, action="registry.config")[-1]
    assert entry.operator == "console:boss" and entry.detail == {"max_failures": 7}


def test_helpdesk_reactivates_on_the_holders_behalf(web: TestClient, env: Env) -> None:
    serial = make_operator(env, "hd", "helpdesk")
    card = env.active("erin", "1234")
    sign_in(web, env, "hd", serial)
    r = web.get("/console/user/erin")
    r = web.post("/console/user/erin/passcode", data={"csrf": csrf(r.text), "confirmed": "yes"})
    assert env.reg.card(card).status == "unavailable"
    r = web.get("/console/user/erin")
    assert "Reactivate the returned card" in r.text
    r = web.get("/console/user/erin/reactivate")
    resp = env.answer(card, challenge_of(r.text), "1234")
    r = web.post("/console/user/erin/reactivate", data={"csrf": csrf(r.text), "response": resp})
    assert f"Card {card} is active again" in r.text
    assert env.reg.card(card).status == "active"
    assert "None running." in r.text
