"""Soft cards: the firmware in a browser page (firmware/softcard), a second device beside the card.

- `create(reg, user)`: support makes a one-time activation code for a user who has a PIN.
  Only the code's SHA-256 is stored; the code expires after `ACTIVATION_SECONDS`.
- `claim(reg, code)`: the page presents the code; it is used up at once (a second use, or an
  expired or unknown code, is refused and the refusal logged) and names the user. The row is
  MACed under the master key (`integrity.TABLES`): a row planted or edited by SQL is refused.
- `activate(reg, client, user, ...)`: provisions the page's card through the same service
  protocol as a hardware card (`provisioner.provision_one`: INFO, PROVISION, AUTH, TEST), over
  whatever transport carries the frames; only after TEST proved the new secret is the card
  recorded, assigned to the user and active: a device of type `softcard` in the policy.
- Life cycle: active -> disabled -> active, active | disabled -> removed. No shipping, no
  return, no temporary access in its place: a lost phone's soft card is removed.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from host_tools.errors import DscError
from host_tools.text import printable
from provisioning import lifecycle, provisioner, support
from provisioning.db import Row
from provisioning.errors import (
    CardStateError,
    InvalidInputError,
    NotFoundError,
    ProvisioningError,
    TamperedRowError,
)
from provisioning.registry import Registry

ACTIVATION_SECONDS = 10 * 60
BOARD = "soft"                      # what the firmware's soft card board reports (INFO)
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"   # no 0/O, 1/I: typed by hand
CODE_LEN = 12                       # 60 bits
# The soft card's own life cycle (a hardware card's is lifecycle.TRANSITIONS): action ->
# (states it starts from, state it leads to).
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "disable": ((lifecycle.ACTIVE,), lifecycle.DISABLED),
    "enable": ((lifecycle.DISABLED,), lifecycle.ACTIVE),
    "remove": ((lifecycle.ACTIVE, lifecycle.DISABLED), lifecycle.REMOVED),
}
ACTIONS = tuple(TRANSITIONS)


class ActivationRefused(ProvisioningError):
    """The activation code is unknown, expired or already used (deliberately not told apart),
    or its row fails its MAC (told apart: it is written by someone without the master key)."""


@dataclass(frozen=True)
class Activation:
    user: str
    code: str            # shown once, to the holder; never logged
    expires_at: int

    def as_json(self) -> dict[str, Any]:
        return {"user": self.user, "code": self.code, "expires_at": self.expires_at}


def code_hash(code: str) -> str:
    return hashlib.sha256(normalise(code).encode()).hexdigest()


def normalise(code: str) -> str:
    """What the holder typed (lower case, with dashes or spaces) as the code it means."""
    return "".join(ch for ch in code.upper() if ch not in " -")


def pretty(code: str) -> str:
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def create(reg: Registry, user: str) -> Activation:
    """A one-time activation code for a new soft card of `user`, who must have a PIN (the PIN is
    one per user, for all their devices: the soft card takes the one chosen for the card)."""
    with reg.db.transaction():
        urow = reg.db.one("SELECT id, pin_enc FROM users WHERE name = ?", (user,))
        if urow is None:
            raise NotFoundError(f"no user {user}")
        if urow["pin_enc"] is None:
            raise InvalidInputError(f"user {user} has no PIN yet: set one first")
        code = "".join(secrets.choice(_ALPHABET) for _ in range(CODE_LEN))
        now = reg.now()
        reg.insert("softcard_activations", code_hash=code_hash(code), user_name=user,
                   created_at=now, expires_at=now + ACTIVATION_SECONDS)  # and MACs it
        reg.log("softcard-code", "issued", user=user,
                detail={"expires_at": now + ACTIVATION_SECONDS})
    return Activation(user, pretty(code), now + ACTIVATION_SECONDS)


def claim(reg: Registry, code: str) -> str:
    """Use up `code`: the user it was made for. Refusals are logged, the code never."""
    return take(reg, code)[0]


def take(reg: Registry, code: str) -> tuple[str, int]:
    """`claim`, with the activation's row id (for `activate` to note the card it made).

    The row's MAC is checked before anything in it counts: a row inserted by SQL, or one whose
    `used_at`, `user_name` or `expires_at` was edited, is refused (`TamperedRowError`, logged
    as `integrity` / `refused`), nothing is used up, and `ActivationRefused` says so."""
    digest = code_hash(code)
    row: Row | None = None
    try:
        with reg.db.transaction():
            row = reg.db.one("SELECT * FROM softcard_activations WHERE code_hash = ?", (digest,),
                             lock=True)
            if row is not None:
                reg.checked("softcard_activations", row)  # logged after the rollback
            now = reg.now()
            if row is not None and row["used_at"] is None and now < int(row["expires_at"]):
                used = reg.update_where("softcard_activations", "id = ? AND used_at IS NULL",
                                        (row["id"],), used_at=now)
                if len(used) == 1:
                    reg.log("softcard-code", "claimed", user=str(row["user_name"]),
                            detail={"code": row["id"]})
                    return str(row["user_name"]), int(row["id"])
    except TamperedRowError as e:
        with reg.db.transaction():
            reg.log("softcard-code", "refused",
                    detail={"why": "tampered", **({"code": row["id"]} if row is not None else {})})
        raise ActivationRefused("this activation code's record fails its integrity check (it "
                                "was not written by the registry): nothing was done and the "
                                "refusal is logged; ask support for a new code") from e
    why = "unknown" if row is None else "used" if row["used_at"] is not None else "expired"
    with reg.db.transaction():
        reg.log("softcard-code", "refused",
                detail={"why": why, **({"code": row["id"]} if row is not None else {})})
    raise ActivationRefused("this activation code is not valid (unknown, expired or already "
                            "used): ask support for a new one")


def activate(reg: Registry, client: provisioner.Client, user: str,
             master_admin_key: bytes, derive: provisioner.DeriveKey,
             opts: provisioner.Options | None = None,
             activation_id: int | None = None) -> str:
    """Provision the page's card over `client` and give it to `user`, active. Its serial number.
    `activation_id` (from `take`) is the activation whose row notes the card.

    The card is recorded, assigned and activated in one transaction after TEST proved it holds
    the new seed: a link that drops before that leaves no device (at most the `blank` row of
    an allocated serial number, which a retry with a new code resumes). A failure is audited
    (`softcard-activate` / `failed`, with why) and raised."""
    def record(serial: str) -> None:
        support.assign(reg, serial, user, None)
        support.activate(reg, serial, reason="softcard-activation")
        if activation_id is not None:
            # MAC checked and renewed: a row edited since `take` undoes the whole recording
            reg.update_where("softcard_activations", "id = ? AND user_name = ?",
                             (activation_id, user), serial_number=serial)

    try:
        info = client.info()
        if info.board != BOARD:
            raise InvalidInputError(f"a soft card reports board {BOARD!r}, not "
                                    f"{printable(str(info.board))!r}")
        done = provisioner.provision_one(reg, client, master_admin_key, derive,
                                         opts or provisioner.Options(), then=record)
    except (ProvisioningError, DscError) as e:
        with reg.db.transaction():
            reg.log("softcard-activate", "failed", user=user,
                    detail={"why": type(e).__name__, "message": str(e)[:200]})
        raise
    return done.serial_number


def set_state(reg: Registry, serial_number: str, action: str) -> str:
    """disable, enable or remove a soft card; the new status."""
    if action not in ACTIONS:
        raise InvalidInputError(f"unknown action {action}; one of {', '.join(ACTIONS)}")
    with reg.db.transaction():
        card = reg.card_row(serial_number, lock=True)
        if not lifecycle.is_soft(card["board"]):
            raise CardStateError(f"card {serial_number} is not a soft card: {action} is for "
                                 f"soft cards ({lifecycle.describe(str(card['status']))})",
                                 serial_number=serial_number, status=str(card["status"]))
        sources, status = TRANSITIONS[action]
        if card["status"] not in sources:
            raise CardStateError(f"cannot {action} soft card {serial_number}: it is "
                                 f"{card['status']} ({lifecycle.describe(str(card['status']))})",
                                 serial_number=serial_number, status=str(card["status"]))
        reg.update("cards", card, status=status, status_at=reg.now())
        reg.log("softcard-" + action, "ok", serial_number=serial_number)
    return status


def check_code(code: str) -> bool:
    """A typed code has the right form (a cheap check before any database work)."""
    n = normalise(code)
    return len(n) == CODE_LEN and all(ch in _ALPHABET for ch in n)
