"""Temporary access while a card is not at hand: passcodes and online security code cards.

Temporary access belongs to a user and stands in for one card, the one that is missing: at home
or broken (it is `active` and becomes `unavailable`), lost (it stays `lost`), or a replacement
that is on its way (`assigned`). The user's other devices keep working as before (M2FS). The
temporary access ends when that card comes back into use: a reactivation, the activation of the
replacement (its first correct response, `activate`, or its automatic activation), or a lost
card that is found. A replacement takes over the temporary access of the card it replaces.

- Passcode: 10 random characters from upper-case letters and digits (without 0/O and 1/I,
  which people misread), ~50 bits. Shown once; the registry keeps only a salted scrypt hash
  (sealed like every secret). Full access for `passcode_full_days`, then portal-only until
  `passcode_portal_days` after it was issued (2 and 10: full access for two days, the portal
  only from day 2 to day 10). It can be used for several logins during that time.
- Security code card: an 8 by 8 grid (columns A to H, rows 1 to 8) of 4-digit codes, valid
  `security_card_days`. A challenge names two different cells (e.g. `C4 F7`); the answer is
  their two codes in that order (8 digits). The grid is sealed in the registry: the server
  must read it to check an answer. Cells revealed by an accepted answer are remembered
  (`cells_seen`): no challenge asks two of them together again.

Secrets are sealed bound to the row and its user; every row carries a MAC (`integrity`).
"""

from __future__ import annotations

import hashlib
import hmac
import random
import secrets
from collections.abc import Callable

from provisioning import lifecycle
from provisioning.db import Row
from provisioning.errors import UserStateError
from provisioning.keys import temp_access_ident
from provisioning.registry import Registry
from provisioning.timeutil import DAY

PASSCODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
PASSCODE_LEN = 10
COLUMNS = "ABCDEFGH"
ROWS = 8
CODE_DIGITS = 4
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


_SYSTEM = secrets.SystemRandom()  # the default random source: the OS's CSPRNG

def _hash_passcode(passcode: str, salt: bytes) -> bytes:
    return hashlib.scrypt(passcode.encode("ascii"), salt=salt, **_SCRYPT)


def new_grid(rng: random.Random = _SYSTEM) -> list[str]:
    """Row-major codes: index = row * 8 + column."""
    return ["".join(rng.choice("0123456789") for _ in range(CODE_DIGITS))
            for _ in range(ROWS * len(COLUMNS))]


def new_cells(seen: int = 0, rng: random.Random = _SYSTEM) -> str | None:
    """Two different cells, at least one of them never revealed by an accepted answer (`seen`:
    a bit per cell): an observed answer is never asked again. None when the grid is used up."""
    cells = ROWS * len(COLUMNS)
    pairs = [(a, b) for a in range(cells) for b in range(cells)
             if a != b and not (seen >> a & 1 and seen >> b & 1)]
    if not pairs:
        return None
    first, second = rng.choice(pairs)
    return f"{_cell_name(first)} {_cell_name(second)}"


def _cell_name(index: int) -> str:
    return f"{COLUMNS[index % len(COLUMNS)]}{index // len(COLUMNS) + 1}"


def _cell_index(name: str) -> int:
    return (int(name[1:]) - 1) * len(COLUMNS) + COLUMNS.index(name[0])


def seen_mask(row: Row) -> int:
    return int(row["cells_seen"] or "0", 16)


def _record_cells(reg: Registry, row: Row, cells: str) -> None:
    mask = seen_mask(row)
    for name in cells.split():
        mask |= 1 << _cell_index(name)
    reg.update("temp_access", row, cells_seen=f"{mask:016x}")


# The user's running temporary access; `{user}` is `?` (the user's id) or a subquery giving it.
VALID_ROWS = ("SELECT * FROM temp_access WHERE user_id = {user} AND ended_at IS NULL "
              "AND expires_at > ? ORDER BY id")


def valid_rows(reg: Registry, user_id: int, now: int) -> list[Row]:
    """The user's running temporary access, each row checked against its MAC."""
    return reg.checked_all("temp_access", reg.db.all(VALID_ROWS.format(user="?"),
                                                     (user_id, now)))


def has_access(reg: Registry, user_id: int, now: int) -> bool:
    return bool(valid_rows(reg, user_id, now))


