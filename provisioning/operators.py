"""Operators of the support console: accounts in the registry, signing in with a password AND a
response from their own OpenDSC card (the product protects itself with the product).

An operator is a name, a role (`helpdesk` or `admin`), a scrypt hash of the password
(memory-hard: N=2**14, r=8, p=1, 16 MiB per guess) and the registry user whose card the
operator answers challenges with. A MAC under the master key binds all of it, so a row edited in
the database (a helpdesk operator made admin, another card linked, a password hash swapped) signs
nobody in. Adding, disabling, sign-ins and refused sign-ins are audited.

`Throttle` counts failed sign-ins per key (an operator's name, a client address) in a sliding
window, in the registry (every worker and every restart sees every failure); the console
refuses a sign-in while either key is over its limit, and counts each attempt before it is made
(`charge`, taken back by `refund` when it succeeds), so racing workers get no extra tries.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from provisioning import integrity, verification
from provisioning.db import Row
from provisioning.errors import InvalidInputError, NotFoundError, ProvisioningError
from provisioning.registry import Registry

HELPDESK, ADMIN = "helpdesk", "admin"
ROLES = (HELPDESK, ADMIN)
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
_N, _R, _P = 2 ** 14, 8, 1
# Verified against when the name is unknown, so that a wrong name costs what a wrong password does.
_DUMMY = "scrypt$16384$8$1$" + "00" * 16 + "$" + "00" * 32


class SignInError(ProvisioningError):
    """A sign-in refused: unknown or disabled operator, wrong password, wrong card response, or a
    row that fails its MAC. The message never says which of name or password was wrong."""


@dataclass(frozen=True)
class Operator:
    name: str
    role: str
    user: str
    created_at: int
    disabled_at: int | None

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "user": self.user,
                "created_at": self.created_at, "disabled_at": self.disabled_at,
                "status": "disabled" if self.disabled_at is not None else "active"}


# --- passwords ------------------------------------------------------------------------------------
def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def password_ok(stored: str, password: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(password.encode("utf-8", "replace"), salt=bytes.fromhex(salt),
                             n=int(n), r=int(r), p=int(p), dklen=len(digest) // 2,
                             maxmem=64 * 1024 * 1024)
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(got.hex(), digest)


def _check_name(name: str) -> None:
    if not name or len(name) > 64 or not all(c.isascii() and (c.isalnum() or c in "-_.")
                                             for c in name):
        raise InvalidInputError("an operator name is 1 to 64 letters, digits, '-', '_' or '.'")


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInputError(f"an operator password has at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD or not password.isprintable():
        raise InvalidInputError("the password is too long or has control characters")


def check_password(password: str) -> None:
    """InvalidInputError when `password` may not be an operator's (too short, too long, control
    characters); the message never holds it."""
    _check_password(password)


def check_new(reg: Registry, name: str, role: str, user: str) -> None:
    """What `add` would refuse before the password is asked: the name, the role, the card
    holder account, an operator of that name already."""
    _check_name(name)
    if role not in ROLES:
        raise InvalidInputError(f"unknown role {role}; one of {', '.join(ROLES)}")
    reg.user_row(user)
    if reg.db.one("SELECT id FROM operators WHERE name = ?", (name,)) is not None:
        raise InvalidInputError(f"an operator {name} exists already")


def _mac(reg: Registry, row: Row | dict[str, Any]) -> str:
    return integrity.own_mac(reg.sealer, "operators", row)


def _operator(row: Row) -> Operator:
    return Operator(row["name"], row["role"], row["user_name"], int(row["created_at"]),
                    None if row["disabled_at"] is None else int(row["disabled_at"]))


def _row(reg: Registry, name: str) -> Row | None:
    row = reg.db.one("SELECT * FROM operators WHERE name = ?", (name,))
    if row is None:
        return None
    if not integrity.own_ok(reg.sealer, "operators", row, row["mac"]):
        reg.log("operator.tampered", "refused", detail={"operator": name[:64]})
        return None
    return row


# --- accounts -------------------------------------------------------------------------------------
def add(reg: Registry, name: str, role: str, password: str, user: str) -> Operator:
    """A new operator signing in with `password` and the card of registry user `user`."""
    _check_name(name)
    if role not in ROLES:
        raise InvalidInputError(f"unknown role {role}; one of {', '.join(ROLES)}")
    _check_password(password)
    pw = hash_password(password)
    with reg.db.transaction():
        reg.user_row(user)  # the operator's own card holder account must exist
        if reg.db.one("SELECT id FROM operators WHERE name = ?", (name,)) is not None:
            raise InvalidInputError(f"an operator {name} exists already")
        values = {"name": name, "role": role, "password_hash": pw, "user_name": user,
                  "disabled_at": None}
        reg.db.execute("INSERT INTO operators (name, role, password_hash, user_name, mac, "
                       "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                       (name, role, pw, user, _mac(reg, values), reg.now()))
        reg.log("operator.add", "ok", user=user, detail={"operator": name, "role": role})
    return Operator(name, role, user, reg.now(), None)


def list_operators(reg: Registry) -> list[Operator]:
    return [_operator(r) for r in reg.db.all("SELECT * FROM operators ORDER BY name")]


def disable(reg: Registry, name: str) -> Operator:
    with reg.db.transaction():
        row = _row(reg, name)
        if row is None:
            raise NotFoundError(f"no operator {name}")
        if row["disabled_at"] is not None:
            raise InvalidInputError(f"operator {name} is disabled already")
        now = reg.now()
        values = {**dict(row), "disabled_at": now}
        reg.db.execute("UPDATE operators SET disabled_at = ?, mac = ? WHERE id = ?",
                       (now, _mac(reg, values), row["id"]))
        reg.log("operator.disable", "ok", detail={"operator": name})
    return _operator(reg.db.one("SELECT * FROM operators WHERE id = ?", (row["id"],)) or row)


def active(reg: Registry, name: str) -> Operator | None:
    """The operator, when the row is intact and not disabled (checked on every console request)."""
    row = _row(reg, name)
    if row is None or row["disabled_at"] is not None:
        return None
    return _operator(row)


# --- signing in -----------------------------------------------------------------------------------
def begin_sign_in(reg: Registry, name: str,
                  password: str) -> tuple[Operator, verification.Challenge]:
    """Check the password; on success a challenge for the operator's own card."""
    with reg.db.transaction():
        row = _row(reg, name) if len(name) <= 64 else None
        ok = password_ok(row["password_hash"] if row else _DUMMY, password[:MAX_PASSWORD])
        if row is None or not ok or row["disabled_at"] is not None:
            reg.log("operator.sign-in", "refused", detail={"operator": name[:64],
                                                           "step": "password"})
            refused = True
        else:
            refused = False
    if refused:
        raise SignInError("wrong operator name or password")
    assert row is not None
    op = _operator(row)
    try:
        ch = verification.issue_challenge(reg, op.user)
    except ProvisioningError as e:
        raise SignInError(f"no challenge for your card: {e}") from None
    return op, ch


