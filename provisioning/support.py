"""Support operations on cards and users: assign, activate, lost, found, replace, return,
wipe, retire, PIN reset, unlock, and the views `dsc show` prints.

Each is one transaction with its audit entry; a refusal changes nothing. An assigned card
whose automatic-activation day has come is activated when it is next used or looked at
(a login, `show`, `list`), so no scheduled job is needed; `activate_due` does it for all.
"""

from __future__ import annotations

from typing import Any

from provisioning import audit, lifecycle, ocra_check, temporary
from provisioning.db import Row
from provisioning.errors import CardStateError, InvalidInputError, UserStateError
from provisioning.registry import CardView, Registry
from provisioning.timeutil import DAY


class PinConflict(InvalidInputError):
    """`assign` refuses to change a user's PIN implicitly. `kind` is "replace" (the user has
    a PIN, and one was given without asking to replace it) or "length" (the card takes PINs
    of another length than the user's)."""

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def _ensure_user(reg: Registry, name: str) -> Row:
    if not name or len(name) > 200 or not name.isprintable() or name != name.strip():
        raise InvalidInputError("a user name must be 1 to 200 printable characters, no "
                                "leading or trailing spaces")
    row = reg.db.one("SELECT * FROM users WHERE name = ?", (name,), lock=True)
    if row is None:
        return reg.insert("users", name=name, created_at=reg.now())
    return reg.checked("users", row)


def _set_pin(reg: Registry, user: Row, pin: str, pin_len: int) -> None:
    ocra_check.check_pin(pin, pin_len)
    sealed = reg.seal(ocra_check.pin_material(pin), "users", "pin_enc", user["name"])
    reg.update("users", user, pin_enc=sealed, pin_len=pin_len)


def _pin_length(reg: Registry, user: Row) -> int | None:
    """How many digits the user's PIN has (None: no PIN, or unknown from before the registry
    kept it and no current card says)."""
    if user["pin_enc"] is None:
        return None
    if user["pin_len"] is not None:
        return int(user["pin_len"])
    lens = {int(c["pin_len"]) for c in _user_cards(reg, user["id"])
            if ocra_check.suite_info(c["suite"]).pin_hash}
    return lens.pop() if len(lens) == 1 else None


def current_users(reg: Registry, card_id: int) -> list[Row]:
    return reg.db.all("SELECT a.id AS assignment_id, u.* FROM assignments a "
                      "JOIN users u ON u.id = a.user_id "
                      "WHERE a.card_id = ? AND a.ended_at IS NULL ORDER BY u.name", (card_id,))


def assign(reg: Registry, serial_number: str, user: str, pin: str | None,
           replace_pin: bool = False) -> str:
    """Give the card to `user` (created if new) with the PIN chosen when ordering.

    A card already assigned or active may serve one more user. It is one PIN per user, for all
    their cards: for a user who has one, leave `pin` out; giving one anyway is refused unless
    `replace_pin` (it then changes for all their cards). A card that takes PINs of another
    length than the user's is refused (the keypad would never take the PIN)."""
    with reg.db.transaction():
        # Lock order everywhere: user, then card, then the audit head (no deadlocks on
        # PostgreSQL between an assignment and a verification).
        urow = _ensure_user(reg, user)
        card = reg.card_row(serial_number, lock=True)
        if lifecycle.is_soft(card["board"]) and card["status"] != lifecycle.PROVISIONED:
            # a soft card is one holder's, given at its activation: never a second holder
            raise lifecycle.soft_refusal("assign", serial_number, str(card["status"]))
        shared = (lifecycle.ASSIGNED, lifecycle.ACTIVE)  # one more user on a card in use
        if card["status"] not in (lifecycle.PROVISIONED, *shared):
            raise lifecycle.refusal("assign", serial_number, card["status"],
                                    (lifecycle.PROVISIONED, *shared))
        if any(u["id"] == urow["id"] for u in current_users(reg, card["id"])):
            raise InvalidInputError(f"card {serial_number} is already assigned to {user}")
        info = ocra_check.suite_info(card["suite"])
        if info.pin_hash:
            _check_pin_fits(reg, urow, serial_number, int(card["pin_len"]), pin, replace_pin)
        if pin is not None:
            _set_pin(reg, urow, pin, int(card["pin_len"]))
        elif urow["pin_enc"] is None and info.pin_hash:
            raise InvalidInputError(f"user {user} has no PIN yet: give the PIN the user chose",
                                    field="pin")
        if any(u["id"] == urow["id"] for u in current_users(reg, card["id"])):
            raise InvalidInputError(f"card {serial_number} is already assigned to {user}")
        reg.insert("assignments", card_id=card["id"], user_id=urow["id"], assigned_at=reg.now())
        status = str(card["status"])
        if status == lifecycle.PROVISIONED:
            status = reg.set_status(card, "assign")
        reg.log("assign", "ok", serial_number=serial_number, user=user,
                detail={"pin_set": pin is not None, "pin_replaced": pin is not None and
                        urow["pin_enc"] is not None})
    return status


