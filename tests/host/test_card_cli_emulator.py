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


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_provisioning_a_time_suite_sets_the_cards_clock(runtime: str, tmp_path: Path) -> None:
    import time

    suite = "OCRA-1:HOTP-SHA256-8:QN06-T1M"
    seed, admin = tmp_path / "seed.hex", tmp_path / "admin.hex"
    seed.write_text(SEED.hex())
    admin.write_text(ADMIN.hex())
    # A board whose RTC nobody set, 13 hours off once it is: provisioning must set it.
    with Emulator(runtime=runtime, serial="pty", rtc_set=False, bounce_ms=2) as card:
        port = card.serial_url
        assert port
        assert ok("provision", "--port", port, "--serial-number", "DSC00000778", "--suite",
                  suite, "--key-file", str(seed), "--admin-key-file", str(admin))["confirmed"]
        clock = card.board.unix_time()
        assert clock is not None and abs(clock - time.time()) <= 2
        card.board.set_unix_time(int(time.time()) - 13 * 3600)
        got = ok("set-time", "--port", port, "--admin-key-file", str(admin))
        assert got["serial_number"] == "DSC00000778"
        assert isinstance(got["drift_s"], int) and abs(got["drift_s"] + 13 * 3600) <= 2
        card.hold("POWER", 1500)
        assert card.screen_text() == "CHALLNG>"
        card.type("123456")
        card.press("OK")
        response = card.screen_text().replace(" ", "")
        step = int(time.time()) // 60
        assert response in {ocra.response(suite, SEED, "123456", timestamp=s)
                            for s in (step - 1, step)}
        p = dsc("set-time", "--port", port, "--admin-key-file", str(admin))
        assert p.returncode == 0 and "set the clock of DSC00000778 to " in p.stdout
        assert "(it was right)" in p.stdout or " s ahead)" in p.stdout or " s behind)" in p.stdout
        assert ADMIN.hex() not in p.stdout + p.stderr
