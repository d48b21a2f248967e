"""An emulated board that boots from its own flash (boot_from="flash", MicroPython runtime):
main.py and the .mpy files `dsc flash` compiled and copied are what runs after a reset; a
broken build is a card that does not answer, its traceback on the REPL, as on a board."""

from __future__ import annotations

import dataclasses
import functools
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from emulator import Emulator
from emulator.scheduler import EmulatorError
from host_tools import build, flash
from host_tools.boards import board_path
from host_tools.client import CardClient, CardTimeout
from host_tools.transport import open_transport

SEED = bytes(range(32))
ADMIN = bytes(range(32, 64))
SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"


def patched_firmware(tmp: Path, **edits: str) -> Path:
    """A copy of firmware/ with some files' text replaced ({"dsc/__init__.py": "..."})."""
    root = tmp / "firmware"
    shutil.copytree(build.FIRMWARE, root, ignore=shutil.ignore_patterns("__pycache__"))
    for name, text in edits.items():
        (root / name.replace("__", "/", 1) if "/" not in name else root / name).write_text(text)
    return root


@functools.lru_cache(maxsize=4)
def compiled(firmware: Path | None) -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        if firmware is not None:
            mp.setattr(build, "FIRMWARE", firmware)
        built = build.build_firmware(Path(tmp), "armv6m")
        return {b.target.as_posix(): (Path(tmp) / b.target).read_bytes() for b in built}


def put_build(card: Emulator, firmware: Path | None = None) -> None:
    """What `dsc flash` leaves on a pico, written straight into the card's flash."""
    if not card.flash.isdir("dsc"):
        card.flash.mkdir("dsc")
    for name, data in compiled(firmware).items():
        card.flash.write(name, data)
    card.flash.write("board.py", board_path("pico").read_bytes())


def typed_login(card: Emulator, pin: str, challenge: str) -> str:
    card.hold("POWER", 1500)
    assert card.screen_text() == "PIN>"
    card.type(pin)
    card.press("OK")
    card.type(challenge)
    card.press("OK")
    return card.screen_text().replace(" ", "")


def test_source_tree_is_the_default_and_flash_needs_micropython() -> None:
    with Emulator() as card:
        assert card.boot_from == "source"
    with pytest.raises(EmulatorError, match="needs runtime='micropython'"):
        Emulator(boot_from="flash")
    with pytest.raises(EmulatorError, match="use source or flash"):
        Emulator(runtime="micropython", boot_from="rom")


def test_a_board_boots_what_its_flash_holds() -> None:
    from dsc import ocra

    with Emulator(runtime="micropython", boot_from="flash") as card:
        assert card.boot_from == "flash"
        # Nothing flashed yet: no main.py, the board sits at its REPL and answers no frame.
        assert card.board.serial.host_read().endswith(
            b'Type "help()" for more information.\r\n>>> ')
        with pytest.raises(CardTimeout):
            CardClient(card.transport(), timeout=0.5, retries=0).info()
        with tempfile.TemporaryDirectory() as tmp:
            put_build(card, patched_firmware(Path(tmp), **{
                "dsc/__init__.py": 'VERSION = "0.1.0+flashed"\n'}))
        card.reboot()
        client = CardClient(card.transport())
        info = client.info()
        assert info.firmware == "0.1.0+flashed"  # the source tree says 0.1.0: this is the flash
        client.provision("DSC00000042", SUITE, SEED, ADMIN)
        card.advance(50)
        assert typed_login(card, "1234", "123456") == ocra.response(SUITE, SEED, "123456",
                                                                   pin="1234")
        # A module of the flashed build is damaged: main.py's import fails, as on a board.
        card.flash.write("dsc/card.mpy", b"not an mpy file")
        card.reboot()
        said = card.board.serial.host_read().decode()
        assert said.startswith('Traceback (most recent call last):\r\n  File "main.py", line ')
        assert '  File "dsc/app.py", line ' in said  # the module's name on the board
        assert "ValueError: incompatible .mpy file\r\nMicroPython v" in said
        assert said.endswith(">>> ")
        with pytest.raises(CardTimeout):
            CardClient(card.transport(), timeout=0.5, retries=0).info()
        shown = card.screen_text()  # the display keeps its RAM across the reset...
        card.hold("POWER", 1500)
        card.advance(120000)
        assert card.screen_text() == shown  # ...and no firmware runs the keypad or the timeouts


