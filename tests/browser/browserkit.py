"""Chromium from Debian's packages, driven by Playwright for Python (no browser download).

`make test` installs the `chromium` package (scripts/system-deps.sh) and the pinned Playwright
(requirements/dev.txt). The browser runs headless with a fresh profile and no background
networking: this machine reaches nothing but loopback.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

CHROMIUM = os.environ.get("DSC_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"]


def chromium_path() -> str | None:
    """The system Chromium, or None when the machine has none."""
    return CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")


@contextmanager
def chromium() -> Iterator[Browser]:
    exe = chromium_path()
    if exe is None:
        raise RuntimeError("no Chromium: `make test` installs Debian's chromium package "
                           "(scripts/system-deps.sh)")
    with sync_playwright() as pw:  # each context Playwright opens is a fresh, empty profile
        browser = pw.chromium.launch(executable_path=exe, args=FLAGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