def _check_pin_fits(reg: Registry, urow: Row, serial_number: str, card_len: int,
                    pin: str | None, replace_pin: bool) -> None:
    name = urow["name"]
    if pin is not None and urow["pin_enc"] is not None and not replace_pin:
        raise PinConflict(f"{name} already has a PIN, used for all their cards: assign without "
                          f"a PIN to keep it, or ask explicitly to replace it", kind="replace")
    if pin is None:
        have = _pin_length(reg, urow)
        if have is not None and have != card_len:
            raise PinConflict(f"card {serial_number} takes {card_len}-digit PINs but the PIN "
                              f"of {name} has {have} digits, which its keypad would refuse: "
                              f"assign a card for {have}-digit PINs, or replace the PIN with "
                              f"a {card_len}-digit one", kind="length")
        return
    others = sorted({int(c["pin_len"]) for c in _user_cards(reg, urow["id"])
                     if ocra_check.suite_info(c["suite"]).pin_hash} - {card_len})
    if others:
        raise PinConflict(f"card {serial_number} takes {card_len}-digit PINs but the other "
                          f"cards of {name} take {others[0]}-digit ones, and it is one PIN "
                          f"for all: assign a card for {others[0]}-digit PINs", kind="length")


def activate(reg: Registry, serial_number: str, reason: str = "support") -> None:
    """Activate an assigned card; the temporary access it stands in for (a replacement's,
    say) ends with it."""
    with reg.db.transaction():
        card = reg.card_row(serial_number, lock=True)
        reg.set_status(card, "activate")
        reg.log("activate", "ok", serial_number=serial_number, detail={"by": reason})
        temporary.end_for_card(reg, card["id"], "card activated")


def _due(reg: Registry) -> int:
    return reg.now() - reg.policy.auto_activate_days * DAY


def auto_activate(reg: Registry, card: Row) -> Row:
    """Inside a transaction: activate an assigned card whose waiting time has run out."""
    if card["status"] != lifecycle.ASSIGNED or int(card["status_at"]) > _due(reg):
        return card
    reg.set_status(card, "activate")
    reg.log("activate", "ok", serial_number=card["serial_number"], detail={"by": "schedule"})
    temporary.end_for_card(reg, card["id"], "card activated")
    return reg.card_row(card["serial_number"])


def activate_due(reg: Registry) -> list[str]:
    """Activate every assigned card whose automatic-activation day has come."""
    sql = "SELECT * FROM cards WHERE status = ? AND status_at <= ? ORDER BY serial_number"
    if not reg.db.all(sql, (lifecycle.ASSIGNED, _due(reg))):
        return []  # the common case: no write (and no write lock) for a look
    done = []
    with reg.db.transaction():
        for card in reg.db.all(sql, (lifecycle.ASSIGNED, _due(reg)), lock=True):
            if auto_activate(reg, card)["status"] == lifecycle.ACTIVE:
                done.append(card["serial_number"])
    return done


