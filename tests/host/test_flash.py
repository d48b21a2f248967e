"""`dsc flash` without hardware: the MicroPython unix port behind a pty is the board.

tests/host/mp_board.py speaks mpremote's raw REPL with a temporary directory as the board's
filesystem; `dsc flash` compiles, copies and resets; the "board" then runs the flashed main.py
from that directory, and `dsc flash` confirms with INFO over the service protocol.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from mpvm import micropython_unix

from host_tools import flash
from host_tools.boards import load_board
from host_tools.build import FIRMWARE

SHIM = Path(__file__).resolve().parent / "mp_board.py"


class Board:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        master, slave = os.openpty()
        self.port = os.ttyname(slave)
        # Keep a slave fd open all along: the master then never sees a hang-up between
        # mpremote closing the port and the INFO check opening it.
        self._slave = slave
        self.proc = subprocess.Popen([micropython_unix(), str(SHIM)], cwd=directory, stdin=master,
                                     stdout=master, stderr=subprocess.PIPE)
        os.close(master)

    def close(self) -> str:
        self.proc.kill()
        _, err = self.proc.communicate(timeout=10)
        os.close(self._slave)
        return err.decode(errors="replace")


@pytest.fixture
def board(tmp_path: Path) -> Iterator[Board]:
    b = Board(tmp_path)
    yield b
    b.close()


def dsc_flash(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "host_tools", "flash", *argv],
                          capture_output=True, text=True, timeout=120, check=False)


def test_flash_development_build(board: Board) -> None:
    p = dsc_flash("--board", "pico", "--port", board.port, "--json", "--timeout", "15")
    assert p.returncode == 0, p.stderr + board.close()
    out = json.loads(p.stdout)
    assert out["board"] == "pico" and out["locked"] is False and out["provisioned"] is False
    d = board.dir
    assert (d / "main.py").read_bytes() == (FIRMWARE / "main.py").read_bytes()
    assert (d / "board.py").read_bytes() == (FIRMWARE.parent / "boards" / "pico.py").read_bytes()
    assert not (d / "build_config.py").exists()
    mpys = sorted(p.name for p in (d / "dsc").iterdir())
    assert "service.mpy" in mpys and "protocol.mpy" in mpys and not any(
        n.endswith(".py") for n in mpys)
    # The firmware that runs is the flashed one: it answers INFO again over the same port.
    from host_tools.client import CardClient
    from host_tools.transport import open_transport
    with CardClient(open_transport(board.port)) as client:
        assert client.info().firmware == out["firmware"]


def test_flash_production_build(board: Board) -> None:
    (board.dir / "dsc").mkdir()
    (board.dir / "dsc" / "ocra.py").write_text("raise ImportError('stale source')\n")
    p = dsc_flash("--board", "pico", "--port", board.port, "--production", "--timeout", "15")
    assert p.returncode == 0, p.stderr + board.close()
    assert "production (locked)" in p.stdout
    assert (board.dir / "build_config.py").read_bytes() == flash.PRODUCTION_CONFIG
    assert not (board.dir / "dsc" / "ocra.py").exists()  # stale source removed


def test_dry_run_touches_nothing(tmp_path: Path) -> None:
    p = dsc_flash("--board", "pico2", "--port", "/dev/nonexistent", "--dry-run", "--production")
    assert p.returncode == 0, p.stderr
    arch = load_board("pico2")["mpy_arch"]
    assert p.stdout.startswith(f"flash pico2 (mpy-cross -march={arch}) on /dev/nonexistent as a "
                               "PRODUCTION build:")
    assert "copy   build_config.py" in p.stdout and "copy   dsc/service.mpy" in p.stdout
    p = dsc_flash("--board", "pico", "--port", "x", "--dry-run", "--json")
    plan = json.loads(p.stdout)
    assert plan["dry_run"] and "build_config.py" in plan["remove"]
    assert {"main.py", "board.py", "dsc/protocol.mpy"} <= {f["target"] for f in plan["files"]}


def test_flash_errors_are_one_line() -> None:
    p = dsc_flash("--board", "pico", "--port", "/dev/nonexistent-tty")
    assert p.returncode == 1 and p.stderr.startswith("dsc: error: cannot open /dev/nonexistent")
    assert p.stderr.count("\n") == 1
    p = dsc_flash("--board", "nosuchboard", "--port", "x", "--dry-run")
    assert p.returncode == 2 and "unknown board" in p.stderr



def test_port_that_does_not_answer(monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    # A pty with nothing behind it: mpremote alone would wait forever on it.
    from host_tools.cli import main
    monkeypatch.setattr(flash, "REPL_TIMEOUT", 1.0)
    monkeypatch.setattr(flash, "READ_TIMEOUT", 0.3)
    master, slave = os.openpty()
    port = os.ttyname(slave)
    codes: list[int] = []
    run = threading.Thread(target=lambda: codes.append(
        main(["flash", "--board", "pico", "--port", port, "--json"])), daemon=True)
    try:
        run.start()
        run.join(30)  # a hang fails here instead of blocking the test run
        assert not run.is_alive(), "dsc flash hangs on a port that does not answer"
    finally:
        os.close(master)
        os.close(slave)
    out, err = capsys.readouterr()
    assert codes == [1] and out == "" and err.count("\n") == 1  # nothing from mpremote on stdout
    error = json.loads(err)  # --json: the error is JSON too, with the same exit status
    assert error["exit_status"] == 1
    assert error["error"] == (f"nothing answers on {port}: no MicroPython on the board? "
                              "A blank board needs MicroPython first (docs/first-flash.md)")


def test_confirm_wants_the_version_just_flashed() -> None:
    # An old firmware that still answers (the copy did not take) is not a confirmation.
    import dsc
    from fakes import Card, CardTransport
    plan = flash.Plan("pico", "armv6m", False, (), version="0.0.1-old")
    with pytest.raises(flash.FlashError, match=f"runs firmware {dsc.VERSION}, not the "
                                               r"0.0.1-old just copied"):
        flash.confirm("fake", plan, timeout=2, opener=lambda port, baud: CardTransport(Card()))
    assert flash.confirm("fake", flash.Plan("pico", "armv6m", False, ()), timeout=2,
                         opener=lambda port, baud: CardTransport(Card())).board == "pico"


def test_dev_build_removes_a_compiled_production_switch() -> None:
    plan = flash.make_plan("pico", production=False)
    removed = {s.target for s in plan.steps if s.data is None}
    assert {"build_config.py", "build_config.mpy", "dsc/ocra.py"} <= removed


def test_production_pyboard_stops_offering_its_flash_as_a_usb_drive() -> None:
    prod = {s.target: s.data for s in flash.make_plan("pyboard", production=True).steps}
    assert prod["boot.py"] == b'import pyb\npyb.usb_mode("VCP")\n'
    dev = {s.target: s.data for s in flash.make_plan("pyboard", production=False).steps}
    assert "boot.py" not in dev  # a development build keeps the board's own boot.py
    pico = {s.target for s in flash.make_plan("pico", production=True).steps}
    assert "boot.py" not in pico  # no USB drive to hide on the Pico


def test_discovery_knows_the_production_pyboard_usb_id() -> None:
    from host_tools.discovery import usb_ids
    ids = usb_ids()
    assert ids[(0xF055, 0x9800)] == ("pyboard",)
    assert ids[(0xF055, 0x9802)] == ("pyboard",)


def test_firmware_files_judge_the_path_inside_firmware(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A checkout in a directory named `softcard` still builds firmware/dsc; only
    firmware/softcard (the browser HAL) stays out."""
    from host_tools import build
    fw = tmp_path / "softcard" / "firmware"
    for rel in ("main.py", "dsc/app.py", "softcard/hal_browser.py", "dsc/__pycache__/x.py"):
        (fw / rel).parent.mkdir(parents=True, exist_ok=True)
        (fw / rel).write_text("")
    monkeypatch.setattr(build, "FIRMWARE", fw)
    assert [p.relative_to(fw).as_posix() for p in build.firmware_files()] == \
        ["dsc/app.py", "main.py"]
