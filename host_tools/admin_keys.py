"""Per-card admin keys, diversified on the host from one master admin key (docs/protocol.md).

    admin key = HMAC-SHA256(master, "OpenDSC admin key v1" | 0x00 | serial number in ASCII)

HMAC-SHA256 is a PRF, so each card's 32-byte key looks random and independent of every other
card's: a key read out of one card says nothing about the master key or another card. The master
key (16..64 bytes, as hex text) comes from a file or an environment variable, never from argv.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from host_tools.errors import UsageError
from host_tools.secrets_input import read_hex_secret

LABEL = b"OpenDSC admin key v1\x00"
MASTER_FILE_ENV = "DSC_ADMIN_MASTER_KEY_FILE"
MASTER_KEY_BYTES = 32
DEFAULT_FILE_NAME = "admin-master.key"


def derive_admin_key(master: bytes, serial_number: str) -> bytes:
    """The admin key of the card with this serial number."""
    if len(master) < 16:
        raise UsageError("the master admin key must be at least 16 bytes")
    try:
        serial = serial_number.encode("ascii")
    except UnicodeEncodeError:
        raise UsageError("a serial number is ASCII text") from None
    if not 1 <= len(serial) <= 32 or any(not 0x20 <= c <= 0x7E for c in serial):
        raise UsageError("a serial number is 1 to 32 printable ASCII characters")
    return hmac.new(master, LABEL + serial, hashlib.sha256).digest()


def master_key_path() -> Path:
    """Where the master admin key file is: $DSC_ADMIN_MASTER_KEY_FILE, else
    $XDG_CONFIG_HOME/opendsc/admin-master.key (~/.config/...), which `dsc registry init` makes."""
    env_file = os.environ.get(MASTER_FILE_ENV)
    if env_file:
        return Path(env_file).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "opendsc" / DEFAULT_FILE_NAME


def read_master_key(file: str | Path | None = None) -> bytes:
    """The master admin key from `file`, else from `master_key_path()`."""
    if file is None:
        file = master_key_path()
        if not os.environ.get(MASTER_FILE_ENV) and not file.exists():
            raise UsageError(f"no master admin key: give --admin-master-key-file, set "
                             f"{MASTER_FILE_ENV} to the key file, or run `dsc registry init` "
                             f"(it creates {file})")
    return read_hex_secret(file=file, what="master admin key", min_bytes=16, max_bytes=64)


def new_master_key_file(path: str | Path) -> None:
    """Write a fresh random master admin key as hex to a new file readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(os.urandom(MASTER_KEY_BYTES).hex() + "\n")
