"""The soft card in Chromium: firmware/dsc on MicroPython WebAssembly, served by dsc serve."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

sys.path.insert(0, str(Path(__file__).resolve().parent))
from softkit import Site, booted, respond

from dsc import ocra

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


def test_emulator_page_answers_like_the_card(page: Page, site: Site) -> None:
    page.goto(site.url + "/emulator")
    booted(page)
    got = respond(page, "1234", "123456")
    assert got == ocra.response(SUITE, DEMO_SEED, "123456", pin="1234")
    # the canvas shows what the firmware drew: the decoded panel RAM is the driver's frame
    frame = page.evaluate("() => JSON.parse(window.softcard.py.info()).frame")
    assert frame == page.evaluate("() => window.softcardPanel.frameHex()")
    assert set(frame) != {"0"}
