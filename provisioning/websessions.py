"""Sessions of the web pages (`/console`, `/portal`) kept in the registry, so that any `dsc serve`
worker serves any session: no sticky sessions, and a restart signs nobody out.

- The cookie carries a random 256-bit id; the registry keeps only its SHA-256 (`sid_hash`), so a
  copy of the database (a backup, a support laptop) holds no usable session.
- The session's data (its CSRF token, the signed-in operator's or holder's name, the pending
  challenge ids) is sealed under the master key and bound to `sid_hash`: nobody who can only
  write the database can sign a session in, or move it to another operator.
- The row is MACed (`integrity`): its page tree (`area`), when it was last seen and its two
  limits, `idle_until` (pushed forward as it is used) and `expires_at` (fixed at its start). Both
  are enforced here from the row, on every read, whichever worker reads it; an expired session
  is deleted, a row that fails its MAC (or whose data does not open) is refused and logged.
- Logging out deletes the row and its one-time values.

One-time values (`put_once` / `take_once`): what a session is handed exactly once, such as the
online security code card's PDF or a PSKC export, or keeps for one confirmation, such as an
uploaded PSKC file. Sealed, MACed, bound to the session's row and to a random token whose SHA-256
only is stored; `take_once` deletes the row in the transaction that reads it (conditional on its
MAC, so of two workers racing for it one gets it), and nothing is ever written to a file.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from provisioning.db import Row
from provisioning.errors import InvalidInputError, MasterKeyError, TamperedRowError
from provisioning.registry import Registry

AREAS = ("console", "portal")
# A session in use is written back at most this often when its data did not change (each
# request would otherwise be a write): the idle timeout is exact to within these seconds.
TOUCH_SECONDS = 10
MAX_DATA = 64 * 1024
MAX_ONCE = 16 << 20
_SID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@dataclass
class Stored:
    """A session as read from (or written to) the registry."""

    row: Row | dict[str, Any]
    data: dict[str, Any]

    @property
    def row_id(self) -> int:
        return int(self.row["id"])


def sid_hash(sid: str) -> str:
    return hashlib.sha256(sid.encode("ascii", "replace")).hexdigest()


def well_formed(sid: str) -> bool:
    """What `new_id` makes: 43 URL-safe characters (anything else is not looked up)."""
    return len(sid) == 43 and set(sid) <= _SID_CHARS


def new_id() -> str:
    return secrets.token_urlsafe(32)


def _seal(reg: Registry, digest: str, data: dict[str, Any]) -> bytes:
    raw = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    if len(raw) > MAX_DATA:
        raise InvalidInputError("the session holds too much")
    return reg.seal(raw, "web_sessions", "data_enc", digest)


def create(reg: Registry, area: str, sid: str, data: dict[str, Any], *, idle: int,
           lifetime: int) -> Stored:
    """A new session of `area` under the id `sid` (the caller's cookie); purges expired ones."""
    if area not in AREAS:
        raise InvalidInputError(f"unknown page tree {area}")
    digest, now = sid_hash(sid), reg.now()
    with reg.db.transaction():
        purge(reg)
        row = reg.insert("web_sessions", sid_hash=digest, area=area,
                         data_enc=_seal(reg, digest, data), created_at=now, seen_at=now,
                         idle_until=now + idle, expires_at=now + lifetime)
    return Stored(row, dict(data))


def load(reg: Registry, area: str, sid: str, *, idle: int) -> Stored | None:
    """The live session of `area` with id `sid`, its idle time renewed; None when there is
    none, it expired (deleted), or its row fails its MAC or its data does not open (logged)."""
    if not well_formed(sid):
        return None
    digest = sid_hash(sid)
    row = reg.db.one("SELECT * FROM web_sessions WHERE sid_hash = ?", (digest,))
    if row is None or not hmac.compare_digest(str(row["sid_hash"]), digest):
        return None
    try:
        reg.checked("web_sessions", row)  # logs the refusal
    except TamperedRowError:
        return None
    if row["area"] != area:
        return None
    now = reg.now()
    if now >= int(row["idle_until"]) or now >= int(row["expires_at"]):
        with reg.db.transaction():
            _delete(reg, int(row["id"]))
        return None
    try:
        data = json.loads(reg.unseal(row["data_enc"], "web_sessions", "data_enc", digest))
    except (MasterKeyError, ValueError):
        with reg.db.transaction():
            reg.log("web-session.refused", "refused", detail={"area": area,
                                                              "row": int(row["id"])})
        return None
    stored = Stored(row, data if isinstance(data, dict) else {})
    if now - int(row["seen_at"]) >= TOUCH_SECONDS:
        with reg.db.transaction():
            stored.row = reg.update("web_sessions", row, seen_at=now,
                                    idle_until=min(now + idle, int(row["expires_at"])))
    return stored


def save(reg: Registry, stored: Stored, data: dict[str, Any], *, idle: int) -> None:
    """Write the session's changed data back (and renew its idle time)."""
    now = reg.now()
    with reg.db.transaction():
        current = reg.db.one("SELECT * FROM web_sessions WHERE id = ?", (stored.row_id,),
                             lock=True)
        if current is None:  # signed out meanwhile (another tab, another worker): stays so
            return
        stored.row = reg.update("web_sessions", current,
                                data_enc=_seal(reg, str(current["sid_hash"]), data), seen_at=now,
                                idle_until=min(now + idle, int(current["expires_at"])))
        stored.data = dict(data)


def delete(reg: Registry, stored: Stored) -> None:
    with reg.db.transaction():
        _delete(reg, stored.row_id)


def _delete(reg: Registry, row_id: int) -> None:
    reg.db.execute("DELETE FROM web_once WHERE session_id = ?", (row_id,))
    reg.db.execute("DELETE FROM web_sessions WHERE id = ?", (row_id,))


def purge(reg: Registry) -> int:
    """Delete expired sessions and one-time values; returns how many sessions went."""
    now = reg.now()
    cur = reg.db.execute("DELETE FROM web_sessions WHERE idle_until <= ? OR expires_at <= ?",
                         (now, now))
    reg.db.execute("DELETE FROM web_once WHERE expires_at <= ? OR session_id NOT IN "
                   "(SELECT id FROM web_sessions)", (now,))
    return int(cur.rowcount or 0)


# --- one-time values ------------------------------------------------------------------------------
def put_once(reg: Registry, stored: Stored, purpose: str, name: str, media_type: str,
             body: bytes, *, ttl: int) -> str:
    """Keep `body` for the session until it is taken once (or `ttl` seconds pass); returns the
    token that takes it."""
    if len(body) > MAX_ONCE:
        raise InvalidInputError("too large to keep for a download")
    token = secrets.token_urlsafe(24)
    digest, now = sid_hash(token), reg.now()
    with reg.db.transaction():
        reg.db.execute("DELETE FROM web_once WHERE expires_at <= ?", (now,))
        reg.insert("web_once", token_hash=digest, session_id=stored.row_id, purpose=purpose,
                   name=name[:200], media_type=media_type[:100],
                   body_enc=reg.seal(body, "web_once", "body_enc", digest), created_at=now,
                   expires_at=now + ttl)
    return token


def take_once(reg: Registry, stored: Stored, purpose: str,
              token: str) -> tuple[str, str, bytes] | None:
    """(name, media type, body) of the session's one-time value, deleted as it is read; None
    when it was taken already, expired, belongs to another session, or fails its MAC."""
    if not 16 <= len(token) <= 64 or not set(token) <= _SID_CHARS:
        return None
    digest, now = sid_hash(token), reg.now()
    try:
        with reg.db.transaction():
            row = reg.db.one("SELECT * FROM web_once WHERE token_hash = ?", (digest,), lock=True)
            if row is None or row["session_id"] != stored.row_id or row["purpose"] != purpose:
                return None
            reg.checked("web_once", row)
            cur = reg.db.execute("DELETE FROM web_once WHERE id = ? AND mac = ?",
                                 (row["id"], row["mac"]))
            if cur.rowcount != 1 or now >= int(row["expires_at"]):
                return None
            body = reg.unseal(row["body_enc"], "web_once", "body_enc", digest)
    except (TamperedRowError, MasterKeyError):
        return None
    return str(row["name"]), str(row["media_type"]), body