def finish_sign_in(reg: Registry, name: str, challenge_id: str, response: str) -> Operator:
    """The card's response to the sign-in challenge; the operator when it is right."""
    op = active(reg, name)
    if op is None:
        raise SignInError("the operator is unknown or disabled")
    outcome = verification.verify(reg, op.user, challenge_id,
                                  response.replace(" ", "").replace("-", ""))
    if not (outcome.accepted and outcome.method == "card" and outcome.access == "full"):
        reg.log("operator.sign-in", "refused", user=op.user,
                detail={"operator": name, "step": "card", "reason": outcome.reason})
        raise SignInError(f"the card's response was not accepted ({outcome.reason or 'refused'})")
    reg.log("operator.sign-in", "ok", user=op.user, detail={"operator": name, "role": op.role})
    return op


# --- throttling -----------------------------------------------------------------------------------
# At most this many keys are counted at once (rows of `sign_in_throttle` within their window):
# a flood of distinct keys (made-up operator names, many addresses) cannot grow the table
# without bound. A failure of a key that has no row yet is refused while the table is full (the
# attempt is not made), until rows age out of their window.
MAX_KEYS = 50_000
_PURPOSE = "sign-in-throttle"


@dataclass(frozen=True)
class Throttle:
    """At most `limit` failures per key within `window` seconds (a sliding window), counted in
    the registry (table `sign_in_throttle`), so every worker and every restart sees them.

    A key (`op:<name>`, `ip:<address>`) is stored as an HMAC under a key derived from the master
    key, never as such. Use `charge` before an attempt: it records the attempt as a failure in
    the transaction that checks the count (so two workers racing for the last try cannot both
    get it), and `refund` it when the attempt succeeds."""

    limit: int = 5
    window: int = 900

    def retry_after(self, reg: Registry, *keys: str) -> int:
        """Seconds until every key may try again (0: allowed now)."""
        now = reg.now()
        waits = [self._wait(_times(row), now) for key in keys
                 if (row := reg.db.one("SELECT fails FROM sign_in_throttle WHERE key_hash = ?",
                                       (key_hash(reg, key),))) is not None]
        return max(waits, default=0)

    def _wait(self, times: list[int], now: int) -> int:
        recent = [t for t in times if now - t < self.window]
        if len(recent) < self.limit:
            return 0
        return max(1, recent[-self.limit] + self.window - now)

    def failed(self, reg: Registry, *keys: str) -> None:
        """Count a failure of each key now (`charge` does so before an attempt)."""
        with reg.db.transaction():
            _record(reg, [(self, k) for k in keys], reg.now())

    def succeeded(self, reg: Registry, key: str) -> None:
        """Forget the key's failures (an operator signed in)."""
        with reg.db.transaction():
            reg.db.execute("DELETE FROM sign_in_throttle WHERE key_hash = ?",
                           (key_hash(reg, key),))


