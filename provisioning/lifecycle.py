"""The card life cycle: the states and the only transitions between them.

    blank ──provision──▶ provisioned (in stock) ──assign──▶ assigned ──activate──▶ active
    active ──temporary access──▶ unavailable ──reactivate──▶ active
    assigned | active | unavailable ──lost──▶ lost (disabled; a replacement can be assigned)
    lost ──found──▶ active    (it turned up and no replacement took its place)
    lost ──return──▶ returned ──wipe──▶ wiped   (the physical card is blank again, for reuse)
                     returned ──retire──▶ retired

`blank` is a registry row whose serial number was allocated for a card that has not yet
proved (by TEST) that it holds its new secret. `wiped` and `retired` are final for that serial
number: a wiped card is provisioned again under a new one.

A soft card (a card whose board is one of `SOFT_BOARDS`) goes blank -> provisioned -> assigned
-> active in one activation, then has a life cycle of its own (provisioning.softcard: active,
disabled, removed): every other action here is card-only and refused for it (`soft_refusal`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provisioning.errors import CardStateError, SoftCardRefusal

BLANK = "blank"
PROVISIONED = "provisioned"
ASSIGNED = "assigned"
ACTIVE = "active"
UNAVAILABLE = "unavailable"
LOST = "lost"
RETURNED = "returned"
WIPED = "wiped"
RETIRED = "retired"
DISABLED = "disabled"   # soft cards only (provisioning.softcard): no shipping, no return
REMOVED = "removed"

STATES = (BLANK, PROVISIONED, ASSIGNED, ACTIVE, UNAVAILABLE, LOST, RETURNED, WIPED, RETIRED,
          DISABLED, REMOVED)

# action -> (states it starts from, state it leads to)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "provision": ((BLANK,), PROVISIONED),
    "assign": ((PROVISIONED,), ASSIGNED),
    "activate": ((ASSIGNED,), ACTIVE),
    "temporary-access": ((ACTIVE,), UNAVAILABLE),
    "reactivate": ((UNAVAILABLE,), ACTIVE),
    "lost": ((ASSIGNED, ACTIVE, UNAVAILABLE), LOST),
    "found": ((LOST,), ACTIVE),
    "return": ((LOST,), RETURNED),
    "wipe": ((RETURNED,), WIPED),
    "retire": ((RETURNED,), RETIRED),
}

# What support can do with a card in each state: the hint in a refusal (in words of the
# operations, not of a command line: the `dsc` command adds its own, host_tools/cli/exits.py).
_NEXT_STEP = {
    BLANK: "its provisioning was never confirmed: provision it with the card attached",
    PROVISIONED: "it is in stock: assign it",
    ASSIGNED: "it waits for its first correct response or an activation",
    ACTIVE: "it is in use",
    UNAVAILABLE: "temporary access is running: reactivate the card to end it",
    LOST: "it is disabled: assign a replacement, record it as found when it turns up, or "
          "record it as returned",
    RETURNED: "wipe it for reuse or retire it",
    WIPED: "it was wiped: provision the card again (it gets a new serial number)",
    RETIRED: "it is retired for good",
    DISABLED: "the soft card is disabled: enable it again or remove it",
    REMOVED: "the soft card was removed: create a new one for the holder",
}


# How a refusal names each action ({} is the serial number).
_DOING = {
    "provision": "provision card {}",
    "assign": "assign card {}",
    "activate": "activate card {}",
    "temporary-access": "give temporary access in place of card {}",
    "reactivate": "reactivate card {}",
    "lost": "report card {} lost",
    "found": "record card {} as found",
    "return": "record card {} as returned",
    "wipe": "wipe card {}",
    "retire": "retire card {}",
}


def describe(status: str) -> str:
    return _NEXT_STEP.get(status, "unknown state")


def refusal(action: str, serial_number: str, status: str,
            allowed: tuple[str, ...]) -> CardStateError:
    """The error for `action` on a card in `status`: what it is, what to do, what it needs."""
    doing = _DOING.get(action, action + " card {}").format(serial_number)
    needs = ", ".join(allowed[:-1]) + " or " + allowed[-1] if len(allowed) > 1 else allowed[0]
    return CardStateError(f"cannot {doing}: it is {status} ({describe(status)}); that needs a "
                          f"card that is {needs}", serial_number=serial_number, status=status)


def target(action: str, serial_number: str, status: str) -> str:
    """The state `action` leads to from `status`, or a CardStateError saying what to do."""
    sources, dest = TRANSITIONS[action]
    if status not in sources:
        raise refusal(action, serial_number, status, sources)
    return dest


# Boards a soft card reports (the firmware in a browser page, docs/softcard.md).
SOFT_BOARDS = ("soft", "webassembly")
# The actions of the hardware life cycle a soft card takes: its activation's steps.
SOFT_SET_UP = ("provision", "assign", "activate")
# What a soft card may do instead, by the name provisioning.softcard gives each action.
SOFT_ACTIONS = {"active": ("disable", "remove"), "disabled": ("enable", "remove")}


def is_soft(board: object) -> bool:
    return board in SOFT_BOARDS


def soft_refusal(action: str, serial_number: str, status: str) -> SoftCardRefusal:
    """The error for a card-only `action` asked of a soft card: why, and what it can do."""
    doing = _DOING.get(action, action + " card {}").format(serial_number)
    can = SOFT_ACTIONS.get(status, ())
    then = (f"it can be {' or '.join(a + 'd' if a.endswith('e') else a + 'ed' for a in can)}"
            if can else describe(status))
    return SoftCardRefusal(f"cannot {doing}: it is a soft card ({status}), which is never "
                           f"shipped, returned, lost or replaced; {then} (a soft card on a "
                           f"lost phone is removed and a new one created)",
                           serial_number=serial_number, status=status)


def check_hardware(action: str, card: Mapping[str, Any]) -> None:
    """Refuse a card-only `action` for a soft card (`card` is its registry row)."""
    if is_soft(card["board"]) and action not in SOFT_SET_UP:
        raise soft_refusal(action, str(card["serial_number"]), str(card["status"]))


# States in which a card can answer a login challenge.
USABLE = (ASSIGNED, ACTIVE, UNAVAILABLE)
# States in which the card is held by users (its assignments stay current).
HELD = (ASSIGNED, ACTIVE, UNAVAILABLE, LOST)
