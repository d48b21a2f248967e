"""Login verification: challenges, responses, the failure counter and locks, PIN change and
reactivation.

A verification is one transaction. It first locks the user's row (`SELECT ... FOR UPDATE` on
PostgreSQL; SQLite's `BEGIN IMMEDIATE` already holds the write lock), so concurrent attempts
for one user run one after the other and the failure count is exact. A challenge is single use:
any attempt consumes it, right or wrong.

Failure counting is a sliding window: the user's row keeps the time of each failure of the
current run (no success in between). When a failure makes `max_failures` of them fall within
the last `failure_window` seconds, the user is locked for `lock_seconds` and the run starts
afresh; failures older than the window drop out one by one. Any accepted method (card,
passcode, security card) clears the run. Unknown, expired or reused challenges, attempts while
locked, and a correct response from a card that is unavailable are refused without counting:
they prove nothing against the holder. Every outcome goes to the audit log (never the response
itself).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from host_tools.cli.options import when
from provisioning import lifecycle, ocra_check, support, temporary
from provisioning.db import Row
from provisioning.errors import (
    CardStateError,
    InvalidInputError,
    UserStateError,
    VerificationRejected,
)
from provisioning.registry import Registry

REASONS = ("wrong", "expired", "already used", "locked", "no active card", "unknown challenge")


@dataclass(frozen=True)
class Challenge:
    id: str
    challenge: str
    expires_at: int
    user: str
    serial_number: str | None
    cells: str | None          # security-card cells to answer, when the user has one

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Outcome:
    accepted: bool
    user: str
    reason: str | None = None              # one of REASONS when rejected
    method: str | None = None              # "card", "passcode" or "security-card"
    access: str | None = None              # "full" or "portal-only"
    serial_number: str | None = None
    attempts_remaining: int | None = None
    locked_until: int | None = None
    hint: str | None = None                # what to do instead, when there is something

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        # portal-only is a status of its own: a caller that only looks at `status` must not
        # grant full access
        out["status"] = ("rejected" if not self.accepted else
                         "portal-only" if self.access == "portal-only" else "accepted")
        return out

    def describe(self) -> str:
        if self.accepted:
            via = f"card {self.serial_number}" if self.method == "card" else self.method
            return f"accepted: {self.user} by {via}, {self.access} access"
        if self.reason == "locked" and self.locked_until is not None:
            return f"rejected: locked (until {when(self.locked_until)}; `dsc unlock` ends it early)"
        text = f"rejected: {self.reason}"
        if self.locked_until is not None:
            return f"{text}; the user is now locked until {when(self.locked_until)}"
        if self.attempts_remaining is not None and self.reason == "wrong":
            left = self.attempts_remaining
            text += f" ({left} attempt{'' if left == 1 else 's'} left before the user is locked)"
        if self.hint:
            text += f" ({self.hint})"
        return text


# --- challenges -----------------------------------------------------------------------------
def _usable_cards(reg: Registry, user_id: int) -> list[Row]:
    assert len(lifecycle.USABLE) == 3
    return reg.db.all("SELECT c.* FROM assignments a JOIN cards c ON c.id = a.card_id "
                      "WHERE a.user_id = ? AND a.ended_at IS NULL AND c.status IN (?, ?, ?) "
                      "ORDER BY c.serial_number", (user_id, *lifecycle.USABLE))


def _choose_card(reg: Registry, user: Row, serial_number: str | None) -> Row | None:
    cards = _usable_cards(reg, user["id"])
    if serial_number is not None:
        for card in cards:
            if card["serial_number"] == serial_number:
                return card
        raise UserStateError(f"{user['name']} holds no usable card {serial_number}")
    if len(cards) > 1:
        names = ", ".join(c["serial_number"] for c in cards)
        raise UserStateError(f"{user['name']} holds several cards ({names}): choose one "
                             f"with --serial-number")
    return cards[0] if cards else None


def issue_challenge(reg: Registry, user: str, serial_number: str | None = None) -> Challenge:
    """A fresh random challenge for the user's card (or temporary access), single use."""
    with reg.db.transaction():
        urow = reg.user_row(user)
        now = reg.now()
        card = _choose_card(reg, urow, serial_number)
        grid = temporary.active_grid(reg, urow["id"], now)
        if card is None and not temporary.has_access(reg, urow["id"], now):
            raise UserStateError(f"{user} has no active card and no temporary access")
        info = ocra_check.suite_info(card["suite"]) if card else None
        digits = ocra_check.new_challenge(info) if info else "".join(
            secrets.choice("0123456789") for _ in range(6))
        cells = temporary.new_cells() if grid else None
        cid = secrets.token_hex(8)
        expires = now + reg.policy.challenge_ttl
        reg.db.execute("DELETE FROM challenges WHERE expires_at < ?", (now - 86400,))
        reg.db.execute("INSERT INTO challenges (id, user_id, card_id, challenge, cells, "
                       "issued_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (cid, urow["id"], card["id"] if card else None, digits, cells, now,
                        expires))
    return Challenge(id=cid, challenge=digits, expires_at=expires, user=user,
                     serial_number=card["serial_number"] if card else None, cells=cells)


