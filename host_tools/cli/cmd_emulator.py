"""`dsc emulator`: an emulated card in a window, headless behind a serial port, or running a
scenario, registered under `dsc` as `dsc emulator`.

    dsc emulator                                 # a window with a blank card
    dsc emulator --key-file seed.hex             # provisioned (key as hex text in the file)
    dsc emulator --headless --serial pty         # prints "serial: /dev/pts/N", runs until ^C;
                                                 # announced to discovery (--port auto) meanwhile
    dsc emulator --headless --serial tcp --baud 115200   # the port paced like a UART
    dsc emulator --key-stdin --script login.txt  # exits 1 at the first failed expectation
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from typing import Any

from host_tools.cli.exits import CommandFailed, UsageError
from host_tools.cli.options import add_key_options, key_from_args
from host_tools.secrets_input import read_hex_secret

KEY_BYTES = (16, 64)


def register(sub: Any) -> None:
    p = sub.add_parser("emulator", help="run an emulated card (window, serial port, scenarios)",
                       description="Run the card firmware on a virtual board.")
    add_arguments(p)
    p.set_defaults(func=run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from emulator.api import DEFAULT_SUITE, RUNTIMES

    p.add_argument("--board", default="pico", help="board file name under boards/ (default pico)")
    p.add_argument("--runtime", choices=RUNTIMES, default="cpython",
                   help="run the firmware in-process (cpython) or on the MicroPython unix port")
    p.add_argument("--state", metavar="DIR", help="keep the card's flash in DIR between runs")
    p.add_argument("--boot-from", choices=("source", "flash"), default="source",
                   help="run the firmware under firmware/ (source, default) or, as a board "
                        "does, main.py and the .mpy files in the card's flash (flash: what "
                        "`dsc flash` copied; needs --runtime micropython)")
    p.add_argument("--serial", metavar="pty|tcp[:PORT]",
                   help="expose the card's serial port as a pty or a TCP socket (prints it, "
                        "and announces it to dsc card list and --port auto)")
    p.add_argument("--baud", type=int, metavar="N",
                   help="pace the --serial port like a UART at N baud, 8N1, both directions "
                        "(default: unpaced)")
    p.add_argument("--headless", action="store_true", help="no window")
    p.add_argument("--script", metavar="FILE", help="run a scenario file and exit")
    add_key_options(p, required=False, what="key to provision with")
    p.add_argument("--admin-key-file", metavar="F",
                   help="the admin key to provision with (hex text); default: a random one")
    p.add_argument("--suite", default=DEFAULT_SUITE, help=f"OCRA suite (default {DEFAULT_SUITE})")
    p.add_argument("--serial-number", help="serial number to provision (default DSC00000001)")
    p.add_argument("--scale", type=int, default=4, help="window: OLED pixel size (default 4)")


def _read_key(args: argparse.Namespace) -> bytes | None:
    lo, hi = KEY_BYTES
    return key_from_args(args, min_bytes=lo, max_bytes=hi, prog="dsc emulator")


def _check_args(args: argparse.Namespace) -> None:
    if args.serial is not None and not (args.serial in ("pty", "tcp")
                                        or args.serial.startswith("tcp:")):
        raise UsageError(f"--serial {args.serial}: use pty, tcp or tcp:PORT")
    if args.baud is not None and args.baud <= 0:
        raise UsageError(f"--baud {args.baud}: give a positive number of bits per second")
    if args.baud is not None and args.serial is None:
        raise UsageError("--baud paces the serial port: give --serial pty|tcp[:PORT] too")
    if args.boot_from == "flash" and args.runtime != "micropython":
        raise UsageError("--boot-from flash needs --runtime micropython (the flash holds .mpy "
                         "files, which only MicroPython runs)")
    if args.scale < 1 or args.scale > 16:
        raise UsageError("--scale must be 1 to 16")
    has_key = args.key or args.key_file or args.key_env or args.key_stdin
    if (args.admin_key_file or args.serial_number) and not has_key:
        raise UsageError("--admin-key-file and --serial-number need a key to provision with")


def _make_card(args: argparse.Namespace, key: bytes | None, admin: bytes | None) -> Any:
    from emulator.api import Emulator
    from emulator.errors import EmulatorError
    from host_tools.boards import BoardError

    try:
        return Emulator(board=args.board, runtime=args.runtime, key=key, suite=args.suite,
                        serial_number=args.serial_number, state_dir=args.state,
                        serial=args.serial, admin_key=admin, baud=args.baud,
                        wall_clock=None if args.script is None else False,
                        boot_from=args.boot_from, announce=True)
    except (EmulatorError, ValueError, OSError) as e:
        if isinstance(e, BoardError):
            raise
        raise CommandFailed(f"cannot start the emulated card: {e}") from None


def run(args: argparse.Namespace) -> int:
    _check_args(args)
    key = _read_key(args)
    admin = read_hex_secret(file=args.admin_key_file, what="admin key") \
        if args.admin_key_file else None
    card = _make_card(args, key, admin)
    with card:
        if card.serial_url:
            print(f"serial: {card.serial_url}", flush=True)
        if card.announce_error:
            print(f"dsc emulator: warning: {card.announce_error}; give --port "
                  f"{card.serial_url} to the host tools", file=sys.stderr, flush=True)
        if args.script:
            return _run_script(card, args.script)
        if args.headless:
            return _run_headless(card)
        return _run_window(card, args.scale)


def _run_script(card: Any, path: str) -> int:
    from emulator.scenario import run_file

    n = run_file(card, path, out=lambda line: print(line, flush=True))
    print(f"scenario {path}: {n} steps passed", flush=True)
    return 0


def _run_headless(card: Any) -> int:
    # SIGTERM ends the run like ^C, so the state directory is closed cleanly either way.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    card.realtime()
    boots = "its flash (main.py)" if card.boot_from == "flash" else "the source tree"
    print(f"dsc emulator: running headless, booting from {boots}; Ctrl-C stops",
          file=sys.stderr, flush=True)
    try:
        while True:
            time.sleep(0.5)
            card.screen_text()  # re-raises if the board's thread died
    except KeyboardInterrupt:
        return 0


def _run_window(card: Any, scale: int) -> int:
    if not os.environ.get("DISPLAY") and sys.platform.startswith("linux"):
        raise UsageError("no display (DISPLAY is not set): use --headless or --script")
    from emulator.window import CardWindow

    try:
        win = CardWindow(card, scale=scale)
    except Exception as e:  # tkinter.TclError: cannot reach the display
        raise CommandFailed(f"cannot open a window: {e}") from None
    win.run()
    return 0