@dataclass(frozen=True)
class Charge:
    """An attempt counted as a failure by `charge` (`wait` 0), or refused (`wait` seconds)."""

    wait: int
    at: int = 0
    keys: tuple[tuple[Throttle, str], ...] = ()


def key_hash(reg: Registry, key: str) -> str:
    return reg.sealer.mac(key.encode("utf-8", "replace"), _PURPOSE)


def _times(row: Row) -> list[int]:
    return [int(t) for t in str(row["fails"]).split()]


def _record(reg: Registry, checks: list[tuple[Throttle, str]], now: int) -> int:
    """In the caller's transaction: prune rows out of their window; then, unless a key is over
    its limit (or new while the table is full), add a failure at `now` to every key. Returns 0,
    or the seconds to wait (nothing recorded)."""
    window = max((t.window for t, _ in checks), default=0)
    reg.db.execute("DELETE FROM sign_in_throttle WHERE last_at <= ?", (now - window,))
    rows: list[tuple[Throttle, str, list[int]]] = []
    wait = 0
    for throttle, key in sorted(checks, key=lambda c: key_hash(reg, c[1])):  # one lock order
        digest = key_hash(reg, key)
        row = reg.db.one("SELECT fails FROM sign_in_throttle WHERE key_hash = ?", (digest,),
                         lock=True)
        if row is None:
            full = reg.db.one("SELECT COUNT(*) AS n FROM sign_in_throttle")
            if full is not None and int(full["n"]) >= MAX_KEYS:
                oldest = reg.db.one("SELECT MIN(last_at) AS t FROM sign_in_throttle")
                wait = max(wait, int(oldest["t"]) + window - now if oldest else window, 1)
                continue
            reg.db.execute("INSERT INTO sign_in_throttle (key_hash, fails, last_at) "
                           "VALUES (?, '', ?) ON CONFLICT (key_hash) DO NOTHING", (digest, now))
            row = reg.db.one("SELECT fails FROM sign_in_throttle WHERE key_hash = ?",
                             (digest,), lock=True)
            assert row is not None
        times = [t for t in _times(row) if now - t < throttle.window]
        wait = max(wait, throttle._wait(times, now))
        rows.append((throttle, digest, times))
    if wait:  # nothing counted: a row made for it above goes again
        for _, digest, times in rows:
            if not times:
                reg.db.execute("DELETE FROM sign_in_throttle WHERE key_hash = ? AND fails = ''",
                               (digest,))
        return wait
    for throttle, digest, times in rows:
        kept = [*times, now][-throttle.limit:]
        reg.db.execute("UPDATE sign_in_throttle SET fails = ?, last_at = ? WHERE key_hash = ?",
                       (" ".join(map(str, kept)), now, digest))
    return 0


def charge(reg: Registry, *checks: tuple[Throttle, str]) -> Charge:
    """Count an attempt under every (throttle, key) as a failure, in one transaction, unless one
    of them is over its limit: then nothing is counted and `wait` says for how long."""
    now = reg.now()
    with reg.db.transaction():
        wait = _record(reg, list(checks), now)
    return Charge(wait) if wait else Charge(0, now, tuple(checks))


def refund(reg: Registry, done: Charge, *, clear: tuple[str, ...] = ()) -> None:
    """The charged attempt succeeded: take its failure back from each key (and forget the keys
    in `clear` altogether)."""
    with reg.db.transaction():
        for _, key in sorted(done.keys, key=lambda c: key_hash(reg, c[1])):
            digest = key_hash(reg, key)
            row = reg.db.one("SELECT fails FROM sign_in_throttle WHERE key_hash = ?", (digest,),
                             lock=True)
            if row is None:
                continue
            times = _times(row)
            if key in clear or times == [done.at]:
                reg.db.execute("DELETE FROM sign_in_throttle WHERE key_hash = ?", (digest,))
            elif done.at in times:
                times.remove(done.at)
                reg.db.execute("UPDATE sign_in_throttle SET fails = ? WHERE key_hash = ?",
                               (" ".join(map(str, times)), digest))


