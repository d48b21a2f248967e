"""Temporary access while a card is unavailable: passcodes and online security code cards.

Issuing either marks the user's active cards `unavailable`; reactivating the card (or the first
response of a replacement) ends both.

- Passcode: 10 random characters from upper-case letters and digits (without 0/O and 1/I,
  which people misread), ~50 bits. Shown once; the registry keeps only a salted scrypt hash
  (sealed like every secret). Full access for `passcode_full_days`, then portal-only for
  `passcode_portal_days` more. It can be used for several logins during that time.
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


def seen_mask(row: Row) -> int:
    return int(row["cells_seen"] or "0", 16)


def _record_cells(reg: Registry, row: Row, cells: str) -> None:
    mask = seen_mask(row)
    for name in cells.split():
        mask |= 1 << _cell_index(name)
    reg.update("temp_access", row, cells_seen=f"{mask:016x}")


def _cell_name(index: int) -> str:
    return f"{COLUMNS[index % len(COLUMNS)]}{index // len(COLUMNS) + 1}"


def _cell_index(name: str) -> int:
    return (int(name[1:]) - 1) * len(COLUMNS) + COLUMNS.index(name[0])


def valid_rows(reg: Registry, user_id: int, now: int) -> list[Row]:
    """The user's running temporary access, each row checked against its MAC."""
    return reg.checked_all("temp_access", reg.db.all(
        "SELECT * FROM temp_access WHERE user_id = ? AND ended_at IS NULL "
        "AND expires_at > ? ORDER BY id", (user_id, now)))


def has_access(reg: Registry, user_id: int, now: int) -> bool:
    return bool(valid_rows(reg, user_id, now))


def active_grid(reg: Registry, user_id: int, now: int) -> bool:
    return any(r["kind"] == "grid" for r in valid_rows(reg, user_id, now))


def end_all(reg: Registry, user_id: int, why: str) -> int:
    rows = reg.db.all("SELECT id, kind FROM temp_access WHERE user_id = ? AND ended_at IS NULL",
                      (user_id,))
    if rows:
        reg.update_where("temp_access", "user_id = ? AND ended_at IS NULL", (user_id,),
                         ended_at=reg.now())
        user = reg.db.one("SELECT name FROM users WHERE id = ?", (user_id,))
        reg.log("temporary-access.end", "ok", user=user["name"] if user else None,
                detail={"why": why, "ended": sorted({r["kind"] for r in rows})})
    return len(rows)


def _make_unavailable(reg: Registry, user: Row) -> list[str]:
    """Cards of the user that are now unavailable (or already were, or are lost)."""
    cards = reg.db.all("SELECT c.* FROM assignments a JOIN cards c ON c.id = a.card_id "
                       "WHERE a.user_id = ? AND a.ended_at IS NULL",
                       (user["id"],), lock=True)
    held = [c for c in cards if c["status"] in (lifecycle.ACTIVE, lifecycle.UNAVAILABLE,
                                                lifecycle.LOST)]
    if not held:
        states = ", ".join(f"{c['serial_number']} {c['status']}" for c in cards) or "none"
        raise UserStateError(f"temporary access is for a user whose active card is unavailable; "
                             f"{user['name']} holds no such card (cards: {states})")
    for card in held:
        if card["status"] == lifecycle.ACTIVE:
            reg.set_status(card, "temporary-access")
    return [c["serial_number"] for c in held]


def _issue(reg: Registry, user: str, kind: str, secret: bytes, full_days: int,
           total_days: int) -> tuple[int, int]:
    with reg.db.transaction():
        urow = reg.user_row(user, lock=True)
        cards = _make_unavailable(reg, urow)
        now = reg.now()
        reg.update_where("temp_access", "user_id = ? AND kind = ? AND ended_at IS NULL",
                         (urow["id"], kind), ended_at=now)
        uid = reg.random.randbytes(8).hex()
        full_until, expires = now + full_days * DAY, now + total_days * DAY
        sealed = reg.seal(secret, "temp_access", "secret_enc",
                          temp_access_ident(uid, int(urow["id"])))
        reg.insert("temp_access", uid=uid, user_id=urow["id"], kind=kind, secret_enc=sealed,
                   issued_at=now, full_until=full_until, expires_at=expires)
        reg.log("temporary-access", "ok", user=user,
                detail={"kind": kind, "cards": cards, "expires_at": expires})
    return full_until, expires


def issue_passcode(reg: Registry, user: str) -> tuple[str, int, int]:
    """(passcode, full access until, expires at); the passcode is never stored in clear."""
    passcode = "".join(reg.random.choice(PASSCODE_ALPHABET) for _ in range(PASSCODE_LEN))
    salt = reg.random.randbytes(16)
    pol = reg.policy
    full_until, expires = _issue(reg, user, "passcode", salt + _hash_passcode(passcode, salt),
                                 pol.passcode_full_days,
                                 pol.passcode_full_days + pol.passcode_portal_days)
    return passcode, full_until, expires


def issue_security_card(reg: Registry, user: str) -> tuple[list[str], int]:
    """(grid codes row-major, expires at)."""
    grid = new_grid(reg.random)
    days = reg.policy.security_card_days
    _, expires = _issue(reg, user, "grid", "".join(grid).encode("ascii"), days, days)
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
