"""The host tools' exceptions: one base class, one subclass per situation the CLI reports."""

from __future__ import annotations


class DscError(Exception):
    """Base of every error the `dsc` command reports as one line (never with a secret in it)."""

    exit_code = 1


class UsageError(DscError):
    """The command line or an input file is wrong; nothing was changed."""

    exit_code = 2


class SecretInputError(UsageError):
    """A secret could not be read from the file, stdin or environment variable named."""
