"""Flash a board: compile firmware/ for its architecture, copy it with mpremote, reset, confirm.

The files go where MicroPython looks for them (paths relative to the board's current directory,
the filesystem root on a board): `main.py`, `dsc/*.mpy`, the board file as `board.py` and, for a
production build, `build_config.py` with `PRODUCTION = True`. The copy uses mpremote's Python API
over its raw REPL; the confirmation is an INFO over the service protocol once the board is back
(board name, firmware version and, for --production, the lock must be what was flashed).
A production-locked card has no REPL any more: reflash it through its bootloader.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dsc

from host_tools.boards import board_path, load_board
from host_tools.build import build_firmware
from host_tools.client import CardClient, CardInfo
from host_tools.errors import DscError
from host_tools.transport import TransportError, open_transport

PRODUCTION_CONFIG = b"# written by dsc flash --production\nPRODUCTION = True\n"
RESET = "import time, machine\ntime.sleep_ms(100)\nmachine.reset()\n"
# mpremote reads a pty without a timeout of its own: a port where nothing answers would hang.
READ_TIMEOUT = 5.0    # seconds per read from the board's REPL
REPL_TIMEOUT = 10.0   # seconds for the board to show its raw REPL


class FlashError(DscError):
    """Copying to the board or confirming the flashed firmware failed."""


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
    return Plan(board, arch, production, tuple(stale + steps))


def copy_to_board(plan: Plan, port: str, baudrate: int = 115200) -> None:
    """Write the plan's files over mpremote's raw REPL, then reset the board."""
    from mpremote.transport import TransportError as MpError
    from mpremote.transport_serial import SerialTransport

    try:
        t = SerialTransport(port, baudrate=baudrate, timeout=READ_TIMEOUT)
    except Exception as e:  # mpremote raises bare Exception/TransportError when it cannot open
        raise FlashError(f"cannot open {port}: {str(e).splitlines()[0] if str(e) else e}") \
            from None
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # mpremote prints what it got on failure
            t.enter_raw_repl(soft_reset=True, timeout_overall=REPL_TIMEOUT)
            _write_files(t, plan)
            t.exec_raw_no_follow(RESET)
    except (MpError, OSError) as e:
        raise FlashError(f"copying to {port} failed: {_first_line(e)} (is it a MicroPython "
                         "board with its REPL reachable? a production-locked card must be "
                         "reflashed through its bootloader)") from None
    finally:
        with contextlib.suppress(Exception):  # the board resets under us: nothing to close cleanly
            t.close()


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
