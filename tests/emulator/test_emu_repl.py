"""The emulated card's serial port as a dev board's: Ctrl-C reaches MicroPython's REPL.

Real `mpremote` against the card's pty on both runtimes (exec, fs ls/cp/cat/rm, reset back
into the firmware), the REPL's bytes as pyexec.c sends them (in virtual time, through the
in-process transport), a production or LOCKed card that ignores Ctrl-C, and the card's
filesystem as REPL code sees it (CardFs, Flash directories).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial

from emulator import Emulator
from emulator.cardfs import CardFs
from emulator.flashmem import Flash, FlashMemError, PowerCut
from emulator.repl import FIRMWARE, RAW, RAW_PASTE_WINDOW
from emulator.serialport import InProcessTransport
from host_tools.client import CardClient
from host_tools.transport import open_transport

RUNTIMES = ("cpython", "micropython")
KEY = bytes(range(32))
ADMIN = bytes(range(100, 132))
RAW_PROMPT = b"raw REPL; CTRL-B to exit\r\n>"
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pty on Linux")


def mpremote(port: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mpremote", "connect", port, *args],
                          capture_output=True, text=True, timeout=60, check=False)


def chat(t: InProcessTransport, data: bytes, quiet: float = 0.2) -> bytes:
    """Send, then collect what the card answers until it has been quiet for `quiet` s."""
    t.send(data)
    out = b""
    while chunk := t.receive(quiet):
        out += chunk
    return out


def read_until(port: serial.Serial, end: bytes, timeout: float = 10) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while not data.endswith(end) and time.monotonic() < deadline:
        data += port.read(port.in_waiting or 1)
    assert data.endswith(end), data
    return data


# --- real mpremote over the pty ---

@linux_only
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_mpremote_exec_and_files_then_back_to_the_card(runtime: str, tmp_path: Path) -> None:
    local = tmp_path / "hello.txt"
    local.write_bytes(b"hello card\n")
    state = tmp_path / "state"
    with Emulator(runtime=runtime, key=KEY, admin_key=ADMIN, serial="pty", state_dir=state,
                  bounce_ms=2) as card:
        port = card.serial_url
        assert port is not None
        p = mpremote(port, "exec", "print(1+1)", "+", "fs", "ls", "+",
                     "fs", "cp", str(local), ":hello.txt", "+", "fs", "cat", ":hello.txt")
        assert p.returncode == 0, p.stderr
        lines = p.stdout.splitlines()
        assert lines[0] == "2" and "ls :" in lines and "hello card" in lines
        assert any(ln.split() == ["138", "record"] for ln in lines), p.stdout  # the card's record
        assert card.flash.read("hello.txt") == b"hello card\n"
        assert (state / "flash" / "hello.txt").read_bytes() == b"hello card\n"
        assert card.scheduler.console.mode != FIRMWARE  # mpremote leaves the friendly REPL

        boots = card.scheduler.boots
        p = mpremote(port, "fs", "rm", ":hello.txt", "+", "fs", "ls", "+", "reset")
        assert p.returncode == 0, p.stderr
        assert "hello.txt" not in p.stdout.split("rm :hello.txt")[1]
        assert card.flash.read("hello.txt") is None and not (state / "flash" / "hello.txt").exists()
        with CardClient(open_transport(port)) as client:  # machine.reset(): the firmware is back
            info = client.info()
        assert info.provisioned and not info.locked
        assert card.scheduler.boots == boots + 1 and card.scheduler.console.mode == FIRMWARE

        interrupt_running_code_then_soft_reset(port)
        with CardClient(open_transport(port)) as client:
            assert client.info().serial_number == "DSC00000001"
        card.hold("POWER", 1100)  # the keypad works again
        assert card.screen_text() == "PIN>"


def interrupt_running_code_then_soft_reset(port: str) -> None:
    with serial.Serial(port, timeout=0.05) as s:
        s.write(b"\x03")
        read_until(s, b">>> ")
        s.write(b"\x01")
        read_until(s, RAW_PROMPT)
        s.write(b"while True:\n    pass\n\x04")
        assert read_until(s, b"OK").endswith(b"OK")
        time.sleep(0.2)
        s.write(b"\x03")  # Ctrl-C while the code runs: KeyboardInterrupt, as on a board
        out = read_until(s, b"\x04>")
        assert b"KeyboardInterrupt" in out and out.startswith(b"\x04")
        s.write(b"\x02")  # friendly REPL, then Ctrl-D: a soft reset runs the firmware again
        read_until(s, b">>> ")
        s.write(b"\x04")
        read_until(s, b"MPY: soft reboot\r\n")


@linux_only
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_production_card_ignores_ctrl_c_on_its_port(runtime: str) -> None:
    with Emulator(runtime=runtime, key=KEY, admin_key=ADMIN, serial="pty",
                  production=True) as card:
        assert card.serial_url is not None and card.board.repl_locked
        with serial.Serial(card.serial_url, timeout=0.3) as s:
            s.write(b"\r\x03\r\x01")
            assert s.read(100) == b""  # no traceback, no banner, no raw REPL
        assert card.scheduler.console.mode == FIRMWARE and card.scheduler.console.interrupts == 0
        with CardClient(open_transport(card.serial_url)) as client:
            assert client.info().locked


# --- the REPL's bytes, in virtual time ---

@pytest.mark.parametrize("runtime", RUNTIMES)
def test_raw_repl_bytes(runtime: str) -> None:
    with Emulator(runtime=runtime, key=KEY) as card:
        t = card.transport()
        out = chat(t, b"\r\x03")
        assert out.startswith(b"Traceback (most recent call last):\r\n")
        assert b"KeyboardInterrupt: \r\n" in out and out.endswith(b"\r\n>>> ")
        assert b"Raspberry Pi Pico (RP2040) (OpenDSC emulator)\r\n" in out
        assert chat(t, b"\x01") == b"\r\n" + RAW_PROMPT
        assert chat(t, b"print(6*7)\x04") == b"OK42\r\n\x04\x04>"
        out = chat(t, b"import os\nos.remove('missing')\x04")
        assert out.startswith(b"OK\x04Traceback (most recent call last):\r\n")
        assert out.endswith(b"OSError: [Errno 2] ENOENT\r\n\x04>")
        assert chat(t, b"x = 1\x03print(2)\x04") == b"OK2\r\n\x04\x04>"  # Ctrl-C clears
        # Ctrl-D on nothing: a soft reset that stays in the raw REPL, with a fresh VM
        assert chat(t, b"\x04") == b"OK\r\nMPY: soft reboot\r\n" + RAW_PROMPT
        out = chat(t, b"print(os)\x04")
        assert b"NameError" in out and card.scheduler.console.mode == RAW
        out = chat(t, b"\x02")
        assert out.startswith(b"\r\n") and out.endswith(b"for more information.\r\n>>> ")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_raw_paste_mode_grants_windows(runtime: str) -> None:
    with Emulator(runtime=runtime) as card:
        t = card.transport()
        chat(t, b"\x03\x01")
        head = chat(t, b"\x05A\x01")
        assert head == b"R\x01" + RAW_PASTE_WINDOW.to_bytes(2, "little")
        code = b"x = 0\n" + b"x += 1\n" * 200 + b"print(x)\n"
        assert len(code) > 2 * RAW_PASTE_WINDOW
        out = chat(t, code)
        assert out == b"\x01" * (len(code) // RAW_PASTE_WINDOW)
        assert chat(t, b"\x04") == b"\x04200\r\n\x04\x04>"


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_friendly_repl_and_ctrl_d_boots_the_firmware(runtime: str) -> None:
    with Emulator(runtime=runtime, key=KEY, admin_key=ADMIN) as card:
        t = card.transport()
        chat(t, b"\x03")
        assert chat(t, b"1+1\r") == b"1+1\r\n2\r\n>>> "
        assert chat(t, b"for i in (1, 2):\r") == b"for i in (1, 2):\r\n... "
        assert chat(t, b"  print(i * 10)\r") == b"  print(i * 10)\r\n... "
        assert chat(t, b"\r") == b"\r\n10\r\n20\r\n>>> "
        assert chat(t, b"abc\x7f\x7fx = 5\r") == b"abc\x08 \x08\x08 \x08x = 5\r\n>>> "
        assert chat(t, b"ax\r") == b"ax\r\n5\r\n>>> "
        out = chat(t, b"\x05")
        assert out == b"\r\npaste mode; Ctrl-C to cancel, Ctrl-D to finish\r\n=== "
        assert chat(t, b"print('pasted')\r\x04") == b"print('pasted')\r\n=== \r\npasted\r\n>>> "
        client = CardClient(t, timeout=0.3, retries=0)
        with pytest.raises(Exception):  # noqa: B017 -- no firmware answers while the REPL runs
            client.info()
        chat(t, b"\x03")
        boots = card.scheduler.boots
        assert chat(t, b"\x04") == b"\r\nMPY: soft reboot\r\n"
        assert card.scheduler.boots == boots + 1 and card.scheduler.console.mode == FIRMWARE
        assert CardClient(t).info().provisioned
        card.hold("POWER", 1500)
        assert card.screen_text() == "PIN>"


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_locked_card_ignores_ctrl_c(runtime: str) -> None:
    with Emulator(runtime=runtime, key=KEY, admin_key=ADMIN) as card:
        t = card.transport()
        client = CardClient(t)
        client.authenticate(ADMIN)
        client.lock()
        assert card.board.repl_locked
        assert chat(t, b"\r\x03\x01print(1)\x04") == b""  # bytes for the firmware, which skips them
        assert card.scheduler.console.mode == FIRMWARE
        assert client.info().locked
        card.reboot()  # the lock is in the record: still locked after a reset
        assert chat(t, b"\x03") == b"" and card.board.repl_locked


def test_a_ctrl_c_during_a_production_boot_is_dropped_once_the_firmware_locks() -> None:
    with Emulator(production=True) as card:
        card.board.repl_locked = False  # as during power-on, before App() calls lock_repl()
        card.transport().send(b"\x03")
        assert card.scheduler.console.pending
        card.board.repl_locked = True  # the firmware locked the REPL
        assert chat(card.transport(), b"") == b"" and not card.scheduler.console.pending
        assert card.scheduler.console.mode == FIRMWARE


def test_repl_machine_reset_and_sys_exit() -> None:
    with Emulator(key=KEY) as card:
        t = card.transport()
        chat(t, b"\x03\x01")
        boots = card.scheduler.boots
        assert chat(t, b"import machine\nmachine.reset()\x04") == b"OK"
        assert card.scheduler.boots == boots + 1 and card.scheduler.console.mode == FIRMWARE
        chat(t, b"\x03")
        out = chat(t, b"import sys\rsys.exit()\r")  # a soft reset, from the friendly REPL
        assert out.endswith(b"MPY: soft reboot\r\n") and card.scheduler.console.mode == FIRMWARE
        assert CardClient(t).info().provisioned


def test_repl_code_sees_the_card_and_a_power_cut_ends_it() -> None:
    with Emulator(key=KEY) as card:
        t = card.transport()
        chat(t, b"\x03\x01")
        out = chat(t, b"import os, time\nprint(os.getcwd(), os.listdir('/'), "
                      b"os.stat('record')[6] > 100, time.ticks_ms() >= 0)\x04")
        assert out == b"OK/dsc ['dsc'] True True\r\n\x04\x04>"
        out = chat(t, b"open('/etc/x', 'w')\x04")
        assert out.endswith(b"OSError: [Errno 30] EROFS\r\n\x04>")
        card.flash.cut_before(0)
        with pytest.raises(PowerCut):
            chat(t, b"open('new', 'wb').close()\x04")
        assert card.scheduler.console.mode == FIRMWARE  # the board came back up cold
        assert card.flash.read("new") is None


# --- the card's files as REPL code sees them ---

@pytest.mark.parametrize("runtime", RUNTIMES)
def test_repl_open_modes_and_a_large_file(runtime: str) -> None:
    with Emulator(runtime=runtime) as card:
        t = card.transport()
        chat(t, b"\x03\x01")
        code = (b"with open('t.txt', 'w') as f:\n f.write('ab')\n"
                b"with open('t.txt', 'a') as f:\n f.write('c')\n"
                b"print(open('t.txt').read(), open('/dsc/t.txt', 'rb').read())\n"
                b"f = open('big.bin', 'wb')\nf.write(bytes(range(256)) * 160)\nf.close()\n"
                b"open('t.txt', 'x')\x04")
        out = chat(t, code)
        assert out.startswith(b"OKabc b'abc'\r\n\x04Traceback")
        assert out.endswith(b"OSError: [Errno 17] EEXIST\r\n\x04>")
        assert card.flash.read("t.txt") == b"abc"
        assert card.flash.read("big.bin") == bytes(range(256)) * 160  # 40 KB: streamed
        out = chat(t, b"import os\nos.rename('t.txt', 'u.txt')\nprint(sorted(os.listdir()))\x04")
        assert out == b"OK['big.bin', 'u.txt']\r\n\x04\x04>"


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_nested_flash_directory_and_its_parents(runtime: str) -> None:
    with Emulator(board="pyboard", runtime=runtime, key=KEY) as card:  # flash dir /flash/dsc
        t = card.transport()
        chat(t, b"\x03\x01")
        out = chat(t, b"import os\nprint(os.getcwd(), os.listdir('/flash'), os.listdir('..'), "
                      b"os.listdir('/flash/dsc'))\x04")
        assert out == b"OK/flash/dsc ['dsc'] ['dsc'] ['record']\r\n\x04\x04>"


def test_cardfs_paths_errors_and_directories() -> None:
    flash = Flash(size=64 * 1024)
    fs = CardFs(flash, "/flash/dsc/")
    assert fs.getcwd() == "/flash/dsc" and fs.listdir("/") == ["flash"]
    assert fs.listdir("/flash") == ["dsc"] and fs.listdir("..") == ["dsc"]
    fs.write("a.txt", b"abc")
    fs.mkdir("lib")
    fs.write("/flash/dsc/lib/../lib/m.py", b"x = 1\n")
    assert fs.ilistdir() == [("a.txt", 0x8000, 0, 3), ("lib", 0x4000, 0, 0)]
    assert fs.stat("lib/m.py")[6] == 6 and fs.stat("/")[0] == 0x4000
    fs.chdir("lib")
    assert fs.read("m.py") == b"x = 1\n" and fs.read("../a.txt") == b"abc"
    fs.rename("/flash/dsc/lib", "/flash/dsc/pkg")
    assert flash.snapshot() == {"a.txt": b"abc", "pkg/m.py": b"x = 1\n"}
    for call, code in ((lambda: fs.read("/flash/dsc/nope"), "ENOENT"),
                       (lambda: fs.write("/boot.py", b""), "EROFS"),
                       (lambda: fs.write("/flash/x", b""), "EROFS"),
                       (lambda: fs.mkdir("/flash/dsc"), "EEXIST"),
                       (lambda: fs.rmdir("/flash/dsc/pkg"), "ENOTEMPTY"),
                       (lambda: fs.remove("/flash/dsc/pkg"), "EISDIR"),
                       (lambda: fs.rmdir("/flash/dsc"), "EBUSY"),
                       (lambda: fs.stat("/etc"), "ENOENT"),
                       (lambda: fs.write("/flash/dsc/a.txt", b"x" * 70000), "ENOSPC")):
        with pytest.raises(OSError, match=rf"\[Errno \d+\] {code}$"):
            call()
    assert flash.read("a.txt") == b"abc"  # refused calls changed nothing
    free = fs.statvfs("/")
    assert free[0] * free[2] == 64 * 1024 and free[3] == 64 // 4 - 2 - 1


def test_flash_directories_persist_and_count_as_events(tmp_path: Path) -> None:
    f = Flash(state_dir=tmp_path)
    events = f.events
    f.mkdir("lib")
    f.write("lib/x.py", b"1")
    f.mkdir("lib/sub")
    assert f.events - events == 1 + 2 + 1
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "flash", "flash/lib", "flash/lib/sub", "flash/lib/x.py"]
    f.rename("lib", "pkg")
    g = Flash(state_dir=tmp_path)
    assert g.files == {"pkg/x.py": b"1"} and g.dirs == {"pkg", "pkg/sub"}
    with pytest.raises(FlashMemError, match="not empty"):
        g.rmdir("pkg")
    with pytest.raises(FlashMemError, match="no directory"):
        g.write("nodir/y", b"")
    g.rmdir("pkg/sub")
    g.remove("pkg/x.py")
    g.rmdir("pkg")
    assert list((tmp_path / "flash").iterdir()) == [] and g.used() == 0
