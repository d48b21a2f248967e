"""Output files that hold secrets (PSKC exports, security code cards): created new, owner-only.

A file is written under a fresh temporary name in the target's directory, opened with
`O_CREAT | O_EXCL | O_NOFOLLOW` (so it is never an existing file, nor a symlink planted there,
and it never inherits another file's owner or mode), made 0600, filled, flushed to disk, and
only then renamed over the target. A rename replaces a symlink at the target instead of
following it. Whatever fails, the temporary file is removed and the target is untouched.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from provisioning.errors import ProvisioningError

_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
          | getattr(os, "O_CLOEXEC", 0))


def check_target(out: Path, error: type[ProvisioningError]) -> None:
    """Refuse, before anything else happens, a target that cannot be written."""
    parent = out.parent
    if not parent.is_dir():
        raise error(f"{out}: no directory {parent}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise error(f"{out}: the directory {parent} is not writable")
    if out.is_dir():
        raise error(f"{out} is a directory")


def write_private(out: Path, fill: Callable[[BinaryIO], None],
                  error: type[ProvisioningError]) -> None:
    check_target(out, error)
    tmp = out.with_name(f".{out.name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(tmp, _FLAGS, 0o600)
    except OSError as e:
        raise error(f"cannot write {out}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o600)
            fill(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise error(f"cannot write {out}: {e.strerror or e}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
