"""Per-card admin keys, diversified on the host from one master admin key (docs/protocol.md).

    admin key = HMAC-SHA256(master, "OpenDSC admin key v1" | 0x00 | serial number in ASCII)

HMAC-SHA256 is a PRF, so each card's 32-byte key looks random and independent of every other
card's: a key read out of one card says nothing about the master key or another card. The master
key (16..64 bytes, as hex text) lives in a file readable by its owner only: the one named, else
the one `DSC_ADMIN_MASTER_KEY_FILE` names, else `admin-master.key` in the configuration
directory, beside the registry's master key (`ensure_master_key_file` creates it there; the
command that sets up the registry calls it). It never comes from argv.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from host_tools.errors import InvalidInputError
from host_tools.paths import config_dir
from host_tools.secrets_input import read_hex_secret

LABEL = b"OpenDSC admin key v1\x00"
MASTER_FILE_ENV = "DSC_ADMIN_MASTER_KEY_FILE"
MASTER_FILE_NAME = "admin-master.key"
MASTER_KEY_BYTES = 32


class MasterKeyFileError(InvalidInputError):
    """The master admin key file is missing, or others than its owner may read it. `path` is
    the file looked for."""

    def __init__(self, message: str, *, path: Path) -> None:
        super().__init__(message, field="master_admin_key")
        self.path = path


class MasterKeyFileMissing(MasterKeyFileError):
    """No file was named and there is no master admin key file where one is looked for."""


def derive_admin_key(master: bytes, serial_number: str) -> bytes:
    """The admin key of the card with this serial number."""
    if len(master) < 16:
        raise InvalidInputError("the master admin key must be at least 16 bytes",
                                field="master_admin_key")
    try:
        serial = serial_number.encode("ascii")
    except UnicodeEncodeError:
        raise InvalidInputError("a serial number is ASCII text", field="serial_number") from None
    if not 1 <= len(serial) <= 32 or any(not 0x20 <= c <= 0x7E for c in serial):
        raise InvalidInputError("a serial number is 1 to 32 printable ASCII characters",
                                field="serial_number")
    return hmac.new(master, LABEL + serial, hashlib.sha256).digest()


def default_master_key_file(beside: Path | None = None) -> Path:
    """Where the master admin key is when no file is named: `$DSC_ADMIN_MASTER_KEY_FILE`, else
    `admin-master.key` in `beside` (the registry master key's directory), else in the
    configuration directory."""
    env_file = os.environ.get(MASTER_FILE_ENV)
    if env_file:
        return Path(env_file)
    return (beside if beside is not None else config_dir()) / MASTER_FILE_NAME


def read_master_key(file: str | Path | None = None, *, beside: Path | None = None) -> bytes:
    """The master admin key from `file`, else from `default_master_key_file(beside)`. A file
    that its group or others may read is refused (like ssh with a private key)."""
    path = Path(file) if file is not None else default_master_key_file(beside)
    if file is None and not path.exists():
        raise MasterKeyFileMissing(f"no master admin key: {path} does not exist and "
                                 f"{MASTER_FILE_ENV} is not set", path=path)
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        mode = 0  # read_hex_secret says why the file cannot be read
    if mode & 0o077:
        raise MasterKeyFileError(f"the master admin key file {path} can be read by others "
                                 f"(mode {mode:o}): chmod 600 it, or make a new key", path=path)
    return read_hex_secret(file=path, what="master admin key", min_bytes=16, max_bytes=64)


def new_master_key_file(path: str | Path) -> None:
    """Write a fresh random master admin key as hex to a new file readable by its owner only."""
    Path(path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(os.urandom(MASTER_KEY_BYTES).hex() + "\n")


def ensure_master_key_file(path: Path) -> bool:
    """Create the master admin key file at `path` unless it exists; True when created. An
    existing file is checked (readable by its owner only, a key in it) and kept."""
    try:
        new_master_key_file(path)
        return True
    except FileExistsError:
        read_master_key(path)
        return False
