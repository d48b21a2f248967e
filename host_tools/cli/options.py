"""Shared option builders and helpers of the `dsc` commands: the registry options, opening the
registry, output, and the options that give a key or a PIN.

Secrets come from a file, stdin or an environment variable. `--key HEX` and `--pin PIN` are
test conveniences: what is on the command line is visible in the process list and kept in the
shell history, so using either prints a warning on stderr.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from host_tools.cli.exits import UsageError
from host_tools.secrets_input import read_hex_secret, read_text_secret
from provisioning.timeutil import when

if TYPE_CHECKING:
    from provisioning.registry import Registry

__all__ = ["add", "add_key_options", "common", "emit", "key_from_args",
           "need_one", "open_registry", "pin_from_args", "read_pin", "read_response", "stderr",
           "when"]


def common() -> argparse.ArgumentParser:
    """Options every support command takes (a parent parser)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--db", metavar="URL",
                   help="registry: a SQLite file or postgresql:// URL (default: $DSC_DB, else "
                        "~/.local/share/opendsc/registry.sqlite3)")
    p.add_argument("--master-key-file", type=Path, metavar="FILE",
                   help="registry master key file (default: $DSC_MASTER_KEY_FILE, else "
                        "~/.config/opendsc/master.key)")
    p.add_argument("--operator", help="who runs the command, for the audit log "
                                      "(default: $DSC_OPERATOR, else the login name)")
    p.add_argument("--json", action="store_true", help="print JSON")
    return p


def add(sub: Any, name: str, handler: Callable[[argparse.Namespace], int], help: str,
        parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help, description=help,
                                                     parents=parents)
    parser.set_defaults(func=handler)
    return parser


def open_registry(args: argparse.Namespace) -> Registry:
    from provisioning.registry import Registry

    return Registry.open(args.db, args.master_key_file, operator=args.operator)


def read_pin(what: str = "PIN") -> str:
    return read_text_secret(stdin=True, what=what)


def read_response(value: str) -> str:
    """`-` reads the response from stdin: use it for temporary passcodes (not one-time)."""
    return read_text_secret(stdin=True, what="response") if value == "-" else value


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    if args.json:
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        print(text)


def need_one(*values: object, what: str) -> None:
    if sum(v is not None and v is not False for v in values) != 1:
        raise UsageError(f"give exactly one of {what}")


def stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def warn_argv(prog: str, option: str, what: str, instead: str) -> None:
    print(f"{prog}: warning: {option} puts the {what} in the process list and the shell "
          f"history; prefer {instead}", file=sys.stderr)


def add_key_options(parser: argparse.ArgumentParser, *, required: bool,
                    what: str = "key") -> None:
    """--key-file / --key-stdin / --key-env, and --key HEX (argv: warned about when used)."""
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument("--key-file", metavar="FILE", help=f"read the {what} (hex text) from FILE")
    group.add_argument("--key-stdin", action="store_true",
                       help=f"read the {what} (hex text) from the first line of standard input")
    group.add_argument("--key-env", metavar="VAR",
                       help=f"read the {what} (hex text) from environment variable VAR")
    group.add_argument("--key", metavar="HEX",
                       help=f"the {what} as hex on the command line, for tests (other users of "
                            "this machine can read it: prefer the options above)")


def key_from_args(args: argparse.Namespace, *, min_bytes: int, max_bytes: int,
                  what: str = "key", prog: str = "dsc") -> bytes | None:
    """The key named by add_key_options' options, or None when none was given."""
    if args.key is not None:
        warn_argv(prog, "--key", what, "--key-file, --key-stdin or --key-env")
        return read_hex_secret(stdin=True, stream=io.StringIO(args.key), what=what,
                               min_bytes=min_bytes, max_bytes=max_bytes)
    if args.key_file is None and not args.key_stdin and args.key_env is None:
        return None
    return read_hex_secret(file=args.key_file, stdin=args.key_stdin, env=args.key_env,
                           what=what, min_bytes=min_bytes, max_bytes=max_bytes)


def pin_from_args(args: argparse.Namespace, *, prog: str = "dsc") -> str | None:
    """The PIN of --pin-stdin / --pin-file / --pin-env (where the command has them), else of
    --pin (warned about: argv), else None."""
    stdin = bool(getattr(args, "pin_stdin", False))
    if stdin or args.pin_file is not None or args.pin_env is not None:
        return read_text_secret(stdin=stdin, file=args.pin_file, env=args.pin_env, what="PIN")
    if args.pin is not None:
        instead = "--pin-stdin, --pin-file or --pin-env" if hasattr(args, "pin_stdin") \
            else "--pin-file or --pin-env"
        warn_argv(prog, "--pin", "PIN", instead)
        return str(args.pin)
    return None


def seconds(text: str) -> float:
    """An argparse type: a time-out in seconds, more than 0 and at most 600."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= 600:
        raise argparse.ArgumentTypeError("give seconds, more than 0 and at most 600")
    return value
