"""`dsc flash --board NAME --port P [--production] [--dry-run]`: compile, copy, reset, confirm."""

from __future__ import annotations

import argparse
import json
from typing import Any

from host_tools import discovery, flash
from host_tools.boards import board_names

HELP = "compile the firmware for a board, copy it with mpremote, reset, confirm with INFO"


def register(sub: Any) -> None:
    p = sub.add_parser("flash", help=HELP, description=HELP)
    p.add_argument("--board", required=True, metavar="NAME",
                   help=f"board file name: {', '.join(board_names())}")
    p.add_argument("--port", required=True, metavar="P",
                   help="the board's serial port (a device or pty path, or a pyserial URL), "
                        "or auto: the only board attached (or emulator running)")
    p.add_argument("--production", action="store_true",
                   help="production build: the firmware locks the REPL at boot")
    p.add_argument("--dry-run", action="store_true", help="print the plan, touch nothing")
    p.add_argument("--baudrate", type=int, default=115200)
    p.add_argument("--timeout", type=float, default=20.0,
                   help="seconds to wait for the board to answer INFO after the reset")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    plan = flash.make_plan(args.board, args.production)
    if args.dry_run:
        if args.json:
            print(json.dumps({"board": plan.board, "arch": plan.arch,
                              "production": plan.production, "dry_run": True,
                              "files": [{"target": s.target, "bytes": len(s.data)}
                                        for s in plan.steps if s.data is not None],
                              "remove": [s.target for s in plan.steps if s.data is None]}))
        else:
            print(plan.describe(args.port))
        return 0
    if args.port == "auto":
        args.port = discovery.only_board()
    runtime = flash.copy_to_board(plan, args.port, args.baudrate)
    info = flash.confirm(args.port, plan, args.timeout, args.baudrate)
    if args.json:
        print(json.dumps({"board": info.board, "firmware": info.firmware,
                          "micropython": runtime.release,
                          "production": plan.production, "locked": info.locked,
                          "provisioned": info.provisioned, "port": args.port}))
    else:
        print(f"flashed {info.board} (MicroPython {runtime.release}): firmware {info.firmware}"
              f"{', production (locked)' if info.locked else ''}; the card answers INFO")
    return 0