# --- the shared attempt -------------------------------------------------------------------------
Check = Callable[[Registry, Row, Row, Row | None], Outcome | None]


def _consume(reg: Registry, urow: Row, challenge_id: str) -> tuple[Row | None, Outcome | None]:
    """Lock checks and single use; (challenge, None) to go on, (None, rejection) to stop."""
    now, name = reg.now(), urow["name"]
    if urow["locked_until"] is not None and int(urow["locked_until"]) > now:
        return None, Outcome(False, name, "locked", locked_until=int(urow["locked_until"]))
    ch = reg.db.one("SELECT * FROM challenges WHERE id = ? AND user_id = ?",
                    (challenge_id, urow["id"]))
    if ch is None:
        return None, Outcome(False, name, "unknown challenge")
    if ch["used_at"] is not None:
        return None, Outcome(False, name, "already used")
    reg.db.execute("UPDATE challenges SET used_at = ? WHERE id = ?", (now, challenge_id))
    if int(ch["expires_at"]) <= now:
        return None, Outcome(False, name, "expired")
    return ch, None


def _count_failure(reg: Registry, urow: Row) -> Outcome:
    """One more failure; the one that puts `max_failures` inside the window locks the user.

    Read-modify-write is exact: the caller holds the user's row lock for the transaction."""
    now, pol = reg.now(), reg.policy
    times = [*support.recent_failures(urow, now, pol.failure_window), now]
    if len(times) < pol.max_failures:
        reg.db.execute("UPDATE users SET failures = ?, failures_since = ?, failure_times = ? "
                       "WHERE id = ?", (len(times), times[0], " ".join(map(str, times)),
                                        urow["id"]))
        return Outcome(False, urow["name"], "wrong",
                       attempts_remaining=pol.max_failures - len(times))
    until = now + pol.lock_seconds
    reg.db.execute("UPDATE users SET locked_until = ?, failures = 0, failures_since = NULL, "
                   "failure_times = NULL WHERE id = ?", (until, urow["id"]))
    reg.log("lock", "locked", user=urow["name"],
            detail={"failures": len(times), "since": times[0], "until": until})
    return Outcome(False, urow["name"], "wrong", attempts_remaining=0, locked_until=until)


def _attempt(reg: Registry, user: str, challenge_id: str, action: str, check: Check) -> Outcome:
    with reg.db.transaction():
        urow = reg.user_row(user, lock=True)
        ch, outcome = _consume(reg, urow, challenge_id)
        if ch is not None:
            card = None
            if ch["card_id"] is not None:
                card = reg.db.one("SELECT * FROM cards WHERE id = ?",
                                  (ch["card_id"],), lock=True)
                card = support.auto_activate(reg, card) if card else None
            outcome = check(reg, urow, ch, card)
            if outcome is None:
                outcome = _count_failure(reg, urow)
            if outcome.serial_number is None and card is not None:
                outcome = replace(outcome, serial_number=card["serial_number"])
            if outcome.accepted and (urow["failures"] or urow["failure_times"]):
                reg.db.execute("UPDATE users SET failures = 0, failures_since = NULL, "
                               "failure_times = NULL WHERE id = ?", (urow["id"],))
        assert outcome is not None
        detail = {k: v for k, v in (("reason", outcome.reason), ("method", outcome.method),
                                    ("access", outcome.access), ("challenge", challenge_id),
                                    ("attempts_remaining", outcome.attempts_remaining))
                  if v is not None}
        reg.log(action, "accepted" if outcome.accepted else "rejected",
                serial_number=outcome.serial_number, user=user, detail=detail)
    return outcome


def _pin_of(reg: Registry, urow: Row) -> bytes | None:
    if urow["pin_enc"] is None:
        return None
    return reg.unseal(urow["pin_enc"], "users", "pin_enc", urow["name"])


def _ocra_ok(reg: Registry, card: Row, ch: Row, material: bytes | None, response: str) -> bool:
    info = ocra_check.suite_info(card["suite"])
    if info.pin_hash and material is None:
        return False
    seed = reg.unseal(card["seed_enc"], "cards", "seed_enc", card["serial_number"])
    matched = ocra_check.match(info, seed, ch["challenge"], material, response,
                               counter=int(card["counter"]), now=reg.now())
    if matched is None:
        return False
    if info.counter:
        reg.db.execute("UPDATE cards SET counter = ? WHERE id = ?", (matched + 1, card["id"]))
    return True