@pytest.mark.slow
def test_dsc_flash_then_reset_runs_the_flashed_build_and_a_broken_one_fails(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from dsc import ocra

    from host_tools.cli import main

    with Emulator(runtime="micropython", boot_from="flash", serial="pty",
                  bounce_ms=2) as card:
        port = card.serial_url
        assert port
        t0 = time.monotonic()
        p = subprocess.run([sys.executable, "-m", "host_tools", "flash", "--board", "pico",
                            "--port", port, "--json", "--timeout", "15"],
                           capture_output=True, text=True, timeout=120, check=False)
        flash_s = time.monotonic() - t0
        assert p.returncode == 0, p.stderr
        out = json.loads(p.stdout)
        assert (out["board"], out["firmware"], out["provisioned"]) == ("pico", "0.1.0", False)
        assert card.flash.read("main.py") == (build.FIRMWARE / "main.py").read_bytes()
        assert card.flash.read("dsc/app.mpy", ) is not None and card.flash.read("dsc/app.py") is None
        card.reboot()  # reset: the card runs what was flashed, and logs in
        with CardClient(open_transport(port)) as client:
            assert client.info().firmware == "0.1.0"
            client.provision("DSC00000043", SUITE, SEED, ADMIN)
        assert typed_login(card, "2580", "424242") == ocra.response(SUITE, SEED, "424242",
                                                                   pin="2580")
        # The same copy of a build that says it is another version: INFO shows the flashed one.
        monkeypatch.setattr(build, "FIRMWARE", patched_firmware(tmp_path / "v", **{
            "dsc/__init__.py": 'VERSION = "0.1.0+flashed"\n'}))
        plan = dataclasses.replace(flash.make_plan("pico", False), version="0.1.0+flashed")
        flash.copy_to_board(plan, port)
        assert flash.confirm(port, plan, timeout=15).firmware == "0.1.0+flashed"
        # A broken build: `dsc flash` copies it, and the card does not answer after the reset.
        broken = patched_firmware(tmp_path / "b")
        with (broken / "dsc" / "service.py").open("a") as f:
            f.write("\nundefined_name_at_import\n")
        monkeypatch.setattr(build, "FIRMWARE", broken)
        capsys.readouterr()
        assert main(["flash", "--board", "pico", "--port", port, "--timeout", "2"]) == 1
        err = capsys.readouterr().err
        assert "did not answer INFO" in err and len(err.strip().splitlines()) == 1, err
        card.reboot()  # and its REPL shows why, as a board's would
        with open_transport(port) as t:
            said = b""
            for _ in range(40):
                said += t.receive(0.1)
                if said.endswith(b">>> "):
                    break
        text = said.decode(errors="replace")
        assert 'File "main.py", line ' in text
        assert "NameError: name 'undefined_name_at_import' isn't defined" in text
        assert text.endswith(">>> ")
    assert flash_s < 60


def test_cli_says_which_firmware_a_card_runs(tmp_path: Path) -> None:
    base = [sys.executable, "-m", "host_tools", "emulator", "--headless", "--serial", "tcp"]
    p = subprocess.run([*base, "--boot-from", "flash"], capture_output=True, text=True,
                       timeout=30, check=False)
    assert p.returncode == 2 and "--boot-from flash needs --runtime micropython" in p.stderr
    proc = subprocess.Popen([*base, "--runtime", "micropython", "--boot-from", "flash",
                             "--state", str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "running headless, booting from its flash (main.py)" in line, line
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_ctrl_c_stops_the_flashed_main_and_ctrl_d_runs_it_again() -> None:
    with Emulator(runtime="micropython", boot_from="flash") as card:
        put_build(card)
        card.reboot()
        card.board.serial.host_read()  # the blank flash's REPL banner from the first boot
        t = card.transport()
        t.send(b"\x03")
        said = t.receive(0.5)
        assert said.startswith(b"Traceback (most recent call last):\r\n") and \
            said.endswith(b">>> ")
        # REPL code runs in the VM the flashed firmware ran in: its modules came from the flash.
        t.send(b"import sys; print(sys.path, sys.modules['dsc.app'].__file__)\r")
        assert b"['/dsc', '/dsc/lib'] /dsc/dsc/app.mpy\r\n>>> " in t.receive(0.5)
        t.send(b"\x04")
        assert t.receive(0.5).endswith(b"MPY: soft reboot\r\n")
        assert CardClient(card.transport()).info().firmware == "0.1.0"
