"""Exceptions of the provisioning package: one base class, subclasses that carry data.

All derive from `host_tools.errors.DscError`, so the `dsc` command prints them as one line.
None of them ever carries a secret.
"""

from __future__ import annotations

from host_tools.errors import DscError, UsageError


class ProvisioningError(DscError):
    """Base of every error raised by the provisioning package."""


class RegistryError(ProvisioningError):
    """The registry database cannot be opened, is of an unknown version, or failed."""


class MasterKeyError(ProvisioningError):
    """The master key file is missing, unreadable, malformed or does not fit the registry."""


class NotFoundError(ProvisioningError):
    """A card, user or challenge the command names is not in the registry."""


class InvalidInputError(ProvisioningError, UsageError):
    """An argument or input file is wrong (bad PIN, unknown suite, ...); nothing changed."""


class CardStateError(ProvisioningError):
    """The card's life-cycle status does not allow the operation; `status` says which it is."""

    def __init__(self, message: str, *, serial_number: str, status: str) -> None:
        super().__init__(message)
        self.serial_number = serial_number
        self.status = status


class UserStateError(ProvisioningError):
    """The user has no card in a state the operation needs (e.g. nothing to reactivate)."""


class VerificationRejected(ProvisioningError):
    """A response, passcode or code was refused; `reason` is one of `verification.REASONS`."""

    def __init__(self, message: str, *, reason: str, attempts_remaining: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.attempts_remaining = attempts_remaining


class ProvisionFailed(ProvisioningError):
    """A card could not be provisioned; it was not recorded as provisioned."""

    def __init__(self, message: str, *, serial_number: str | None = None) -> None:
        super().__init__(message)
        self.serial_number = serial_number


class PskcError(ProvisioningError):
    """A PSKC file could not be read, decrypted or written; the registry is unchanged."""


class AuditError(ProvisioningError):
    """The audit log failed its check: an entry was edited, inserted or deleted."""


class TamperedRowError(ProvisioningError):
    """A row that decides a login fails its MAC under the master key: it was written by
    someone without the key (SQL), so it grants nothing. `table` and `row` say which."""

    def __init__(self, table: str, row: str, *, others: int = 0) -> None:
        more = f" (and {others} more row{'s' if others > 1 else ''})" if others else ""
        super().__init__(f"integrity check failed: the {table} row {row}{more} was altered "
                         f"outside OpenDSC (its MAC under the master key does not match); it is "
                         f"refused and the refusal is logged (see docs/registry.md, row MACs)")
        self.table = table
        self.row = row
        self.others = others
        self.reason = "tampered"


class MalformedResponseError(InvalidInputError):
    """What was typed cannot be a response, passcode or code: nothing was counted or used."""

    def __init__(self, message: str, *, expected: tuple[str, ...]) -> None:
        super().__init__(message)
        self.reason = "malformed"
        self.expected = expected


class ChallengeLimitError(ProvisioningError):
    """No challenge issued: too many in the rate window or too many still open, or the card's
    challenge space is used up. `reason` is "rate limited", "too many open" or "exhausted";
    `retry_after` (seconds) when waiting helps."""

    def __init__(self, message: str, *, reason: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry_after = retry_after
