"""The console's admin pages in Chromium: an admin adds an API client and sees its token once (a
reload does not show it), revokes it, adds a helpdesk operator; that operator signs in with
password + card and is refused the admin pages; a hostile PSKC upload shows an error and
changes nothing. Screenshots with `make screenshots`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page
from playwright.sync_api import Error as PlaywrightError
from test_web_console_portal import PASSWORD, keyed_card, shot, sign_in, site_for

from provisioning import apiclients, audit, operators, support
from provisioning.registry import Registry

HOSTILE = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaa">'
           b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
           b'<KeyContainer xmlns="urn:ietf:params:xml:ns:keyprov:pskc" Version="1.0">&b;'
           b'</KeyContainer>')


def settled_content(page: Page) -> str:
    """The page's HTML once Chromium stopped navigating (its error page for a history entry it
    may not show replaces itself once more)."""
    for _ in range(50):
        try:
            page.wait_for_load_state("load")
            return page.content()
        except PlaywrightError:
            page.wait_for_timeout(100)
    raise AssertionError("the page kept navigating")


def setup(reg: Registry) -> dict[str, Any]:
    card, serial = keyed_card(reg)
    support.assign(reg, serial, "op-hana", "4321")
    support.activate(reg, serial)
    keyed_card(reg)  # a card in stock, for the PSKC page
    return {"hana": card}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    yield from site_for(tmp_path_factory, setup)


def test_admin_pages(browser: Browser, site: dict[str, Any], tmp_path: Path) -> None:
    ctx = browser.new_context(viewport={"width": 1000, "height": 760})
    page = ctx.new_page()
    reg: Registry = site["reg"]
    sign_in(page, site, "ann")
    page.get_by_role("link", name="API clients").click()
    page.get_by_label("Client name").fill("bank-login")
    page.get_by_label("Scope").select_option("verify")
    page.get_by_role("button", name="Add API client…").click()
    assert "Add the API client bank-login with scope verify?" in (
        page.locator(".confirm").text_content() or "")
    page.get_by_role("button", name="Yes, add the API client").click()
    token = page.locator("#secret").text_content() or ""
    assert token.startswith("dsc_") and apiclients.authenticate(reg, token).name == "bank-login"
    shot(page, "console-api-client-token")
    page.reload()  # a reload does not show it again (the POST is not re-done, or is refused)
    assert token not in page.content()
    page.goto(site["base"] + "/console/api-clients")
    assert token not in page.content()
    page.get_by_role("row", name="bank-login").get_by_role("button", name="Revoke").click()
    page.get_by_role("button", name="Yes, revoke").click()
    assert "API client bank-login is revoked" in (page.locator(".notice").text_content() or "")
    shot(page, "console-api-clients")
    with pytest.raises(apiclients.AuthenticationError):
        apiclients.authenticate(reg, token)

    # a helpdesk operator who signs in with the card of op-hana
    page.get_by_role("link", name="Operators").click()
    page.get_by_label("Operator name").fill("hana")
    page.get_by_label("Role").select_option("helpdesk")
    page.get_by_label("Registry user of their card").fill("op-hana")
    page.get_by_role("button", name="Add operator…").click()
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    shot(page, "console-operator-add")
    page.get_by_role("button", name="Yes, add the operator").click()
    assert "Operator hana (helpdesk) added" in (page.locator(".notice").text_content() or "")
    hana = operators.active(reg, "hana")
    assert hana is not None and hana.role == "helpdesk"
    shot(page, "console-operators")

    # a hostile PSKC file: refused with the library's words, nothing changed
    before = [c.serial_number for c in reg.cards()]
    page.get_by_role("link", name="PSKC").click()
    shot(page, "console-pskc")
    hostile = tmp_path / "hostile.pskc"
    hostile.write_bytes(HOSTILE)
    page.get_by_label("PSKC file").set_input_files(str(hostile))
    page.get_by_label("File password").fill("Irrelevant-Password-1")
    page.get_by_role("button", name="Check the file…").click()
    error = page.locator(".error").text_content() or ""
    assert "a DTD (entities are not allowed)" in error and "Nothing was changed." in error
    shot(page, "console-pskc-refused")
    assert [c.serial_number for c in reg.cards()] == before
    ctx.close()

    # hana signs in with password + card, and is refused the admin pages
    hp = browser.new_context(viewport={"width": 1000, "height": 760}).new_page()
    sign_in(hp, site, "hana", card=site["hana"])
    assert hp.get_by_role("link", name="API clients").count() == 0
    for path in ("/console/api-clients", "/console/operators", "/console/pskc"):
        resp = hp.goto(site["base"] + path)
        assert resp is not None and resp.status == 403, path
        assert "needs an admin" in (hp.locator(".error").text_content() or "")
    refused = audit.entries(reg.db, action="operator.forbidden")
    assert [e.detail["wanted"] for e in refused][-3:] == ["api-clients", "operators", "pskc"]
    assert all(e.operator == "console:hana" for e in refused[-3:])
    hp.context.close()


def test_token_page_is_not_cached(page: Page, site: dict[str, Any]) -> None:
    sign_in(page, site, "ann")
    page.goto(site["base"] + "/console/api-clients")
    page.get_by_label("Client name").fill("desk")
    page.get_by_label("Scope").select_option("support")
    page.get_by_role("button", name="Add API client…").click()
    with page.expect_response(lambda r: r.url.endswith("/console/api-clients")) as answer:
        page.get_by_role("button", name="Yes, add the API client").click()
    assert answer.value.headers["cache-control"] == "no-store"
    token = page.locator("#secret").text_content() or ""
    page.goto(site["base"] + "/console/search")
    try:  # back to the token's page: no-store, so Chromium does not show it from its history
        page.go_back()
    except PlaywrightError as e:
        assert "ERR_CACHE_MISS" in str(e)
    assert token not in settled_content(page)
