"""The pytest plugin works for another project: run pytest -p emulator.pytest_plugin on a
test file outside this repository's tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

OTHER_PROJECT_TEST = '''
import pytest
from dsc import ocra

@pytest.fixture
def dsc_card_key():
    return bytes(range(32))

def test_login(dsc_card, dsc_card_key):
    dsc_card.hold("POWER", 1500)
    dsc_card.type("1234"); dsc_card.press("OK")
    dsc_card.type("123456"); dsc_card.press("OK")
    want = ocra.response(dsc_card_suite_name(), dsc_card_key, "123456", pin="1234")
    assert dsc_card.screen_text() == want[:4] + " " + want[4:]

def dsc_card_suite_name():
    return "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"

def test_blank(dsc_emulator):
    card = dsc_emulator()
    card.hold("POWER", 1500)
    assert card.screen_text() == "NOT\\nPROVISIONED"
'''


def test_plugin_fixtures_in_another_project(tmp_path: Path) -> None:
    (tmp_path / "test_other.py").write_text(OTHER_PROJECT_TEST)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "emulator.pytest_plugin", "-q",
         "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(tmp_path)],
        capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