def prune(reg: Registry, window: int = 900) -> int:
    """Delete the rows out of their window; returns how many went."""
    with reg.db.transaction():
        cur = reg.db.execute("DELETE FROM sign_in_throttle WHERE last_at <= ?",
                             (reg.now() - window,))
    return int(cur.rowcount or 0)


# --- what operators may do ------------------------------------------------------------------------
# Card actions of the console: the life-cycle action and the role it needs.
CARD_ACTIONS: dict[str, str] = {"activate": HELPDESK, "lost": HELPDESK, "return": HELPDESK,
                                "wipe": ADMIN, "retire": ADMIN}
# A soft card's own actions (provisioning.softcard): a holder's lost phone is a helpdesk call.
SOFT_CARD_ACTIONS: dict[str, str] = {"disable": HELPDESK, "enable": HELPDESK,
                                     "remove": HELPDESK}
# Pages and actions that only an admin may use.
ADMIN_ONLY = ("stock", "audit", "operators", "settings", "wipe", "retire", "api-clients",
              "pskc")


class RoleRefusal(ProvisioningError):
    """A helpdesk operator asked for an admin action (the attempt is in the audit log)."""


def require(reg: Registry, op: Operator, what: str) -> None:
    """Refuse, and log, `what` when it needs an admin and `op` is not one."""
    need = CARD_ACTIONS.get(what) or SOFT_CARD_ACTIONS.get(what) or \
        (ADMIN if what in ADMIN_ONLY else HELPDESK)
    if need == ADMIN and not op.is_admin:
        with reg.db.transaction():
            reg.log("operator.forbidden", "refused",
                    detail={"operator": op.name, "role": op.role, "wanted": what[:40]})
        raise RoleRefusal(f"{what} needs an admin; {op.name} is {op.role}")


def next_steps(status: str, op: Operator, board: str | None = None) -> list[str]:
    """The card actions the life cycle allows from `status` that `op` may take (a soft card's,
    by its `board`, are its own: disable, enable, remove)."""
    from provisioning import lifecycle, softcard
    if lifecycle.is_soft(board):
        return [a for a, role in SOFT_CARD_ACTIONS.items()
                if status in softcard.TRANSITIONS[a][0] and (role == HELPDESK or op.is_admin)]
    return [a for a, role in CARD_ACTIONS.items()
            if status in lifecycle.TRANSITIONS[a][0] and (role == HELPDESK or op.is_admin)]


def card_action(reg: Registry, op: Operator, serial_number: str, action: str) -> str:
    """Take a card action for `op`; returns the card's new state."""
    from provisioning import softcard, support
    if action not in CARD_ACTIONS and action not in SOFT_CARD_ACTIONS:
        raise InvalidInputError(f"unknown card action {action}")
    require(reg, op, action)
    if action in SOFT_CARD_ACTIONS:
        return softcard.set_state(reg, serial_number, action)
    if action == "activate":
        support.activate(reg, serial_number, reason="console")
    elif action == "lost":
        support.mark_lost(reg, serial_number)
    elif action == "return":
        support.return_card(reg, serial_number)
    else:
        support.check_can(reg, serial_number, action)
        support.finish(reg, serial_number, action)
    return str(reg.card_row(serial_number)["status"])


def search(reg: Registry, query: str, limit: int = 50) -> dict[str, list[str]]:
    """Users and serial numbers containing `query` (case-insensitive)."""
    q = query.strip()[:64]
    if not q:
        return {"users": [], "cards": []}
    pattern = "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    users = reg.db.all("SELECT name FROM users WHERE LOWER(name) LIKE ? ESCAPE '\\' "
                       "ORDER BY name LIMIT ?", (pattern, limit))
    cards = reg.db.all("SELECT serial_number FROM cards WHERE LOWER(serial_number) LIKE ? "
                       "ESCAPE '\\' ORDER BY serial_number LIMIT ?", (pattern, limit))
    return {"users": [r["name"] for r in users], "cards": [r["serial_number"] for r in cards]}


def replace_card(reg: Registry, op: Operator, old: str, new: str) -> list[str]:
    """Give the holders of lost card `old` the card `new` from stock; returns their names."""
    from provisioning import support
    require(reg, op, "replace")
    return support.replace(reg, old, new)


def stock(reg: Registry) -> list[str]:
    """Serial numbers of cards in stock (provisioned, not assigned)."""
    return [c.serial_number for c in reg.cards("provisioned")]
