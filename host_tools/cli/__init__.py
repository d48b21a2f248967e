"""`dsc`: the one command of OpenDSC. Subcommands live in `host_tools/cli/cmd_*.py`.

Each command module defines `register(subparsers)`, which adds its parsers and sets
`func=handler` on them; a handler takes the parsed arguments and returns the exit code.
Errors derived from `DscError` become one line on stderr; anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from host_tools import __version__
from host_tools.errors import DscError

COMMAND_MODULES = ("cmd_build", "cmd_card", "cmd_emulator", "cmd_flash", "cmd_ocra",
                   "cmd_operator", "cmd_provision", "cmd_registry", "cmd_serve", "cmd_support")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dsc",
        description="OpenDSC: security-card firmware, emulator, host tools and provisioning.",
    )
    parser.add_argument("--version", action="version", version=f"dsc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except DscError as e:
        print(f"dsc: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("dsc: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
