"""`dsc emulator`: the emulated card (window, headless serial port, or scenario)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    from emulator.cli import add_arguments

    p = sub.add_parser("emulator", help="run an emulated card (window, serial port, scenarios)",
                       description="Run the card firmware on a virtual board.")
    add_arguments(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from emulator.cli import run

    return run(args)
