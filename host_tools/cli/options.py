"""Shared bits of the support commands: common options, opening the registry, output.

Secrets never come from argv: PINs and passwords from stdin (`--pin-stdin`, ...) or files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from host_tools.errors import UsageError
from host_tools.secrets_input import read_text_secret
from provisioning.registry import Registry


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
    return Registry.open(args.db, args.master_key_file, operator=args.operator)


def read_pin(what: str = "PIN") -> str:
    return read_text_secret(stdin=True, what=what)


def read_response(value: str) -> str:
    """`-` reads the response from stdin: use it for temporary passcodes (not one-time)."""
    return read_text_secret(stdin=True, what="response") if value == "-" else value


def when(t: int | None) -> str:
    if t is None:
        return "-"
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


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
