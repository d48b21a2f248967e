"""The hardware tier (tests/hardware, normally skipped) run against an emulated card's pty on both
emulator runtimes, so those tests are known to work, on the MicroPython VM the firmware ships on
too, before anyone points them at a board."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from emulator import Emulator

ROOT = Path(__file__).resolve().parents[2]
SEED = bytes(range(32))
ADMIN = bytes(range(100, 132))


def _run_tier(port: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--port", port,
         str(ROOT / "tests" / "hardware")],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=env, check=False)


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
@pytest.mark.parametrize("production", [False, True], ids=["development", "production"])
def test_hardware_tier_passes_on_an_emulated_card(tmp_path: Path, production: bool,
                                                  runtime: str) -> None:
    (tmp_path / "seed.hex").write_text(SEED.hex())
    (tmp_path / "admin.hex").write_text(ADMIN.hex())
    env = dict(os.environ, DSC_HW_SEED_FILE=str(tmp_path / "seed.hex"),
               DSC_HW_ADMIN_KEY_FILE=str(tmp_path / "admin.hex"))
    with Emulator(runtime=runtime, key=SEED, admin_key=ADMIN, serial="pty",
                  production=production) as card:
        assert card.serial_url
        r = _run_tier(card.serial_url, env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "4 passed" in r.stdout, r.stdout


def test_hardware_tier_skips_without_a_port() -> None:
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        str(ROOT / "tests" / "hardware")],
                       capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "4 skipped" in r.stdout, r.stdout
