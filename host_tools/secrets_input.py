"""Reading secrets: from a file, standard input or an environment variable (or a stream).

Key files hold the key as hex text; surrounding whitespace is ignored. Error messages name the
source, never the content.
"""

from __future__ import annotations

import binascii
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
