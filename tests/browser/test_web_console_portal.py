"""The support console and the portal end to end in Chromium, with emulated cards typed through
the emulator API: the operator signs in with password + card, finds a holder, unlocks them after
10 failures and issues a temporary passcode; the holder logs in with it, is portal-only on day 3
and can only print the security code card, then reactivates with the card; a helpdesk operator
is refused an admin action; a form posted without its CSRF token is refused."""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import Browser, Page

from emulator import Emulator
from host_tools.web.app import Settings, create_app
from provisioning import operators, support, verification
from provisioning.registry import Registry

SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"
PASSWORD = "correct horse battery"
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def typed(card: Emulator, pin: str, challenge: str) -> str:
    text = card.respond(pin, challenge)
    assert text.replace(" ", "").isdigit(), text
    return text  # as displayed, with its space: the page tolerates it


def keyed_card(reg: Registry) -> tuple[Emulator, str]:
    serial = reg.allocate_serial(SUITE, pin_len=4)
    seed = secrets.token_bytes(32)
    card = Emulator(key=seed, suite=SUITE, serial_number=serial)
    reg.confirm_provisioned(serial, seed=seed, admin_key=b"A" * 32, suite=SUITE, pin_len=4)
    return card, serial


def site_for(tmp_path_factory: pytest.TempPathFactory,
             more: Callable[[Registry], dict[str, Any]] | None = None,
             ) -> Iterator[dict[str, Any]]:
    """The served app on a fresh registry: operators ann (admin) and hal (helpdesk) answering
    with op-ann's card, alice locked after 10 failures; `more` adds to it (and to the result)."""
    tmp = tmp_path_factory.mktemp("web")
    url, key = str(tmp / "registry.sqlite3"), tmp / "master.key"
    clock = Clock()
    reg, _, _ = Registry.init(url, key, clock=clock, operator="setup")
    op_card, op_serial = keyed_card(reg)
    holder_card, holder_serial = keyed_card(reg)
    support.assign(reg, op_serial, "op-ann", "4321")
    support.activate(reg, op_serial)
    support.assign(reg, holder_serial, "alice", "1234")
    support.activate(reg, holder_serial)
    operators.add(reg, "ann", operators.ADMIN, PASSWORD, "op-ann")
    operators.add(reg, "hal", operators.HELPDESK, PASSWORD, "op-ann")
    for _ in range(10):
        ch = verification.issue_challenge(reg, "alice")
        verification.verify(reg, "alice", ch.id, "00000000")
    extra = more(reg) if more is not None else {}
    app = create_app(Settings(url, key, clock=clock))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield {"base": f"http://127.0.0.1:{port}", "op": op_card, "holder": holder_card,
               "serial": holder_serial, "clock": clock, "reg": reg, **extra}
    finally:
        server.should_exit = True
        thread.join(5)
        op_card.close()
        holder_card.close()
        reg.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    yield from site_for(tmp_path_factory)


def sign_in(page: Page, site: dict[str, Any], name: str, card: Emulator | None = None) -> None:
    page.goto(site["base"] + "/console/login")
    page.get_by_label("Operator name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    challenge = page.locator("#challenge").text_content() or ""
    page.get_by_label("Response").fill(typed(card or site["op"], "4321", challenge))
    page.get_by_role("button", name="Sign in").click()
    assert page.locator("h1").text_content() == "Search"


def shot(page: Page, name: str) -> None:
    """Saved only by `make screenshots` (DSC_SCREENSHOTS=1): a test run leaves docs/ alone."""
    if not os.environ.get("DSC_SCREENSHOTS"):
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_operator_and_holder_end_to_end(browser: Browser, site: dict[str, Any]) -> None:
    ctx = browser.new_context(viewport={"width": 1000, "height": 760}, accept_downloads=True)
    page = ctx.new_page()
    page.goto(site["base"] + "/console/login")
    shot(page, "console-login")
    sign_in(page, site, "ann")
    page.get_by_label("User name or serial number").fill("lic")
    page.get_by_role("button", name="Search").click()
    shot(page, "console-search")
    page.get_by_role("link", name="alice").click()
    assert page.locator("#status").text_content() == "locked"
    shot(page, "console-user")
    page.get_by_role("button", name="Unlock").click()
    page.get_by_role("button", name="Yes, unlock").click()
    assert page.locator("#status").text_content() == "ok"
    page.get_by_role("button", name="Issue temporary passcode").click()
    page.get_by_role("button", name="Yes, passcode").click()
    passcode = page.locator("#secret").text_content() or ""
    assert len(passcode) >= 8
    shot(page, "console-passcode")
    page.goto(site["base"] + f"/console/card/{site['serial']}")
    shot(page, "console-card")
    page.goto(site["base"] + "/console/audit")
    assert "Chain verified" in (page.locator("#chain").text_content() or "")
    shot(page, "console-audit")

    # day 3: the holder's passcode is portal-only; all they can do is print the card
    site["clock"].offset += 3 * 86400
    holder = browser.new_context(viewport={"width": 1000, "height": 760}, accept_downloads=True)
    hp = holder.new_page()
    hp.goto(site["base"] + "/portal")
    hp.get_by_label("User name").fill("alice")
    hp.get_by_role("button", name="Continue").click()
    shot(hp, "portal-devices")
    hp.get_by_label("Security device").select_option("temporary-passcode")
    hp.get_by_role("button", name="Get a challenge").click()
    hp.get_by_label("Passcode").fill(passcode)
    hp.get_by_role("button", name="Log in").click()
    assert hp.locator("h1").text_content() == "Portal only"
    assert hp.get_by_role("link", name="Change your PIN").count() == 0
    shot(hp, "portal-only")
    with hp.expect_download() as dl:
        hp.get_by_role("button", name="Print or save your online security code card (PDF)").click()
    assert Path(dl.value.path()).read_bytes()[:5] == b"%PDF-"

    # the card is back: reactivate it with a response made on it
    hp.goto(site["base"] + "/portal/reactivate")
    challenge = hp.locator("#challenge").text_content() or ""
    shot(hp, "portal-reactivate")
    hp.get_by_label("Response").fill(typed(site["holder"], "1234", challenge))
    hp.get_by_role("button", name="Reactivate").click()
    assert "active again" in (hp.locator(".notice").text_content() or "")
    assert site["reg"].card(site["serial"]).status == "active"
    holder.close()
    ctx.close()


def test_helpdesk_refused_and_csrf(page: Page, site: dict[str, Any]) -> None:
    sign_in(page, site, "hal")
    resp = page.goto(site["base"] + "/console/audit")
    assert resp is not None and resp.status == 403
    # a form posted without its token: strip it in the page, then submit
    page.goto(site["base"] + "/console/user/alice")
    page.locator("form[action$='/unlock'] input[name=csrf]").evaluate("e => e.remove()")
    with page.expect_response(lambda r: r.url.endswith("/unlock")) as posted:
        page.get_by_role("button", name="Unlock").click()
    assert posted.value.status == 403
