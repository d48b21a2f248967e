"""End to end: the `dsc card` CLI, as a subprocess, against an emulated card's serial port (a
pty) on both emulator runtimes. A blank card is provisioned, tested, inspected, locked and
wiped; re-provisioning without its admin key fails and changes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from dsc import ocra

from emulator import Emulator

SEED = bytes(range(1, 33))
ADMIN = bytes(range(0x40, 0x60))
SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"


def dsc(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "host_tools", "card", *argv],
                          capture_output=True, text=True, timeout=60, check=False)


def ok(*argv: str) -> dict[str, object]:
    p = dsc(*argv, "--json")
    assert p.returncode == 0, p.stderr
    result: dict[str, object] = json.loads(p.stdout)
    return result


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_card_life_cycle_over_serial(runtime: str, tmp_path: Path) -> None:
    seed, admin, wrong = tmp_path / "seed.hex", tmp_path / "admin.hex", tmp_path / "wrong.hex"
    seed.write_text(SEED.hex())
    admin.write_text(ADMIN.hex() + "\n")
    wrong.write_text("11" * 32)
    with Emulator(runtime=runtime, serial="pty") as card:
        port = card.serial_url
        assert port
        assert ok("info", "--port", port)["provisioned"] is False
        assert ok("provision", "--port", port, "--serial-number", "DSC00000777",
                  "--key-file", str(seed), "--admin-key-file", str(admin))["confirmed"] is True
        got = ok("test", "--port", port, "--challenge", "424242", "--pin", "2468",
                 "--admin-key-file", str(admin))
        assert got["response"] == ocra.response(SUITE, SEED, "424242", pin="2468")
        info = ok("info", "--port", port)
        assert (info["serial_number"], info["suite"], info["locked"]) == \
            ("DSC00000777", SUITE, False)
        before = card.flash.snapshot()

        # Re-provisioning without the admin key: refused, nothing changes.
        p = dsc("provision", "--port", port, "--serial-number", "EVIL", "--key-file", str(seed),
                "--admin-key-file", str(wrong))
        assert p.returncode == 1 and "wrong admin key" in p.stderr and p.stdout == ""
        assert ok("info", "--port", port)["serial_number"] == "DSC00000777"
        assert card.flash.snapshot() == before
        got2 = ok("test", "--port", port, "--challenge", "424242", "--pin", "2468",
                  "--admin-key-file", str(admin))
        assert got2["response"] == got["response"]

        assert ok("lock", "--port", port, "--admin-key-file", str(admin))["locked"] is True
        assert ok("info", "--port", port)["locked"] is True
        assert ok("wipe", "--port", port, "--admin-key-file", str(admin))["wiped"] is True
        assert ok("info", "--port", port)["provisioned"] is False
