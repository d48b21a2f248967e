"""Row MACs: the rows that decide a login are vouched for by the master key.

Secrets are sealed (AES-GCM, `provisioning.keys`), but who may log in — a card's status, an
assignment, a user's failure count and lock, a temporary access row, a challenge, a soft
card's one-time activation code — is plain data. Someone who can write the database without
holding the key file could otherwise move a passcode row to a victim, set a lost card back to
active, clear the failure columns between guesses, or plant an activation code of their own
for a victim. So each such row carries `mac`: HMAC-SHA256, under a key derived from the master
key for its table, of every column of the row except `mac` itself (NULL columns left out, so a
migration that adds a nullable column keeps every MAC valid). The id is one of the columns, so
a row cannot be copied under another id, and the cards and users rows bind their id to the serial
number and the name. Every read that decides a login checks it; a failing row raises
`TamperedRowError` and grants nothing.

What a MAC cannot see: a whole earlier version of a row put back (it carried a valid MAC
then). docs/registry.md says what that leaves and what catches it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from provisioning.db import Database, Row
from provisioning.errors import TamperedRowError
from provisioning.keys import Sealer

# The tables whose rows carry a MAC; all are keyed by `id`.
TABLES = ("users", "cards", "assignments", "temp_access", "challenges", "settings",
          "web_sessions", "web_once", "api_challenges", "softcard_activations")
# The ones schema v3 MACed when it introduced the MACs (its upgrade step covers only those).
V3_TABLES = TABLES[:6]
_KEY = {"settings": "name"}




@dataclass(frozen=True)
class OwnMac:
    """A table whose rows carry a MAC of a form of their own (older than `TABLES`' form, which
    covers every column): HMAC under `purpose` of `data(row)`, for the rows `select` gives (with
    the columns `data` reads, `key` naming the row and `mac`). The modules that write and check
    these rows use `own_mac` / `own_ok`; key rotation renews them from here, so a table listed
    here cannot be forgotten by it (tests/provisioning/test_rotation.py checks the schema)."""

    table: str
    key: str
    purpose: str
    select: str
    data: Callable[[Mapping[str, Any]], bytes]


def _lines(*columns: str) -> Callable[[Mapping[str, Any]], bytes]:
    return lambda row: "\n".join(str(row[c]) for c in columns).encode()


# Operators of the console, API clients of the service, per-user IP restrictions (the
# restriction is bound to the user's name, joined in from `users`).
OWN: dict[str, OwnMac] = {m.table: m for m in (
    OwnMac("operators", "id", "operator", "SELECT * FROM operators",
           _lines("name", "role", "password_hash", "user_name", "disabled_at")),
    # revoked_at is covered since _V_REVOKE (a revoked token must not come back by an UPDATE);
    # the earlier form, purpose "api-client" over name, scope and token_hash, is in schema.py
    OwnMac("api_clients", "id", "api-client/2", "SELECT * FROM api_clients",
           _lines("name", "scope", "token_hash", "created_at", "revoked_at")),
    OwnMac("user_networks", "user_id", "user-networks",
           "SELECT n.*, (SELECT u.name FROM users u WHERE u.id = n.user_id) AS user_name "
           "FROM user_networks n", _lines("user_name", "networks")),
)}


def own_mac(sealer: Sealer, table: str, row: Mapping[str, Any]) -> str:
    spec = OWN[table]
    return sealer.mac(spec.data(row), spec.purpose)


def own_ok(sealer: Sealer, table: str, row: Mapping[str, Any], mac_value: str | None) -> bool:
    spec = OWN[table]
    return sealer.mac_ok(mac_value, spec.data(row), spec.purpose)


def remac_own(db: Database, sealer: Sealer) -> tuple[int, int]:
    """Key rotation: (renewed, left alone). Every `OWN` row whose MAC holds under one of
    `sealer`'s keys is MACed again under its current one; a row that fails keeps its MAC and
    stays refused. (Rotation changes no column these MACs cover, so one pass, under the lock.)"""
    done = left = 0
    for table, spec in OWN.items():
        for row in db.all(spec.select, lock=True):
            if not own_ok(sealer, table, row, row["mac"]):
                left += 1
                continue
            # only fixed table and column names are formatted in
            db.execute(f"UPDATE {table} SET mac = ? WHERE {spec.key} = ?",  # noqa: S608
                       (own_mac(sealer, table, row), row[spec.key]))
            done += 1
    return done, left


def key_column(table: str) -> str:
    return OWN[table].key if table in OWN else _KEY.get(table, "id")


def select(table: str) -> str:
    """The query of every row of a MACed table (`TABLES` or `OWN`), as its MAC sees them."""
    return OWN[table].select if table in OWN else f"SELECT * FROM {table}"  # noqa: S608


def row_ok(sealer: Sealer, table: str, row: Row) -> bool:
    """The row's MAC holds, whichever form its table's MACs take."""
    return own_ok(sealer, table, row, row["mac"]) if table in OWN else ok(sealer, table, row)


def row_mac(sealer: Sealer, table: str, row: Mapping[str, Any]) -> str:
    return own_mac(sealer, table, row) if table in OWN else mac(sealer, table, row)


# (columns of a row, in the order they come) -> (position, the prefix `_data` writes before the
# value) of every column but `mac`, sorted by name: computed once per shape of row, not per row.
_LAYOUTS: dict[tuple[str, ...], tuple[tuple[int, str], ...]] = {}


def _layout(keys: tuple[str, ...]) -> tuple[tuple[int, str], ...]:
    layout = _LAYOUTS.get(keys)
    if layout is None:
        layout = _LAYOUTS[keys] = tuple((i, f"{len(k)}:{k}=") for k, i in
                                        sorted((k, i) for i, k in enumerate(keys)) if k != "mac")
    return layout


def _data(table: str, row: Mapping[str, Any]) -> bytes:
    """Every non-NULL column but `mac`, sorted by name, each length-prefixed (unambiguous)."""
    # by position: a sqlite3.Row finds a column by name with a scan
    values = tuple(row) if isinstance(row, sqlite3.Row) else tuple(row.values())
    parts = [table]
    for i, prefix in _layout(tuple(row.keys())):
        v = values[i]
        if v is None:
            continue
        kind = type(v)
        if kind is str or kind is int:  # the common case, as the general one below does it
            text = "v" + str(v)
        elif isinstance(v, (bytes, bytearray, memoryview)):
            text = "b" + bytes(v).hex()
        elif isinstance(v, float) and v.is_integer():
            text = "v" + str(int(v))
        else:  # ints and text alike: SQLite's column affinity may store 4 for "4"
            text = "v" + str(v)
        parts.append(f"{prefix}{len(text)}:{text}")
    return "\n".join(parts).encode()


def mac(sealer: Sealer, table: str, row: Mapping[str, Any]) -> str:
    return sealer.mac(_data(table, row), "row " + table)


def ok(sealer: Sealer, table: str, row: Row) -> bool:
    return sealer.mac_ok(row["mac"], _data(table, row), "row " + table)


def check(sealer: Sealer, table: str, row: Row) -> Row:
    """The row itself when its MAC holds; TamperedRowError otherwise."""
    if not ok(sealer, table, row):
        raise TamperedRowError(table, describe(table, row))
    return row


def describe(table: str, row: Row) -> str:
    """How an error names the row (identities, never a secret)."""
    col = {"cards": "serial_number", "users": "name", "operators": "name", "api_clients": "name",
           "user_networks": "user_name", "softcard_activations": "user_name"}.get(table)
    name = row[col] if col and col in row.keys() else None
    key = row[key_column(table)]
    return f"{key_column(table)}={key}" + (f" ({name})" if name and name != key else "")


def scan(db: Database, sealer: Sealer) -> tuple[int, list[tuple[str, str]]]:
    """(rows checked, [(table, row) whose MAC fails]) over every MACed table (`TABLES`, `OWN`)."""
    checked, bad = 0, []
    for table in (*TABLES, *OWN):
        for row in db.all(select(table)):
            checked += 1
            if not row_ok(sealer, table, row):
                bad.append((table, describe(table, row)))
    return checked, bad


def remac_all(db: Database, sealer: Sealer, *, only_valid: Sealer | None = None,
              tables: tuple[str, ...] = TABLES) -> tuple[int, int]:
    """(re-MACed, left alone): MAC every row of every table under `sealer`'s current key.

    With `only_valid`, only rows whose MAC holds under it are renewed (key rotation: a row that
    fails keeps its old MAC, so it stays refused); without, every row is vouched for as it
    stands (the migration that introduced the MACs: whoever runs it holds the key file)."""
    done = left = 0
    for table in tables:
        key = key_column(table)
        # only fixed table and column names are formatted in
        for row in db.all(f"SELECT * FROM {table}", lock=True):  # noqa: S608
            if only_valid is not None and not ok(only_valid, table, row):
                left += 1
                continue
            db.execute(f"UPDATE {table} SET mac = ? WHERE {key} = ?",  # noqa: S608
                       (mac(sealer, table, row), row[key]))
            done += 1
    return done, left
