"""Soft card pages in-process: the console's Create soft card (confirmation, CSRF, audit under
the operator's name, the code and QR code shown once, no-store), the portal's Add a soft card
(full access only), and the console's card page offering only a soft card's own next steps."""

from __future__ import annotations

import re

import pytest
from regkit import SUITE, Clock, Env
from starlette.testclient import TestClient
from test_web_pages import csrf, make_operator, sign_in

from host_tools.qr import qr_svg
from provisioning import audit, softcard, support


def shown_code(html: str) -> str:
    m = re.search(r'id="activation-code">([A-Z0-9-]+)<', html)
    assert m, html
    return m.group(1)


def test_console_creates_a_soft_card_code(web: TestClient, env: Env) -> None:
    serial = make_operator(env, "hd", "helpdesk")
    env.active("alice", "1234")
    sign_in(web, env, "hd", serial)
    r = web.get("/console/user/alice")
    assert 'action="/console/softcard/alice"' in r.text and "Create soft card" in r.text
    # without the form's token: refused, nothing issued
    assert web.post("/console/softcard/alice", data={"confirmed": "yes"}).status_code == 403
    r = web.post("/console/softcard/alice", data={"csrf": csrf(r.text)})
    assert "Please confirm" in r.text and "soft card for alice" in r.text
    assert not env.reg.db.all("SELECT id FROM softcard_activations")
    r = web.post("/console/softcard/alice", data={"csrf": csrf(r.text), "confirmed": "yes"})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    code = shown_code(r.text)
    # the QR code is the one of the URL carrying this very code
    assert qr_svg(f"https://testserver/softcard#code={code}") in r.text
    assert "https://testserver/softcard" in r.text
    issued = [e for e in audit.entries(env.reg.db, user="alice") if e.action == "softcard-code"]
    assert [(e.outcome, e.operator) for e in issued] == [("issued", "console:hd")]
    assert softcard.normalise(code) not in str([e.detail for e in issued])
    assert softcard.claim(env.reg, code) == "alice"  # the code on the page is the real one


def test_console_refuses_a_user_without_a_pin(web: TestClient, env: Env) -> None:
    serial = make_operator(env, "hd", "helpdesk")
    env.card(SUITE)
    sign_in(web, env, "hd", serial)
    r = web.get("/console/search")
    r = web.post("/console/softcard/nobody", data={"csrf": csrf(r.text), "confirmed": "yes"})
    assert r.status_code == 409 and "no user nobody" in r.text


def _portal_login(web: TestClient, env: Env, user: str, serial: str) -> str:
    portal = web.get("/portal")
    r = web.post("/portal/start", data={"csrf": csrf(portal.text), "user": user})
    r = web.post("/portal/challenge", data={"csrf": csrf(r.text), "device": serial})
    m = re.search(r'id="challenge">(\d+)<', r.text)
    assert m, r.text
    r = web.post("/portal/respond", data={"csrf": csrf(r.text),
                                          "response": env.answer(serial, m.group(1), "1234")})
    assert f"Welcome, {user}" in r.text
    return r.text


def test_portal_holder_adds_a_soft_card(web: TestClient, env: Env) -> None:
    serial = env.active("carol", "1234")
    assert web.get("/portal/softcard").url.path == "/portal"  # not logged in
    home = _portal_login(web, env, "carol", serial)
    assert 'href="/portal/softcard"' in home
    r = web.get("/portal/softcard")
    assert "Add a soft card" in r.text and 'value="yes"' in r.text
    assert web.post("/portal/softcard", data={"confirmed": "yes"}).status_code == 403
    r = web.post("/portal/softcard", data={"csrf": csrf(r.text), "confirmed": "yes"})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    code = shown_code(r.text)
    assert qr_svg(f"https://testserver/softcard#code={code}") in r.text
    issued = [e for e in audit.entries(env.reg.db, user="carol") if e.action == "softcard-code"]
    assert [(e.outcome, e.operator) for e in issued] == [("issued", "portal")]
    assert softcard.claim(env.reg, code) == "carol"


