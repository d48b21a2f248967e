"""The host tools' exceptions: one root, subclasses that say when they are raised.

They carry facts (and data where a caller needs it), never an exit status or an option name:
the `dsc` command (host_tools/cli/exits.py) decides how each one is reported. None of them ever
carries a secret.
"""

from __future__ import annotations


class DscError(Exception):
    """Root of every error the host tools raise on purpose."""


class InvalidInputError(DscError):
    """A value handed to the host tools is wrong (bad serial number, key, board name, ...);
    nothing was changed. `field` names the input (`serial_number`, `master_admin_key`, ...)
    when one input is to blame, so a caller can point at its own way of giving it."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class SecretInputError(InvalidInputError):
    """A secret could not be read from the file, stdin or environment variable named."""
