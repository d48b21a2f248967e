"""API clients of the verification service: who may call it, with which scope.

A client is a name, a scope (`verify`: challenges and responses for a login server; `support`:
the support console's actions) and a bearer token. The token is shown once, when the client is
added; the registry keeps its SHA-256 (the token is 256 random bits, so a plain hash is as good
as a slow one) and a MAC under the master key over name, scope, that hash, the creation time and
the revocation time (`integrity.OWN`). A row written by someone who can edit the database but
does not hold the key file therefore authenticates nobody, and neither does a row whose scope
was edited or whose `revoked_at` was set back to NULL: `revoke` renews the MAC with the time in
it. (Deleting a row only takes a client away.)

Adding and revoking are audited; `authenticate` is not (the service audits each call it then
makes, under the client's name).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from provisioning import integrity
from provisioning.db import Row
from provisioning.errors import InvalidInputError, NotFoundError, ProvisioningError
from provisioning.registry import Registry

SCOPES = ("verify", "support")
TOKEN_PREFIX = "dsc_"  # noqa: S105 (a marker, not a secret)
_MAX_TOKEN = 200


class AuthenticationError(ProvisioningError):
    """No valid token (missing, malformed, unknown, revoked or its row fails its MAC)."""


@dataclass(frozen=True)
class ApiClient:
    name: str
    scope: str
    created_at: int
    revoked_at: int | None

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "scope": self.scope, "created_at": self.created_at,
                "revoked_at": self.revoked_at,
                "status": "revoked" if self.revoked_at is not None else "active"}


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def _check_name(name: str) -> None:
    if not name or len(name) > 64 or not all(c.isascii() and (c.isalnum() or c in "-_.")
                                             for c in name):
        raise InvalidInputError("an API client name is 1 to 64 letters, digits, '-', '_' or '.'")


def check_new(reg: Registry, name: str, scope: str) -> None:
    """What `add` would refuse: the name, the scope, an active client of that name already."""
    _check_name(name)
    if scope not in SCOPES:
        raise InvalidInputError(f"unknown scope {scope}; one of {', '.join(SCOPES)}")
    if reg.db.one("SELECT id FROM api_clients WHERE name = ? AND revoked_at IS NULL",
                  (name,)) is not None:
        raise InvalidInputError(f"an API client {name} exists already: revoke it first")


def add(reg: Registry, name: str, scope: str) -> str:
    """A new client; returns its bearer token (the only time it exists outside the caller)."""
    _check_name(name)
    if scope not in SCOPES:
        raise InvalidInputError(f"unknown scope {scope}; one of {', '.join(SCOPES)}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    digest = token_hash(token)
    with reg.db.transaction():
        if reg.db.one("SELECT id FROM api_clients WHERE name = ? AND revoked_at IS NULL",
                      (name,)) is not None:
            raise InvalidInputError(f"an API client {name} exists already: revoke it first")
        now = reg.now()
        reg.db.execute("INSERT INTO api_clients (name, scope, token_hash, mac, created_at) "
                       "VALUES (?, ?, ?, ?, ?)",
                       (name, scope, digest, integrity.own_mac(reg.sealer, "api_clients", {
                           "name": name, "scope": scope, "token_hash": digest,
                           "created_at": now, "revoked_at": None}), now))
        reg.log("api-client.add", "ok", detail={"client": name, "scope": scope})
    return token


def _client(row: Row) -> ApiClient:
    return ApiClient(name=row["name"], scope=row["scope"], created_at=int(row["created_at"]),
                     revoked_at=None if row["revoked_at"] is None else int(row["revoked_at"]))


def clients(reg: Registry, include_revoked: bool = False) -> list[ApiClient]:
    sql = "SELECT * FROM api_clients"
    if not include_revoked:
        sql += " WHERE revoked_at IS NULL"
    return [_client(r) for r in reg.db.all(sql + " ORDER BY name, id")]


def revoke(reg: Registry, name: str) -> None:
    with reg.db.transaction():
        row = reg.db.one("SELECT * FROM api_clients WHERE name = ? AND revoked_at IS NULL",
                         (name,), lock=True)
        if row is None:
            raise NotFoundError(f"no active API client {name}")
        now = reg.now()
        # The MAC is renewed with the revocation in it only when it held. A row edited without
        # the key file is revoked all the same, and its MAC dropped rather than kept: the old
        # one vouches for the row as it was, active, and putting the edited columns back would
        # otherwise revive it. It keeps failing its check (never laundered; `dsc audit --verify`).
        intact = integrity.own_ok(reg.sealer, "api_clients", row, row["mac"])
        mac = integrity.own_mac(reg.sealer, "api_clients", {**dict(row), "revoked_at": now}) \
            if intact else ""
        reg.db.execute("UPDATE api_clients SET revoked_at = ?, mac = ? WHERE id = ?",
                       (now, mac, row["id"]))
        reg.log("api-client.revoke", "ok", detail={"client": name, **({} if intact else {
            "row": "fails its MAC check"})})


def authenticate(reg: Registry, token: str) -> ApiClient:
    """The active client whose token this is; AuthenticationError (saying why, never the
    token) otherwise."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > _MAX_TOKEN or not token.isascii():
        raise AuthenticationError("malformed bearer token")
    digest = token_hash(token)
    row = reg.db.one("SELECT * FROM api_clients WHERE token_hash = ?", (digest,))
    if row is None:
        raise AuthenticationError("unknown bearer token")
    # The lookup went by the hash; compare again in constant time, then the row's MAC.
    if not hmac.compare_digest(row["token_hash"], digest) or not integrity.own_ok(
            reg.sealer, "api_clients", {**dict(row), "token_hash": digest}, row["mac"]):
        raise AuthenticationError("the API client's row fails its MAC check (edited without "
                                  "the master key)")
    if row["revoked_at"] is not None:
        raise AuthenticationError("revoked bearer token")
    return _client(row)