def test_portal_only_session_may_not_add_a_soft_card(web: TestClient, env: Env,
                                                     clock: Clock) -> None:
    from provisioning import temporary
    env.active("dave", "1234")
    passcode, _, _ = temporary.issue_passcode(env.reg, "dave")
    clock.advance(3 * 86400)  # day 3: the passcode opens the portal only
    portal = web.get("/portal")
    r = web.post("/portal/start", data={"csrf": csrf(portal.text), "user": "dave"})
    r = web.post("/portal/challenge", data={"csrf": csrf(r.text),
                                            "device": "temporary-passcode"})
    r = web.post("/portal/respond", data={"csrf": csrf(r.text), "response": passcode})
    assert "<h1>Portal only</h1>" in r.text and "/portal/softcard" not in r.text
    token = csrf(r.text)
    r = web.get("/portal/softcard")
    assert r.status_code == 403 and "full login" in r.text
    r = web.post("/portal/softcard", data={"csrf": token, "confirmed": "yes"})
    assert r.status_code == 403
    assert not env.reg.db.all("SELECT id FROM softcard_activations")


def test_console_card_page_shows_a_soft_cards_own_steps(web: TestClient, env: Env) -> None:
    serial = make_operator(env, "hd", "helpdesk")
    hard = env.active("alice", "1234")
    soft = env.reg.allocate_serial(SUITE, board="soft")
    env.reg.confirm_provisioned(soft, seed=b"S" * 32, admin_key=b"A" * 32, suite=SUITE,
                                board="soft")
    support.assign(env.reg, soft, "alice", None)
    support.activate(env.reg, soft)
    sign_in(web, env, "hd", serial)

    def steps(s: str) -> list[str]:
        html = web.get(f"/console/card/{s}").text
        return re.findall(rf'action="/console/card/{s}/([a-z-]+)"', html)
    assert steps(soft) == ["disable", "remove"]
    assert steps(hard) == ["lost"]
    r = web.get(f"/console/card/{soft}")
    r = web.post(f"/console/card/{soft}/disable", data={"csrf": csrf(r.text)})
    assert "Please confirm" in r.text
    r = web.post(f"/console/card/{soft}/disable", data={"csrf": csrf(r.text),
                                                         "confirmed": "yes"})
    assert f"Card {soft} is now disabled" in r.text
    assert steps(soft) == ["enable", "remove"]
    # a card-only action posted anyway: refused with the reason, nothing changed
    r = web.post(f"/console/card/{soft}/lost", data={"csrf": csrf(r.text), "confirmed": "yes"})
    assert r.status_code == 409 and "soft card" in r.text
    assert env.reg.card(soft).status == "disabled"
    r = web.get(f"/console/card/{soft}")
    r = web.post(f"/console/card/{soft}/remove", data={"csrf": csrf(r.text), "confirmed": "yes"})
    assert f"Card {soft} is now removed" in r.text and steps(soft) == []
    entries = audit.entries(env.reg.db, serial_number=soft)
    assert {("softcard-disable", "console:hd"), ("softcard-remove", "console:hd")} <= \
        {(e.action, e.operator) for e in entries}


def test_only_plain_qr_shapes_reach_a_page(monkeypatch: pytest.MonkeyPatch) -> None:
    from host_tools.web import softcard_pages
    assert str(softcard_pages.qr_markup("https://bank.example/softcard#code=AAAA")) \
        .startswith("<svg")
    for hostile in ('<svg width="1" onload="alert(1)"><path d="M0 0h1"/></svg>',
                    '<svg width="1"><script>alert(1)</script></svg>',
                    '<svg width="1"><text>hi</text></svg>'):
        monkeypatch.setattr(softcard_pages, "qr_svg", lambda url, h=hostile: h)
        with pytest.raises(ValueError):
            softcard_pages.qr_markup("https://bank.example/softcard#code=AAAA")
