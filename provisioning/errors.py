"""Exceptions of the provisioning package: one base class, subclasses that carry data.

They carry facts and data (status, reason, attempts left), never an exit status or an option
name: the `dsc` command (host_tools/cli/exits.py) decides how each one is reported. None of them
ever carries a secret. Errors of the host tools underneath (a card that does not answer, ...)
pass through as `host_tools.errors.DscError`.
"""

from __future__ import annotations

from enum import StrEnum


class ProvisioningError(Exception):
    """Base of every error raised by the provisioning package. `field` names the input to
    blame (`pin_len`, `pin`, ...) when one is, so a caller can point at its way of giving it."""

    def __init__(self, message: str = "", *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class RegistryError(ProvisioningError):
    """The registry database cannot be opened, is of an unknown version, or failed. `reason`,
    when set: "no registry" (nothing at the URL), "not initialised" (no key check yet),
    "not a registry" (a database without the schema) or "old schema" (one this program
    migrates)."""

    def __init__(self, message: str = "", *, field: str | None = None,
                 reason: str | None = None) -> None:
        super().__init__(message, field=field)
        self.reason = reason


class WriteConflict(RegistryError):
    """A pipelined write found its row changed since it was read (`Database.send_one_change`):
    the transaction was rolled back, nothing changed; repeating it on fresh rows is safe."""

    def __init__(self) -> None:
        super().__init__("registry write conflict: a row changed while this transaction ran "
                         "(rolled back, nothing changed; try again)")


class MasterKeyError(ProvisioningError):
    """The master key file is missing, unreadable, malformed or does not fit the registry.
    `reason`, when set: "no key file" or "exposed" (others can read the file)."""

    def __init__(self, message: str = "", *, field: str | None = None,
                 reason: str | None = None) -> None:
        super().__init__(message, field=field)
        self.reason = reason


class NotFoundError(ProvisioningError):
    """A card, user or challenge the command names is not in the registry."""


class InvalidInputError(ProvisioningError):
    """An argument or input file is wrong (bad PIN, unknown suite, ...); nothing changed."""


class NoPinError(InvalidInputError):
    """The card's suite hashes a PIN into every response and the user has none on record."""


class CardStateError(ProvisioningError):
    """The card's life-cycle status does not allow the operation; `status` says which it is.
    `reason`, when set, names the step the operation needs first ("not lost": report it lost)."""

    reason: str | None = None

    def __init__(self, message: str, *, serial_number: str, status: str,
                 reason: str | None = None) -> None:
        super().__init__(message)
        self.serial_number = serial_number
        self.status = status
        if reason is not None:
            self.reason = reason


class SoftCardRefusal(CardStateError):
    """A card-only action (lost, found, replace, return, wipe, retire, temporary access, a
    second holder) asked of a soft card, whose life cycle is active, disabled, removed.
    `reason` is the problem reason the service answers with."""

    reason = "softcard-action"


class UserStateError(ProvisioningError):
    """The user has no card in a state the operation needs (e.g. nothing to reactivate)."""


class Reason(StrEnum):
    """Why a response, passcode or code was refused. The values are the words the registry
    has always reported (JSON, audit log), so a Reason compares equal to its old string."""

    WRONG = "wrong"
    EXPIRED = "expired"
    ALREADY_USED = "already used"
    LOCKED = "locked"
    NO_ACTIVE_CARD = "no active card"
    UNKNOWN_CHALLENGE = "unknown challenge"


class VerificationRejected(ProvisioningError):
    """A response, passcode or code was refused; `reason` says why (a `Reason`)."""

    def __init__(self, message: str, *, reason: Reason,
                 attempts_remaining: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.attempts_remaining = attempts_remaining


class ProvisionFailed(ProvisioningError):
    """A card could not be provisioned; it was not recorded as provisioned. `reason`:
    "retry" when provisioning the same card again may well succeed (a step failed, the lock
    or the new secret was not confirmed), else what stands in the way ("unknown card",
    "other card", "already provisioned")."""

    def __init__(self, message: str, *, serial_number: str | None = None,
                 reason: str | None = None) -> None:
        super().__init__(message)
        self.serial_number = serial_number
        self.reason = reason


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
