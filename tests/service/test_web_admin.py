"""The console's admin pages in-process: operators, API clients and PSKC. Each action is
confirmed with a one-time token, audited under the operator's name and says what it changed; a
helpdesk operator is refused every page and action (403, audited); the API token is shown once;
a PSKC export is encrypted and served once; a bad upload changes nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from regkit import SUITE, Clock, Env
from starlette.testclient import TestClient
from test_web_pages import PASSWORD, csrf, make_operator, once, sign_in

from host_tools.web.app import Settings, create_app
from provisioning import apiclients, audit, operators, pskc_io
from provisioning.registry import Registry

FILE_PASSWORD = "Export-Password-2026"


@pytest.fixture
def admin(env: Env, clock: Clock) -> Iterator[TestClient]:
    serial = make_operator(env, "boss", "admin")
    app = create_app(Settings(env.url, env.key_file, clock=clock, token_cache_seconds=0))
    with TestClient(app, base_url="https://testserver") as client:
        sign_in(client, env, "boss", serial)
        yield client


def confirm(client: TestClient, path: str, data: dict[str, str], page: str,
            **extra: str) -> tuple[str, str]:
    """Post the form, check the confirmation page, post it confirmed: (confirmation, result)."""
    asked = client.post(path, data={"csrf": csrf(page), **data})
    assert "Please confirm" in asked.text, asked.text
    done = client.post(path, data={"csrf": csrf(asked.text), **data, **extra,
                                   "confirmed": "yes", "once": once(asked.text)})
    return asked.text, done.text


def test_nav_links_admin_pages_for_admins_only(admin: TestClient, env: Env,
                                               clock: Clock) -> None:
    page = admin.get("/console/search").text
    for href in ("/console/operators", "/console/api-clients", "/console/pskc"):
        assert f'href="{href}"' in page
    hd = make_operator(env, "hd", "helpdesk")
    app = create_app(Settings(env.url, env.key_file, clock=clock))
    with TestClient(app, base_url="https://testserver") as helpdesk:
        page = sign_in(helpdesk, env, "hd", hd)
        assert "/console/api-clients" not in page and "/console/pskc" not in page


def test_api_client_token_shown_once_and_revoked(admin: TestClient, env: Env) -> None:
    page = admin.get("/console/api-clients").text
    asked = admin.post("/console/api-clients", data={"csrf": csrf(page), "name": "bank",
                                                     "scope": "verify"})
    assert "Add the API client bank with scope verify?" in asked.text
    assert apiclients.clients(env.reg) == []  # nothing yet
    form = {"csrf": csrf(asked.text), "name": "bank", "scope": "verify", "confirmed": "yes",
            "once": once(asked.text)}
    shown = admin.post("/console/api-clients", data=form)
    token = re.search(r'id="secret">([^<]+)<', shown.text)
    assert token and shown.headers["cache-control"] == "no-store"
    assert apiclients.authenticate(env.reg, token.group(1)).scope == "verify"
    # a reload re-posts the used confirmation: refused, no token, nothing added
    again = admin.post("/console/api-clients", data=form)
    assert again.status_code == 403 and token.group(1) not in again.text
    assert "dsc_" not in admin.get("/console/api-clients").text
    assert [c.name for c in apiclients.clients(env.reg)] == ["bank"]
    # the token is in no audit entry, no session row, no one-time row
    assert token.group(1) not in repr([e.as_json() for e in audit.entries(env.reg.db)])
    assert env.reg.db.all("SELECT id FROM web_once") == []
    entry = audit.entries(env.reg.db, action="api-client.add")[-1]
    assert entry.operator == "console:boss" and entry.detail == {"client": "bank",
                                                                 "scope": "verify"}
    # a confirmation edited to another scope does not match its token
    asked = admin.post("/console/api-clients", data={"csrf": csrf(page), "name": "desk",
                                                     "scope": "verify"})
    r = admin.post("/console/api-clients", data={
        "csrf": csrf(asked.text), "name": "desk", "scope": "support", "confirmed": "yes",
        "once": once(asked.text)})
    assert r.status_code == 403 and [c.name for c in apiclients.clients(env.reg)] == ["bank"]

    _, done = confirm(admin, "/console/api-clients/bank/revoke", {}, page)
    assert "API client bank is revoked" in done
    with pytest.raises(apiclients.AuthenticationError, match="revoked"):
        apiclients.authenticate(env.reg, token.group(1))
    assert audit.entries(env.reg.db, action="api-client.revoke")[-1].operator == "console:boss"


def test_bad_api_client_input_is_refused_before_confirmation(admin: TestClient) -> None:
    page = admin.get("/console/api-clients").text
    r = admin.post("/console/api-clients", data={"csrf": csrf(page), "name": "bad name",
                                                 "scope": "verify"})
    assert r.status_code == 409 and "an API client name is" in r.text
    r = admin.post("/console/api-clients", data={"csrf": csrf(page), "name": "x",
                                                 "scope": "root"})
    assert r.status_code == 409 and "unknown scope root" in r.text


def test_admin_adds_an_operator_who_then_signs_in(admin: TestClient, env: Env,
                                                  clock: Clock) -> None:
    card = env.active("op-hal", "4321")
    page = admin.get("/console/operators").text
    data = {"name": "hal", "role": "helpdesk", "user": "op-hal"}
    asked = admin.post("/console/operators", data={"csrf": csrf(page), **data})
    assert "card of the registry user op-hal" in asked.text and 'name="password2"' in asked.text
    # the two passwords differ: asked again, nothing added
    r = admin.post("/console/operators", data={
        "csrf": csrf(asked.text), **data, "confirmed": "yes", "once": once(asked.text),
        "password": PASSWORD, "password2": PASSWORD + "x"})
    assert "The two passwords differ" in r.text and operators.active(env.reg, "hal") is None
    r = admin.post("/console/operators", data={
        "csrf": csrf(r.text), **data, "confirmed": "yes", "once": once(r.text),
        "password": PASSWORD, "password2": PASSWORD})
    assert "Operator hal (helpdesk) added" in r.text
    found = operators.active(env.reg, "hal")
    assert found is not None and (found.role, found.user) == ("helpdesk", "op-hal")
    entry = audit.entries(env.reg.db, action="operator.add")[-1]
    assert entry.operator == "console:boss" and PASSWORD not in repr(entry.as_json())
    app = create_app(Settings(env.url, env.key_file, clock=clock))
    with TestClient(app, base_url="https://testserver") as hal:
        sign_in(hal, env, "hal", card)
    # an unknown card holder, a short password: refused, nothing added
    r = admin.post("/console/operators", data={"csrf": csrf(page), "name": "ivy",
                                               "role": "admin", "user": "nobody"})
    assert r.status_code == 409
    asked = admin.post("/console/operators", data={"csrf": csrf(page), "name": "ivy",
                                                   "role": "admin", "user": "op-hal"})
    r = admin.post("/console/operators", data={
        "csrf": csrf(asked.text), "name": "ivy", "role": "admin", "user": "op-hal",
        "confirmed": "yes", "once": once(asked.text), "password": "short",
        "password2": "short"})
    assert r.status_code == 409 and "at least 12" in r.text
    assert operators.active(env.reg, "ivy") is None


def test_an_admin_cannot_disable_themself(admin: TestClient) -> None:
    page = admin.get("/console/operators").text
    r = admin.post("/console/operators/boss/disable", data={"csrf": csrf(page)})
    assert r.status_code == 403 and "cannot disable yourself" in r.text


def test_helpdesk_refused_every_admin_page_and_action(env: Env, clock: Clock) -> None:
    hd = make_operator(env, "hd", "helpdesk")
    app = create_app(Settings(env.url, env.key_file, clock=clock))
    with TestClient(app, base_url="https://testserver") as web:
        page = sign_in(web, env, "hd", hd)
        for path in ("/console/operators", "/console/api-clients", "/console/pskc"):
            assert web.get(path).status_code == 403, path
        token = csrf(page)
        posts = [("/console/api-clients", {"name": "evil", "scope": "support",
                                           "confirmed": "yes"}),
                 ("/console/operators", {"name": "evil", "role": "admin", "user": "op-hd"}),
                 ("/console/operators/hd/disable", {"confirmed": "yes"}),
                 ("/console/api-clients/x/revoke", {"confirmed": "yes"}),
                 ("/console/pskc/export", {"confirmed": "yes"})]
        for path, data in posts:
            assert web.post(path, data={"csrf": token, **data}).status_code == 403, path
        r = web.post("/console/pskc/import", data={"csrf": token},
                     files={"file": ("x.xml", b"<x/>", "application/xml")})
        assert r.status_code == 403
        # a post without its CSRF token is refused before the role check (not audited)
        assert web.post("/console/api-clients", data={"name": "e"}).status_code == 403
    refused = audit.entries(env.reg.db, action="operator.forbidden")
    assert [e.detail["wanted"] for e in refused] == [
        "operators", "api-clients", "pskc", "api-clients", "operators", "operators",
        "api-clients", "pskc", "pskc"]
    assert all(e.operator == "console:hd" for e in refused)
    assert apiclients.clients(env.reg) == [] and operators.active(env.reg, "evil") is None


def export_file(admin: TestClient, env: Env) -> tuple[bytes, list[str]]:
    page = admin.get("/console/pskc").text
    asked = admin.post("/console/pskc/export", data={"csrf": csrf(page), "serials": ""})
    assert "Export the seeds of" in asked.text
    r = admin.post("/console/pskc/export", data={
        "csrf": csrf(asked.text), "serials": re.search(
            r'name="serials" value="([^"]*)"', asked.text).group(1),  # type: ignore[union-attr]
        "confirmed": "yes", "once": once(asked.text), "password": FILE_PASSWORD,
        "password2": FILE_PASSWORD})
    assert "PSKC export ready" in r.text, r.text
    link = re.search(r'action="(/console/download/[^"]+)"', r.text)
    assert link
    got = admin.post(link.group(1), data={"csrf": csrf(r.text)})
    assert got.status_code == 200 and "attachment" in got.headers["content-disposition"]
    assert admin.post(link.group(1), data={"csrf": csrf(r.text)}).status_code == 403
    exported = re.search(r"Exported \d+ cards: ([^.]+)\.", r.text)
    assert exported
    return got.content, exported.group(1).split(", ")


def test_pskc_export_of_stock_is_encrypted_and_served_once(admin: TestClient,
                                                           env: Env) -> None:
    stock = [env.card(), env.card()]
    env.active("alice")  # assigned and active: not stock, not exported
    body, listed = export_file(admin, env)
    assert listed == stock
    for serial in stock:
        assert env.seeds[serial].hex() not in body.decode()
    assert b"EncryptedValue" in body and b"pbkdf2" in body.lower()
    items = pskc_io.parse(body, "export", pskc_io.Protection(password=FILE_PASSWORD))
    assert {i.serial_number: i.seed for i in items} == {s: env.seeds[s] for s in stock}
    entry = audit.entries(env.reg.db, action="pskc.export")[-1]
    assert entry.operator == "console:boss" and entry.detail["cards"] == stock


def test_pskc_export_confirmation_is_bound_to_the_stock_it_showed(admin: TestClient,
                                                                 env: Env) -> None:
    env.card()
    page = admin.get("/console/pskc").text
    asked = admin.post("/console/pskc/export", data={"csrf": csrf(page), "serials": ""})
    env.card()  # the stock changes before the confirmation
    r = admin.post("/console/pskc/export", data={
        "csrf": csrf(asked.text), "serials": "", "confirmed": "yes", "once": once(asked.text),
        "password": FILE_PASSWORD, "password2": FILE_PASSWORD})
    assert r.status_code == 403 and "does not match" in r.text
    assert audit.entries(env.reg.db, action="pskc.export") == []


def test_pskc_export_of_a_stock_larger_than_a_form(admin: TestClient, env: Env) -> None:
    """The confirmation does not carry the stock's serial numbers (800 would not fit in a
    form): it is bound to their hash and looks the stock up again."""
    for _ in range(800):
        env.card()
    body, listed = export_file(admin, env)
    assert len(listed) == 800 and body.count(b"<pskc:KeyPackage") == 800


def test_pskc_export_refuses_a_weak_password_and_differing_ones(admin: TestClient,
                                                                env: Env) -> None:
    env.card()
    page = admin.get("/console/pskc").text
    asked = admin.post("/console/pskc/export", data={"csrf": csrf(page)})
    serials = re.search(r'name="serials" value="([^"]*)"', asked.text)
    assert serials
    base = {"serials": serials.group(1), "confirmed": "yes"}
    r = admin.post("/console/pskc/export", data={
        "csrf": csrf(asked.text), **base, "once": once(asked.text), "password": "weakweak",
        "password2": "weakweak"})
    assert r.status_code == 409 and "too weak" in r.text
    r = admin.post("/console/pskc/export", data={
        "csrf": csrf(asked.text), **base, "once": once(asked.text),
        "password": FILE_PASSWORD, "password2": FILE_PASSWORD + "!"})
    assert "The two passwords differ" in r.text
    assert audit.entries(env.reg.db, action="pskc.export") == []


def upload(admin: TestClient, body: bytes, password: str = FILE_PASSWORD,
           **extra: str) -> tuple[int, str]:
    page = admin.get("/console/pskc").text
    r = admin.post("/console/pskc/import", data={"csrf": csrf(page), "password": password,
                                                 **extra},
                   files={"file": ("cards.pskc", body, "application/pskc+xml")})
    return r.status_code, r.text


def test_pskc_import_is_checked_shown_then_recorded(admin: TestClient, env: Env,
                                                    tmp_path: Path, clock: Clock) -> None:
    # a file from another registry
    other, _, _ = Registry.init(str(tmp_path / "other.sqlite3"), tmp_path / "other.key",
                                clock=clock)
    with other:
        other_env = Env(other, clock, "", tmp_path)
        for _ in range(5):  # numbers used here already: the file's cards are new to `env`
            other.allocate_serial(SUITE)
        serials = [other_env.card(), other_env.card()]
        out = tmp_path / "out.pskc"
        pskc_io.export(other, out, pskc_io.Protection(password=FILE_PASSWORD), serials)
    status, text = upload(admin, out.read_bytes(), batch="from-other")
    assert status == 200 and "Record these 2 cards as provisioned" in text, text
    for s in serials:
        assert s in text
    assert env.reg.cards("provisioned") == []  # nothing yet
    token = re.search(r'name="token" value="([^"]+)"', text)
    assert token
    r = admin.post("/console/pskc/import/confirm", data={
        "csrf": csrf(text), "token": token.group(1), "confirmed": "yes", "once": once(text)})
    assert "2 cards imported as provisioned" in r.text
    for s in serials:
        assert env.reg.card(s).status == "provisioned" and env.reg.card(s).batch == "from-other"
        assert env.reg.seed(s) == other_env.seeds[s]
    assert {e.operator for e in audit.entries(env.reg.db, action="pskc.import")} == \
        {"console:boss"}
    assert env.reg.db.all("SELECT id FROM web_once") == []
    # confirmed twice: refused, nothing more
    r = admin.post("/console/pskc/import/confirm", data={
        "csrf": csrf(text), "token": token.group(1), "confirmed": "yes", "once": once(text)})
    assert r.status_code == 403
    # the same file again: its cards are known, nothing imported
    status, text = upload(admin, out.read_bytes())
    assert status == 422 and "already in the registry" in text


HOSTILE = [
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
     b'<KeyContainer xmlns="urn:ietf:params:xml:ns:keyprov:pskc" Version="1.0">&b;'
     b'</KeyContainer>', "a DTD (entities are not allowed)"),
    (b"<a>" * 100 + b"</a>" * 100, "nested deeper than 32"),
    (b"not xml at all", "is not a valid PSKC file"),
    (b'<KeyContainer xmlns="urn:ietf:params:xml:ns:keyprov:pskc" Version="1.0"/>',
     "holds no key packages"),
]


@pytest.mark.parametrize(("body", "said"), HOSTILE)
def test_a_hostile_pskc_upload_is_refused_and_changes_nothing(admin: TestClient, env: Env,
                                                              body: bytes, said: str) -> None:
    before = env.reg.db.all("SELECT COUNT(*) AS n FROM cards")[0]["n"]
    status, text = upload(admin, body)
    assert status == 422 and said in text and "Nothing was changed." in text, text
    assert env.reg.db.all("SELECT COUNT(*) AS n FROM cards")[0]["n"] == before
    assert env.reg.db.all("SELECT id FROM web_once") == []
    entry = audit.entries(env.reg.db, action="pskc.import")[-1]
    assert entry.outcome == "refused" and entry.operator == "console:boss"


def test_a_pskc_upload_over_the_limit_is_refused_unread(admin: TestClient, env: Env) -> None:
    status, text = upload(admin, b" " * (pskc_io.MAX_FILE_BYTES + 100 * 1024))
    assert status == 413 and "at most 8 MiB" in text


def test_a_wrong_file_password_says_so(admin: TestClient, env: Env, tmp_path: Path) -> None:
    env.card()
    body, _ = export_file(admin, env)
    status, text = upload(admin, body, password="Another-Password-99")
    assert status == 422 and "does not decrypt" in text
    status, text = upload(admin, body, password="")
    assert status == 422 and "is encrypted: give its password" in text


def test_an_upload_without_its_csrf_token_is_refused(admin: TestClient, env: Env) -> None:
    r = admin.post("/console/pskc/import", data={"password": FILE_PASSWORD},
                   files={"file": ("x.pskc", b"<x/>", "application/xml")})
    assert r.status_code == 403 and "security token" in r.text
    assert audit.entries(env.reg.db, action="pskc.import") == []
