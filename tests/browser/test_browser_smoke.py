"""The browser tier itself: Debian's Chromium under Playwright renders and runs a page."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page


@pytest.fixture
def site() -> Iterator[str]:
    body = (b"<!doctype html><title>t</title><label for=q>PIN&gt;</label><input id=q>"
            b"<output id=o></output><script>document.getElementById('q').oninput="
            b"e=>{document.getElementById('o').textContent=e.target.value.length}</script>")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


def test_chromium_renders_and_runs_script(page: Page, site: str) -> None:
    page.goto(site)
    page.get_by_label("PIN>").fill("1234")
    assert page.locator("#o").text_content() == "4"
    assert page.screenshot()[:8] == b"\x89PNG\r\n\x1a\n"