def active_grid(reg: Registry, user_id: int, now: int) -> bool:
    return any(r["kind"] == "grid" for r in valid_rows(reg, user_id, now))


def end_all(reg: Registry, user_id: int, why: str) -> int:
    """End every temporary access of the user (whatever card it stands in for)."""
    rows = reg.db.all("SELECT * FROM temp_access WHERE user_id = ? AND ended_at IS NULL",
                      (user_id,), lock=True)
    return _end(reg, rows, why)


def end_for_card(reg: Registry, card_id: int, why: str) -> int:
    """Inside a transaction: end the temporary access that stands in for this card (and any
    from before temporary access named its card, of the card's users)."""
    rows = reg.db.all("SELECT * FROM temp_access WHERE ended_at IS NULL AND "
                      "(card_id = ? OR (card_id IS NULL AND user_id IN (SELECT user_id FROM "
                      "assignments WHERE card_id = ? AND ended_at IS NULL)))",
                      (card_id, card_id), lock=True)
    return _end(reg, rows, why)


def hand_over(reg: Registry, old_card_id: int, new_card_id: int) -> None:
    """Inside a transaction: a replacement takes over the temporary access of the old card."""
    reg.update_where("temp_access", "card_id = ? AND ended_at IS NULL", (old_card_id,),
                     card_id=new_card_id)


def _end(reg: Registry, rows: list[Row], why: str) -> int:
    now = reg.now()
    by_user: dict[int, set[str]] = {}
    for r in rows:
        reg.update("temp_access", r, ended_at=now)
        by_user.setdefault(int(r["user_id"]), set()).add(str(r["kind"]))
    for user_id, kinds in sorted(by_user.items()):
        user = reg.db.one("SELECT name FROM users WHERE id = ?", (user_id,))
        reg.log("temporary-access.end", "ok", user=user["name"] if user else None,
                detail={"why": why, "ended": sorted(kinds)})
    return len(rows)


# The states of a card that temporary access can stand in for: in use but not at hand
# (active, becomes unavailable), already unavailable, lost, or a replacement on its way.
_MISSING = (lifecycle.ACTIVE, lifecycle.UNAVAILABLE, lifecycle.LOST, lifecycle.ASSIGNED)


def _missing_card(reg: Registry, user: Row, serial_number: str | None) -> Row:
    """The card the temporary access stands in for: the one named, else the only candidate,
    else the only candidate that is not active (a lost card, its replacement, ...)."""
    cards = reg.checked_all("cards", reg.db.all(
        "SELECT c.* FROM assignments a JOIN cards c ON c.id = a.card_id "
        "WHERE a.user_id = ? AND a.ended_at IS NULL ORDER BY c.serial_number",
        (user["id"],), lock=True))
    states = ", ".join(f"{c['serial_number']} {c['status']}" for c in cards) or "none"
    if serial_number is not None:
        named = [c for c in cards if c["serial_number"] == serial_number]
        if not named:
            raise UserStateError(f"{user['name']} holds no card {serial_number} "
                                 f"(cards: {states})")
        lifecycle.check_hardware("temporary-access", named[0])
        if named[0]["status"] not in _MISSING:
            raise lifecycle.refusal("temporary-access", serial_number, named[0]["status"],
                                    _MISSING)
        return named[0]
    held = [c for c in cards if c["status"] in _MISSING]
    if held and all(lifecycle.is_soft(c["board"]) for c in held):
        # nothing stands in for a soft card: one on a lost phone is removed and made anew
        lifecycle.check_hardware("temporary-access", held[0])
    held = [c for c in held if not lifecycle.is_soft(c["board"])]
    if len(held) > 1:
        held = [c for c in held if c["status"] != lifecycle.ACTIVE] or held
    if not held:
        raise UserStateError(f"temporary access stands in for a card of the user that is not "
                             f"at hand; {user['name']} holds no such card (cards: {states})")
    if len(held) > 1:
        raise UserStateError(f"{user['name']} holds several cards ({states}): name the one "
                             f"that is missing")
    return held[0]