def card_view(reg: Registry, serial_number: str) -> CardView:
    """The card as `dsc show` prints it (activated first when its day has come)."""
    card = reg.card_row(serial_number)
    if card["status"] == lifecycle.ASSIGNED and int(card["status_at"]) <= _due(reg):
        with reg.db.transaction():
            auto_activate(reg, reg.card_row(serial_number, lock=True))
    return reg.card(serial_number)


def card_list(reg: Registry, status: str | None = None) -> list[CardView]:
    """The cards as `dsc list` prints them (the ones due activated first)."""
    activate_due(reg)
    return reg.cards(status)


def mark_lost(reg: Registry, serial_number: str) -> None:
    with reg.db.transaction():
        card = reg.card_row(serial_number, lock=True)
        reg.set_status(card, "lost")
        users = [u["name"] for u in current_users(reg, card["id"])]
        reg.log("lost", "ok", serial_number=serial_number, detail={"users": users})


def replace(reg: Registry, old: str, new: str) -> list[str]:
    """Hand a stock card to every user of a lost or damaged one; returns those users."""
    with reg.db.transaction():
        old_card = reg.card_row(old, lock=True)
        new_card = reg.card_row(new, lock=True)
        lifecycle.check_hardware("replace", old_card)
        lifecycle.check_hardware("replace", new_card)
        if old_card["status"] != lifecycle.LOST:
            raise CardStateError(
                f"cannot replace card {old}: it is {old_card['status']} "
                f"({lifecycle.describe(old_card['status'])}); report it lost first",
                serial_number=old, status=old_card["status"], reason="not lost")
        lifecycle.target("assign", new, new_card["status"])
        users = current_users(reg, old_card["id"])
        if not users:
            raise UserStateError(f"card {old} has no users to hand a replacement to")
        now = reg.now()
        for u in users:
            reg.update_where("assignments", "id = ?", (u["assignment_id"],), ended_at=now)
            reg.insert("assignments", card_id=new_card["id"], user_id=u["id"], assigned_at=now)
        temporary.hand_over(reg, old_card["id"], new_card["id"])
        reg.set_status(new_card, "assign")
        names = [u["name"] for u in users]
        reg.log("replace", "ok", serial_number=new, detail={"replaces": old, "users": names})
    return names


def _end_assignments(reg: Registry, card_id: int) -> None:
    reg.update_where("assignments", "card_id = ? AND ended_at IS NULL", (card_id,),
                     ended_at=reg.now())


def return_card(reg: Registry, serial_number: str) -> None:
    with reg.db.transaction():
        card = reg.card_row(serial_number, lock=True)
        reg.set_status(card, "return")
        _end_assignments(reg, card["id"])
        reg.log("return", "ok", serial_number=serial_number)


def found(reg: Registry, serial_number: str) -> str:
    """A lost card turned up: active again when no replacement took its place (its users
    still hold it; the temporary access standing in for it ends), else returned. Returns the
    new status."""
    with reg.db.transaction():
        card = reg.card_row(serial_number, lock=True)
        lifecycle.check_hardware("found", card)
        lifecycle.target("found", serial_number, card["status"])
        users = [u["name"] for u in current_users(reg, card["id"])]
        if users:
            status = reg.set_status(card, "found")
            temporary.end_for_card(reg, card["id"], "card found")
        else:  # replaced: its users moved to the replacement
            status = reg.set_status(card, "return")
        reg.log("found", "ok", serial_number=serial_number,
                detail={"status": status, "users": users})
    return status


def check_can(reg: Registry, serial_number: str, action: str) -> Row:
    """Refuse early (before touching a card) when the registry would refuse `action`."""
    card = reg.card_row(serial_number)
    lifecycle.check_hardware(action, card)
    lifecycle.target(action, serial_number, card["status"])
    return card


def finish(reg: Registry, serial_number: str, action: str) -> None:
    """Wipe or retire: the registry forgets the card's secrets for good."""
    with reg.db.transaction():
        card = reg.card_row(serial_number, lock=True)
        reg.set_status(card, action)
        reg.update("cards", card, seed_enc=None, admin_key_enc=None)
        reg.log(action, "ok", serial_number=serial_number)


