"""`dsc serve`'s app under uvicorn in a thread on 127.0.0.1, with a registry, a master admin key
and API tokens, for the soft card's browser tests; and the card holder's hands on the page."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import uvicorn
from playwright.sync_api import Page

from host_tools.admin_keys import new_master_key_file
from host_tools.web.app import Settings, create_app
from provisioning import apiclients
from provisioning.registry import Registry


class Site:
    def __init__(self, tmp: Path) -> None:
        self.db, self.key_file = str(tmp / "registry.sqlite3"), tmp / "keys" / "master.key"
        self.admin_master = tmp / "admin-master.key"
        new_master_key_file(self.admin_master)
        reg, _, _ = Registry.init(self.db, self.key_file, operator="tester")
        self.reg = reg
        self.verify_token = apiclients.add(reg, "login-server", "verify")
        self.support_token = apiclients.add(reg, "console", "support")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        app = create_app(Settings(self.db, self.key_file, token_cache_seconds=0))
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", access_log=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the service did not start")
            time.sleep(0.02)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(5)
        self.reg.close()

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.verify_token}"}


def press(page: Page, key: str, hold_ms: int = 80) -> None:
    """Press an on-screen key for `hold_ms` (the firmware debounces: 2 scans of 10 ms)."""
    b = page.locator(f'#keys button[data-key="{key}"]')
    b.dispatch_event("pointerdown")
    page.wait_for_timeout(hold_ms)
    b.dispatch_event("pointerup")
    page.wait_for_timeout(60)


def mirror(page: Page) -> str:
    return str(page.locator("#mirror").text_content() or "")


def wait_mirror(page: Page, text: str, timeout: float = 5000) -> str:
    page.wait_for_function("t => document.getElementById('mirror').textContent.includes(t)",
                           arg=text, timeout=timeout)
    return mirror(page)


def respond(page: Page, pin: str, challenge: str) -> str:
    """As a holder: hold POWER for PIN>, type the PIN, OK, the challenge, OK; the response."""
    if mirror(page):  # still showing the last response: a short press turns the card off
        press(page, "POWER", 100)
        page.wait_for_function("() => document.getElementById('mirror').textContent === ''")
    press(page, "POWER", 1200)
    wait_mirror(page, "PIN>")
    for d in pin:
        press(page, d)
    press(page, "OK")
    wait_mirror(page, "CHALLNG>")
    for d in challenge:
        press(page, d)
    press(page, "OK")
    page.wait_for_function("() => /^\\d{4} \\d{4}$/.test("
                           "document.getElementById('mirror').textContent)", timeout=5000)
    return mirror(page).replace(" ", "")


def booted(page: Page, timeout: float = 20000) -> None:
    page.wait_for_function("() => window.softcard && (window.softcard.ready || "
                           "window.softcard.error)", timeout=timeout)
    err = page.evaluate("() => window.softcard.error")
    assert err is None, err
