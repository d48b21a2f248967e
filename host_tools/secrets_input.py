"""Reading secrets: from a file, standard input or an environment variable — never from argv.

Key files hold the key as hex text; surrounding whitespace is ignored. Error messages name the
source, never the content.
"""

from __future__ import annotations

import argparse
import binascii
import io
import os
import sys
from pathlib import Path
from typing import TextIO

from host_tools.errors import SecretInputError


def read_text_secret(*, file: str | Path | None = None, stdin: bool = False,
                     env: str | None = None, what: str = "secret",
                     stream: TextIO | None = None) -> str:
    """Return the stripped text of a secret from exactly one source."""
    sources = [s for s in (file is not None, stdin, env is not None) if s]
    if len(sources) != 1:
        raise SecretInputError(
            f"give the {what} in exactly one way (a file, stdin or an environment variable)")
    if file is not None:
        try:
            text = Path(file).read_text(encoding="utf-8")
        except OSError as e:
            raise SecretInputError(f"cannot read the {what} file {file}: {e.strerror}") from None
        except UnicodeDecodeError:
            raise SecretInputError(f"the {what} file {file} is not text") from None
    elif stdin:
        text = (stream or sys.stdin).readline()
    else:
        assert env is not None
        value = os.environ.get(env)
        if value is None:
            raise SecretInputError(f"the environment variable {env} (the {what}) is not set")
        text = value
    text = text.strip()
    if not text:
        raise SecretInputError(f"the {what} is empty")
    return text


def read_hex_secret(*, file: str | Path | None = None, stdin: bool = False,
                    env: str | None = None, what: str = "key", min_bytes: int = 16,
                    max_bytes: int = 64, stream: TextIO | None = None) -> bytes:
    """Return a key given as hex text, checked for length without echoing it."""
    text = read_text_secret(file=file, stdin=stdin, env=env, what=what, stream=stream)
    try:
        key = binascii.unhexlify("".join(text.split()))
    except (binascii.Error, ValueError):
        raise SecretInputError(f"the {what} is not hex text") from None
    if not min_bytes <= len(key) <= max_bytes:
        raise SecretInputError(
            f"the {what} is {len(key)} bytes; it must be {min_bytes} to {max_bytes} bytes")
    return key


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
                       help=f"the {what} as hex on the command line (other users of this "
                            "machine can read it: prefer the options above)")


def key_from_args(args: argparse.Namespace, *, min_bytes: int, max_bytes: int,
                  what: str = "key", prog: str = "dsc") -> bytes | None:
    """The key named by add_key_options' options, or None when none was given."""
    if args.key is not None:
        print(f"{prog}: warning: --key puts the {what} in the process list and the shell "
              "history; prefer --key-file, --key-stdin or --key-env", file=sys.stderr)
        return read_hex_secret(stdin=True, stream=io.StringIO(args.key), what=what,
                               min_bytes=min_bytes, max_bytes=max_bytes)
    if args.key_file is None and not args.key_stdin and args.key_env is None:
        return None
    return read_hex_secret(file=args.key_file, stdin=args.key_stdin, env=args.key_env,
                           what=what, min_bytes=min_bytes, max_bytes=max_bytes)
