"""The soft card in Chromium: firmware/dsc on MicroPython WebAssembly, served by dsc serve."""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dsc import ocra
from softkit import Site, booted, respond

from emulator.api import Emulator
from host_tools.admin_keys import derive_admin_key, read_master_key
from host_tools.client import CardClient
from provisioning import operators, provisioner, support

ROOT = Path(__file__).resolve().parents[2]
SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"
DEMO_SEED = b"12345678901234567890123456789012"


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    s = Site(tmp_path)
    monkeypatch.setenv("DSC_ADMIN_MASTER_KEY_FILE", str(s.admin_master))
    try:
        yield s
    finally:
        s.close()



def _portal_login(browser: Browser, site: Site, soft: str, card: Page) -> None:
    """alice logs in through the portal in a tab of her own, choosing the soft card `soft` and
    typing the response the soft card page `card` shows for her PIN and the challenge."""
    portal = browser.new_context(viewport={"width": 1000, "height": 760}).new_page()
    try:
        portal.goto(site.url + "/portal")
        portal.get_by_label("User name").fill("alice")
        portal.get_by_role("button", name="Continue").click()
        portal.get_by_label("Security device").select_option(soft)
        portal.get_by_role("button", name="Get a challenge").click()
        challenge = str(portal.locator("#challenge").text_content())
        portal.get_by_label("Response").fill(respond(card, "1234", challenge))
        portal.get_by_role("button", name="Log in").click()
        assert portal.url.endswith("/portal/home"), portal.url
        assert "Welcome, alice" in str(portal.locator("h1").text_content())
    finally:
        portal.context.close()

def test_emulator_page_answers_like_the_card(page: Page, site: Site) -> None:
    page.goto(site.url + "/emulator")
    booted(page)
    got = respond(page, "1234", "123456")
    assert got == ocra.response(SUITE, DEMO_SEED, "123456", pin="1234")
    # the canvas shows what the firmware drew: the decoded panel RAM is the driver's frame
    frame = page.evaluate("() => JSON.parse(window.softcard.py.info()).frame")
    assert frame == page.evaluate("() => window.softcardPanel.frameHex()")
    assert set(frame) != {"0"}


def _dsc_card(site: Site) -> tuple[Emulator, str]:
    """An emulated DSC+ card, provisioned over its service protocol and active for alice."""
    emu = Emulator()
    master = read_master_key(site.admin_master)
    done = provisioner.provision_one(site.reg, CardClient(emu.transport()), master,
                                     derive_admin_key, provisioner.Options())
    support.assign(site.reg, done.serial_number, "alice", "1234")
    support.activate(site.reg, done.serial_number)
    return emu, done.serial_number


def _emu_response(emu: Emulator, pin: str, challenge: str) -> str:
    return emu.respond(pin, challenge).replace(" ", "")


def _challenge(site: Site, **body: object) -> httpx.Response:
    return httpx.post(site.url + "/v1/challenges", json={"user": "alice", **body},
                      headers=site.headers(), timeout=10)


def _respond(site: Site, cid: str, response: str) -> dict[str, Any]:
    r = httpx.post(f"{site.url}/v1/challenges/{cid}/response", json={"response": response},
                   headers=site.headers(), timeout=10)
    return dict(r.json())


def test_activate_log_in_limits_reuse_reload_and_firmware_hashes(page: Page, site: Site,
                                                                 browser: Browser) -> None:
    emu, dsc_serial = _dsc_card(site)
    try:
        # support creates the soft card: a one-time code, its URL and the QR code of the URL
        r = httpx.post(site.url + "/v1/support/softcards", json={"user": "alice"},
                       headers=site.headers(site.support_token), timeout=10)
        assert r.status_code == 201, r.text
        act = r.json()
        assert act["url"].endswith("#code=" + act["code"]) and act["qr_svg"].startswith("<svg")
        served: dict[str, bytes] = {}
        page.on("response", lambda resp: served.__setitem__(resp.url, resp.body())
                if "/softcard/firmware/" in resp.url else None)

        page.goto(act["url"])
        booted(page)
        page.wait_for_function("() => window.softcard.activation && "
                               "window.softcard.activation.state !== 'running'", timeout=30000)
        state = page.evaluate("() => window.softcard.activation")
        assert state["state"] == "active", state
        soft = state["serial"]

        # M2FS: both devices listed, each with its type and limit
        devs = httpx.get(site.url + "/v1/users/alice/devices", headers=site.headers(),
                         timeout=10).json()["devices"]
        kinds = {d["device"]: (d["device_type"], d["status"], d["withdrawal_limit"])
                 for d in devs}
        assert kinds[soft] == ("softcard", "active", 1_000_000)
        assert kinds[dsc_serial] == ("dsc-card", "active", None)

        # log in with the soft card: the response read off its DOM mirror
        ch = _challenge(site, device=soft).json()
        got = respond(page, "1234", ch["challenge"])
        assert _respond(site, ch["id"], got)["status"] == "accepted"

        # log in through the portal with the soft card (the holder's two tabs)
        _portal_login(browser, site, soft, page)

        # a withdrawal above its limit: refused with it, accepted with the DSC+ card
        r = _challenge(site, device=soft, purpose="withdrawal", amount=2_000_000)
        assert r.status_code == 403 and r.json()["reason"] == "device-limit"
        ch = _challenge(site, device=dsc_serial, purpose="withdrawal", amount=2_000_000).json()
        body = _respond(site, ch["id"], _emu_response(emu, "1234", ch["challenge"]))
        assert (body["status"], body["device_type"]) == ("accepted", "dsc-card")

        # the code works once: a second page with it is refused, and the refusal is logged
        other = browser.new_context().new_page()
        other.goto(act["url"])
        booted(other)
        other.wait_for_function("() => window.softcard.activation && "
                                "window.softcard.activation.state === 'refused'", timeout=10000)
        assert "not valid" in str(other.locator("#status").text_content())
        other.context.close()
        refused = site.reg.db.all("SELECT detail FROM audit WHERE action = 'softcard-code' "
                                  "AND outcome = 'refused'")
        assert refused and "used" in str(refused[-1]["detail"])

        # reload: the card still holds its record (IndexedDB, encrypted) and still answers
        page.reload()
        booted(page)
        assert soft in str(page.locator("#status").text_content())
        ch = _challenge(site, device=soft).json()
        assert _respond(site, ch["id"], respond(page, "1234", ch["challenge"]))["status"] == \
            "accepted"
    finally:
        emu.close()

    # the firmware the page ran is byte for byte the project's firmware/dsc
    want = {f"dsc/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest()
            for p in (ROOT / "firmware" / "dsc").glob("*.py")}
    got_served = {url.split("/softcard/firmware/")[1]: hashlib.sha256(b).hexdigest()
                  for url, b in served.items()}
    assert {k: v for k, v in got_served.items() if k.startswith("dsc/")} == want
    booted_hashes = {f["path"]: f["sha256"] for f in page.evaluate("() => window.softcard.firmware")}
    assert {k: v for k, v in booted_hashes.items() if k.startswith("dsc/")} == want