# --- the commands -------------------------------------------------------------------------------
def verify(reg: Registry, user: str, challenge_id: str, response: str) -> Outcome:
    """Accept a card response, or a temporary passcode / security-card code in its place."""
    response = response.strip()

    def check(reg: Registry, urow: Row, ch: Row, card: Row | None) -> Outcome | None:
        name = urow["name"]
        now = reg.now()
        card_ok = card is not None and card["status"] in (lifecycle.ASSIGNED, lifecycle.ACTIVE)
        temp = temporary.valid_rows(reg, urow["id"], now)
        if not card_ok and not temp:
            return Outcome(False, name, "no active card",
                           serial_number=card["serial_number"] if card else None)
        if card_ok and card is not None and _ocra_ok(reg, card, ch, _pin_of(reg, urow), response):
            if card["status"] == lifecycle.ASSIGNED:  # the first correct response activates
                # (ends the temporary access standing in for it, a replacement's say)
                support.activate(reg, card["serial_number"], reason="first response")
            return Outcome(True, name, method="card", access="full",
                           serial_number=card["serial_number"])
        found = temporary.match(reg, temp, ch, response, now)
        if found:
            method, access = found
            return Outcome(True, name, method=method, access=access)
        if card is not None and card["status"] == lifecycle.UNAVAILABLE and \
                _ocra_ok(reg, card, ch, _pin_of(reg, urow), response):
            # The holder has the card back: not a failure, but login goes through reactivation.
            return Outcome(False, name, "no active card", serial_number=card["serial_number"],
                           hint=f"card {card['serial_number']} is unavailable while temporary "
                                f"access runs: take a new challenge and end that with "
                                f"`dsc reactivate`")
        return None

    return _attempt(reg, user, challenge_id, "verify", check)


def change_pin(reg: Registry, user: str, challenge_id: str, response: str, new_pin: str) -> None:
    """Store `new_pin` only when the card's response, computed with it, matches."""
    response = response.strip()
    if not (new_pin.isascii() and new_pin.isdigit()):
        raise InvalidInputError("the new PIN must be digits only")
    material = ocra_check.pin_material(new_pin)

    def check(reg: Registry, urow: Row, ch: Row, card: Row | None) -> Outcome | None:
        card = _require(card, lifecycle.ACTIVE, urow["name"], "change the PIN")
        ocra_check.check_pin(new_pin, int(card["pin_len"]))
        if not _ocra_ok(reg, card, ch, material, response):
            return None
        sealed = reg.seal(material, "users", "pin_enc", urow["name"])
        reg.db.execute("UPDATE users SET pin_enc = ? WHERE id = ?", (sealed, urow["id"]))
        return Outcome(True, urow["name"], method="card", access="full",
                       serial_number=card["serial_number"])

    _raise_unless(_attempt(reg, user, challenge_id, "change-pin", check))


def reactivate(reg: Registry, user: str, challenge_id: str, response: str) -> str:
    """A correct response from the unavailable card makes it active and ends temporary access."""
    response = response.strip()

    def check(reg: Registry, urow: Row, ch: Row, card: Row | None) -> Outcome | None:
        card = _require(card, lifecycle.UNAVAILABLE, urow["name"], "reactivate")
        if not _ocra_ok(reg, card, ch, _pin_of(reg, urow), response):
            return None
        reg.set_status(card, "reactivate")
        temporary.end_for_card(reg, card["id"], "card reactivated")
        return Outcome(True, urow["name"], method="card", access="full",
                       serial_number=card["serial_number"])

    outcome = _attempt(reg, user, challenge_id, "reactivate", check)
    _raise_unless(outcome)
    assert outcome.serial_number is not None
    return outcome.serial_number


def _require(card: Row | None, status: str, user: str, what: str) -> Row:
    """Refuse (rolling the attempt back: nothing changes) when the card is in the wrong state."""
    if card is None:
        raise UserStateError(f"cannot {what}: the challenge names no card of {user}")
    if card["status"] != status:
        raise CardStateError(f"cannot {what} with card {card['serial_number']}: it is "
                             f"{card['status']} ({lifecycle.describe(card['status'])})",
                             serial_number=card["serial_number"], status=card["status"])
    return card


def _raise_unless(outcome: Outcome) -> None:
    if not outcome.accepted:
        raise VerificationRejected(outcome.describe(), reason=outcome.reason or "wrong",
                                   attempts_remaining=outcome.attempts_remaining)
