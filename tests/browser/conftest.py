"""Browser fixtures: one Chromium per test module, a fresh context (profile) per test."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from browserkit import chromium, chromium_path
from playwright.sync_api import Browser, Page


# One Chromium per test module, not per session: while Playwright's sync API is running, the
# thread has a running event loop, and later tests that call asyncio.run (test_service_listen)
# would fail when they share the pytest process with a session-wide browser.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if chromium_path() is None and not os.environ.get("CI"):
        pytest.skip("no Chromium here: `make test` installs Debian's chromium package")
    with chromium() as b:  # in CI a missing browser fails: the tests must run there
        yield b


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1000, "height": 760})
    try:
        yield context.new_page()
    finally:
        context.close()