def test_activation_with_the_code_typed_in(page: Page, site: Site) -> None:
    support.assign(site.reg, _registry_card(site), "alice", "1234")
    r = httpx.post(site.url + "/v1/support/softcards", json={"user": "alice"},
                   headers=site.headers(site.support_token), timeout=10)
    code = r.json()["code"]
    page.goto(site.url + "/softcard")
    booted(page)
    assert "Not activated" in str(page.locator("#status").text_content())
    page.get_by_label("Activation code").fill(code.lower().replace("-", " "))
    page.get_by_role("button", name="Activate").click()
    page.wait_for_function("() => window.softcard.activation && "
                           "window.softcard.activation.state !== 'running'", timeout=30000)
    state = page.evaluate("() => window.softcard.activation")
    assert state["state"] == "active", state
    assert site.reg.card(state["serial"]).board == "soft"


def _registry_card(site: Site) -> str:
    serial = site.reg.allocate_serial(SUITE)
    site.reg.confirm_provisioned(serial, seed=b"K" * 32, admin_key=b"A" * 32, suite=SUITE)
    return serial


def test_console_creates_the_soft_card_the_phone_activates_and_logs_in_with(
        page: Page, site: Site, browser: Browser, tmp_path: Path) -> None:
    """A helpdesk operator creates alice's soft card in the console; the code is read off that
    page and typed on the soft card page (another browser profile: the phone); alice then logs
    in through the portal with the soft card."""
    op_seed = bytes(range(32))
    op_card = site.reg.allocate_serial(SUITE)
    site.reg.confirm_provisioned(op_card, seed=op_seed, admin_key=b"A" * 32, suite=SUITE)
    support.assign(site.reg, op_card, "op-hal", "4321")
    support.activate(site.reg, op_card)
    operators.add(site.reg, "hal", operators.HELPDESK, "correct horse battery", "op-hal")
    support.assign(site.reg, _registry_card(site), "alice", "1234")  # alice's PIN

    page.goto(site.url + "/console/login")
    page.get_by_label("Operator name").fill("hal")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Continue").click()
    challenge = str(page.locator("#challenge").text_content())
    page.get_by_label("Response").fill(ocra.response(SUITE, op_seed, challenge, pin="4321"))
    page.get_by_role("button", name="Sign in").click()
    page.goto(site.url + "/console/user/alice")
    page.get_by_role("button", name="Create soft card").click()
    page.get_by_role("button", name="Yes, create it").click()
    assert page.locator("h1").text_content() == "Soft card for alice"
    assert page.locator("#qr svg").count() == 1
    code = str(page.locator("#activation-code").text_content()).strip()
    page.screenshot(path=str(tmp_path / "console-softcard.png"), full_page=True)
    if os.environ.get("DSC_SCREENSHOTS"):
        page.screenshot(path=str(ROOT / "docs" / "screenshots" / "console-softcard.png"),
                        full_page=True)
    issued = site.reg.db.all("SELECT operator FROM audit WHERE action = 'softcard-code' AND "
                             "outcome = 'issued'")
    assert [r["operator"] for r in issued] == ["console:hal"]

    phone = browser.new_context(viewport={"width": 420, "height": 760}).new_page()
    try:
        phone.goto(site.url + "/softcard")
        booted(phone)
        phone.get_by_label("Activation code").fill(code)
        phone.get_by_role("button", name="Activate").click()
        phone.wait_for_function("() => window.softcard.activation && "
                                "window.softcard.activation.state !== 'running'", timeout=30000)
        state = phone.evaluate("() => window.softcard.activation")
        assert state["state"] == "active", state
        soft = state["serial"]
        assert site.reg.card(soft).board == "soft"

        _portal_login(browser, site, soft, phone)
    finally:
        phone.context.close()