def reset_pin(reg: Registry, user: str, pin: str) -> None:
    """Set a forgotten PIN anew (support checked the holder's identity first)."""
    with reg.db.transaction():
        urow = reg.user_row(user, lock=True)
        lens = {int(r["pin_len"]) for r in _user_cards(reg, urow["id"])} or \
            {int(urow["pin_len"] or 4)}
        if len(lens) > 1:
            raise InvalidInputError(f"the cards of {user} have different PIN lengths "
                                    f"({sorted(lens)}): unsupported")
        _set_pin(reg, urow, pin, lens.pop())
        reg.log("reset-pin", "ok", user=user)


def recent_failures(urow: Row, now: int, window: int) -> list[int]:
    """Times of the user's current run of failures that fall within the window, oldest first."""
    text = urow["failure_times"]
    if text:
        times = [int(t) for t in str(text).split()]
    elif urow["failures"] and urow["failures_since"] is not None:
        # a row last written before schema v2 kept only the count and the first time
        times = [int(urow["failures_since"])] * int(urow["failures"])
    else:
        times = []
    return [t for t in times if now - t < window]


def unlock(reg: Registry, user: str) -> bool:
    """Clear the failure count and any lock; True when the user was locked."""
    with reg.db.transaction():
        urow = reg.user_row(user, lock=True)
        was = urow["locked_until"] is not None and int(urow["locked_until"]) > reg.now()
        reg.update("users", urow, failures=0, failures_since=None, failure_times=None,
                   locked_until=None)
        reg.log("unlock", "ok", user=user, detail={"was_locked": was})
    return was


def _user_cards(reg: Registry, user_id: int) -> list[Row]:
    return reg.db.all("SELECT c.* FROM assignments a JOIN cards c ON c.id = a.card_id "
                      "WHERE a.user_id = ? AND a.ended_at IS NULL ORDER BY c.serial_number",
                      (user_id,))


def user_view(reg: Registry, name: str) -> dict[str, Any]:
    urow = reg.user_row(name)
    for card in _user_cards(reg, urow["id"]):
        card_view(reg, card["serial_number"])  # activated when its day has come
    now = reg.now()
    locked = urow["locked_until"] is not None and int(urow["locked_until"]) > now
    temp = reg.db.all("SELECT t.kind, t.issued_at, t.full_until, t.expires_at, "
                      "c.serial_number AS in_place_of FROM temp_access t "
                      "LEFT JOIN cards c ON c.id = t.card_id WHERE t.user_id = ? "
                      "AND t.ended_at IS NULL AND t.expires_at > ? ORDER BY t.id",
                      (urow["id"], now))
    return {
        "user": name,
        "cards": [{"serial_number": c["serial_number"], "status": c["status"],
                   "suite": c["suite"], "development": bool(c["development"])}
                  for c in _user_cards(reg, urow["id"])],
        "pin_set": urow["pin_enc"] is not None,
        "failures": len(recent_failures(urow, now, reg.policy.failure_window)),
        "locked_until": int(urow["locked_until"]) if locked else None,
        "status": "locked" if locked else "ok",
        "temporary_access": [dict(t) for t in temp],
    }


def users(reg: Registry) -> list[str]:
    return [r["name"] for r in reg.db.all("SELECT name FROM users ORDER BY name")]


def verify_audit(reg: Registry, expect: str | None = None) -> tuple[int, str]:
    """Check the audit chains, their heads and checkpoints: (entries, head hash).

    `expect` is a head hash quoted outside the database earlier (a ticket, a daily mail): the
    log must still hold that state (as its head now or as a checkpoint's). That is what finds
    a tail cut back by putting older head rows (with their valid MACs) back in place, or a whole
    database restored from an older copy — nothing inside the database can."""
    anchor = None
    if expect is not None:
        anchor = expect.strip().lower()
        if len(anchor) != 64 or any(c not in "0123456789abcdef" for c in anchor):
            raise InvalidInputError("the expected head hash is 64 hex digits, as `audit "
                                    "--verify` printed it")
    return audit.verify(reg.db, reg.sealer, expect=anchor)
