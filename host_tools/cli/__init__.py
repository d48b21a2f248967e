"""`dsc`: the one command of OpenDSC. Subcommands live in `host_tools/cli/cmd_*.py`.

Each command module defines `register(subparsers)`, which adds its parsers and sets
`func=handler` on them; a handler takes the parsed arguments and returns the exit status.
Only the module of the command that runs is imported: `COMMANDS` names every command with its
module and its one-line help, so `dsc --help` lists them all without loading any (the test
tests/host/test_cli_main.py keeps the table and the modules in step).

Errors the libraries raise on purpose become one line on stderr (one JSON object with
--json), with the exit status of host_tools/cli/exits.py's table; anything else is a bug and
keeps its traceback. A closed stdout (`dsc audit | head -1`) ends the command quietly.
Only the console-script entry imports this package.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from host_tools import __version__

# command -> (module under host_tools.cli, help). The module registers the command itself.
COMMANDS: dict[str, tuple[str, str]] = {
    "build": ("cmd_build", "compile the firmware with mpy-cross; generate the wiring page"),
    "card": ("cmd_card", "talk to one card over serial (info, provision, test, ...)"),
    "demo": ("cmd_demo", "the support desk's job and the card up close, on an emulated card"),
    "emulator": ("cmd_emulator", "run an emulated card (window, serial port, scenarios)"),
    "flash": ("cmd_flash", "compile the firmware for a board, copy it with mpremote, reset, "
                           "confirm with INFO"),
    "ocra": ("cmd_ocra", "compute an OCRA (RFC 6287) response with the card's own code"),
    "provision": ("cmd_provision", "load new cards and record them in the registry"),
    "wipe": ("cmd_provision", "wipe a returned card over the service protocol, for reuse"),
    "registry": ("cmd_registry", "create the registry and the master keys, rotate, settings"),
    "audit": ("cmd_registry", "show the audit log, or --verify its hash chain"),
    "pskc": ("cmd_registry", "exchange card seeds with other servers (RFC 6030)"),
    "assign": ("cmd_support", "assign a card in stock to a user (PIN on stdin)"),
    "activate": ("cmd_support", "activate an assigned card (or all that are due)"),
    "lost": ("cmd_support", "report a card lost or damaged (disables it)"),
    "return": ("cmd_support", "record a lost or damaged card as returned"),
    "retire": ("cmd_support", "retire a returned card for good"),
    "found": ("cmd_support", "a lost card turned up: active again, or returned when a "
                             "replacement took its place"),
    "replace": ("cmd_support", "give the users of a lost card a card from stock"),
    "challenge": ("cmd_support", "issue a single-use login challenge"),
    "verify": ("cmd_support", "check a response (or temporary passcode / code): exit 0 "
                              "accepted (full access), 3 accepted for the portal only, "
                              "1 rejected"),
    "reactivate": ("cmd_support", "end temporary access with a response from the card"),
    "change-pin": ("cmd_support", "store a new PIN if the response made with it matches"),
    "reset-pin": ("cmd_support", "set a new PIN for a user who forgot it"),
    "unlock": ("cmd_support", "clear a user's failure count and lock"),
    "temp-passcode": ("cmd_support", "issue a temporary passcode (shown once)"),
    "security-card": ("cmd_support", "issue an online security code card"),
    "show": ("cmd_support", "show a card (by serial number) or a user"),
    "list": ("cmd_support", "list cards"),
    "softcard": ("cmd_softcard", "soft cards: one-time activation codes, disable, enable, "
                                 "remove"),
    "serve": ("cmd_serve", "run the verification service (REST API, docs/service.md)"),
    "api-client": ("cmd_serve", "who may call the service: add, list, revoke"),
    "operator": ("cmd_operator", "support console operators: add, list, disable"),
}


class _Parser(argparse.ArgumentParser):
    """argparse, whose own usage errors are JSON too when the command line has --json (the
    subcommands' parsers are of this class as well: argparse makes them like their parent)."""

    json_errors = False

    def error(self, message: str) -> NoReturn:
        if self.json_errors:
            import json

            print(json.dumps({"error": f"{self.prog}: {message}", "exit_status": 2,
                              "type": "UsageError"}, sort_keys=True), file=sys.stderr)
            raise SystemExit(2)
        super().error(message)


def _command_of(argv: Sequence[str]) -> str | None:
    """The subcommand named on the command line: the first word that is not an option."""
    for word in argv:
        if not word.startswith("-"):
            return word
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with `argv`, only the module of the command it names is imported and the
    other commands are listed by name and help (all modules are loaded when argv is None)."""
    parser = _Parser(
        prog="dsc",
        description="OpenDSC: security-card firmware, emulator, host tools and provisioning.",
        epilog="Exit status: 0 done, 1 failed or refused, 2 wrong command line or input, "
               "130 interrupted, 141 stdout closed (| head). With --json, an error is one "
               "JSON object on one line of stderr "
               '({"error": ..., "type": ..., "exit_status": ..., "reason": ..., ...}).',
    )
    parser.add_argument("--version", action="version", version=f"dsc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    command = None if argv is None else _command_of(argv)
    if argv is None:
        for name in dict.fromkeys(m for m, _ in COMMANDS.values()):
            importlib.import_module(f"{__name__}.{name}").register(sub)
    elif command in COMMANDS:
        # Only the command that runs gets a parser: its module's other commands are skipped
        # (building them is most of the parsing time of a short command like `dsc verify`),
        # and so are the names of the others (only a listing or a wrong name needs them).
        importlib.import_module(f"{__name__}.{COMMANDS[command][0]}").register(
            _Only(sub, command))
        return parser
    for name, (_, text) in COMMANDS.items():
        if name not in sub.choices:
            sub.add_parser(name, help=text, add_help=False)
    return parser


class _Skipped:
    """Stands in for the parser of a command that does not run: takes every call, does nothing."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: self


class _Only:
    """The subparsers action, as a module's `register` sees it, that makes a real parser for
    one command only."""

    def __init__(self, sub: Any, command: str) -> None:
        self._sub, self._command = sub, command

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        if name != self._command:
            return _Skipped()
        return self._sub.add_parser(name, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sub, name)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _Parser.json_errors = "--json" in argv
    args = build_parser(argv).parse_args(argv)
    try:
        code: int = args.func(args)
        sys.stdout.flush()
        return code
    except KeyboardInterrupt:
        print("dsc: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return _closed_pipe()
    except Exception as e:
        from host_tools.cli import exits

        status = exits.exit_status(e)
        if status is None:
            raise
        try:
            exits.report(e, status, json_output=bool(getattr(args, "json", False)))
        except BrokenPipeError:
            return _closed_pipe()
        return status


def _closed_pipe() -> int:
    """stdout's reader went away (`| head`): stop quietly, as a program killed by SIGPIPE
    would (status 141), and point stdout at /dev/null so the final flush does not complain."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (tests capture it)
        pass
    finally:
        os.close(devnull)
    return 141


if __name__ == "__main__":
    sys.exit(main())