def _issue(reg: Registry, user: str, kind: str, secret: bytes, full_days: int,
           total_days: int, serial_number: str | None = None,
           deliver: Callable[[int], None] | None = None) -> tuple[int, int, str]:
    with reg.db.transaction():
        urow = reg.user_row(user, lock=True)
        card = _missing_card(reg, urow, serial_number)
        if card["status"] == lifecycle.ASSIGNED:
            from provisioning import support  # a replacement that is due activates first

            card = support.auto_activate(reg, card)
        if card["status"] == lifecycle.ACTIVE:
            reg.set_status(card, "temporary-access")
        now = reg.now()
        reg.update_where("temp_access", "user_id = ? AND kind = ? AND ended_at IS NULL",
                         (urow["id"], kind), ended_at=now)
        uid = reg.random.randbytes(8).hex()
        full_until, expires = now + full_days * DAY, now + total_days * DAY
        sealed = reg.seal(secret, "temp_access", "secret_enc",
                          temp_access_ident(uid, int(urow["id"])))
        reg.insert("temp_access", uid=uid, user_id=urow["id"], card_id=card["id"], kind=kind,
                   secret_enc=sealed, issued_at=now, full_until=full_until, expires_at=expires)
        reg.log("temporary-access", "ok", user=user, serial_number=card["serial_number"],
                detail={"kind": kind, "cards": [card["serial_number"]], "expires_at": expires})
        if deliver is not None:  # inside the transaction: no file, no temporary access
            deliver(expires)
    return full_until, expires, str(card["serial_number"])


def issue_passcode(reg: Registry, user: str,
                   serial_number: str | None = None) -> tuple[str, int, int]:
    """(passcode, full access until, expires at); the passcode is never stored in clear."""
    passcode = "".join(reg.random.choice(PASSCODE_ALPHABET) for _ in range(PASSCODE_LEN))
    salt = reg.random.randbytes(16)
    pol = reg.policy
    # portal-only access ends `passcode_portal_days` after issue (never before full access)
    total = max(pol.passcode_portal_days, pol.passcode_full_days)
    full_until, expires, _ = _issue(reg, user, "passcode", salt + _hash_passcode(passcode, salt),
                                    pol.passcode_full_days, total, serial_number)
    return passcode, full_until, expires


def issue_security_card(reg: Registry, user: str, serial_number: str | None = None,
                        deliver: Callable[[list[str], int], None] | None = None,
                        ) -> tuple[list[str], int]:
    """(grid codes row-major, expires at). `deliver(grid, expires_at)` runs inside the
    transaction (writing the printable file): when it fails, nothing is issued."""
    grid = new_grid(reg.random)
    days = reg.policy.security_card_days
    _, expires, _ = _issue(reg, user, "grid", "".join(grid).encode("ascii"), days, days,
                           serial_number,
                           None if deliver is None else lambda exp: deliver(grid, exp))
    return grid, expires


def match(reg: Registry, rows: list[Row], challenge: Row, response: str,
          now: int) -> tuple[str, str] | None:
    """(method, access) when `response` is a valid passcode or security-card answer."""
    for row in rows:
        secret = reg.unseal(row["secret_enc"], "temp_access", "secret_enc",
                            temp_access_ident(row["uid"], int(row["user_id"])))
        if row["kind"] == "passcode" and _passcode_ok(secret, response):
            return "passcode", "full" if now < int(row["full_until"]) else "portal-only"
        if row["kind"] == "grid" and challenge["cells"] and _grid_ok(secret, challenge["cells"],
                                                                     response):
            _record_cells(reg, row, challenge["cells"])
            return "security-card", "full"
    return None


def _passcode_ok(secret: bytes, response: str) -> bool:
    candidate = response  # case-sensitive: passcodes are given in upper case
    if len(candidate) != PASSCODE_LEN or not all(c in PASSCODE_ALPHABET for c in candidate):
        return False
    return hmac.compare_digest(_hash_passcode(candidate, secret[:16]), secret[16:])


def _grid_ok(secret: bytes, cells: str, response: str) -> bool:
    codes = secret.decode("ascii")
    expected = "".join(codes[_cell_index(c) * CODE_DIGITS:(_cell_index(c) + 1) * CODE_DIGITS]
                       for c in cells.split())
    return hmac.compare_digest(expected.encode(), response.encode("utf-8", "replace"))


def grid_rows(grid: list[str]) -> list[list[str]]:
    width = len(COLUMNS)
    return [grid[r * width:(r + 1) * width] for r in range(ROWS)]
