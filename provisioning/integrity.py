"""Row MACs: the rows that decide a login are vouched for by the master key.

Secrets are sealed (AES-GCM, `provisioning.keys`), but who may log in — a card's status, an
assignment, a user's failure count and lock, a temporary access row, a challenge — is plain
data. Someone who can write the database without holding the key file could otherwise move a
passcode row to a victim, set a lost card back to active, or clear the failure columns between
guesses. So each such row carries `mac`: HMAC-SHA256, under a key derived from the master key for
its table, of every column of the row except `mac` itself (NULL columns left out, so a migration
that adds a nullable column keeps every MAC valid). The id is one of the columns, so a row
cannot be copied under another id, and the cards and users rows bind their id to the serial
number and the name. Every read that decides a login checks it; a failing row raises
`TamperedRowError` and grants nothing.

What a MAC cannot see: a whole earlier version of a row put back (it carried a valid MAC
then). docs/registry.md says what that leaves and what catches it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from provisioning.db import Database, Row
from provisioning.errors import TamperedRowError
from provisioning.keys import Sealer

# The tables whose rows carry a MAC; all are keyed by `id`.
TABLES = ("users", "cards", "assignments", "temp_access", "challenges", "settings")
_KEY = {"settings": "name"}


def key_column(table: str) -> str:
    return _KEY.get(table, "id")


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
    col = {"cards": "serial_number", "users": "name"}.get(table)
    name = row[col] if col and col in row.keys() else None
    key = row[key_column(table)]
    return f"{key_column(table)}={key}" + (f" ({name})" if name and name != key else "")


def scan(db: Database, sealer: Sealer) -> tuple[int, list[tuple[str, str]]]:
    """(rows checked, [(table, row) whose MAC fails]) over every MACed table."""
    checked, bad = 0, []
    for table in TABLES:
        for row in db.all(f"SELECT * FROM {table}"):  # noqa: S608
            checked += 1
            if not ok(sealer, table, row):
                bad.append((table, describe(table, row)))
    return checked, bad


def remac_all(db: Database, sealer: Sealer, *, only_valid: Sealer | None = None) -> tuple[int, int]:
    """(re-MACed, left alone): MAC every row of every table under `sealer`'s current key.

    With `only_valid`, only rows whose MAC holds under it are renewed (key rotation: a row that
    fails keeps its old MAC, so it stays refused); without, every row is vouched for as it
    stands (the migration that introduced the MACs: whoever runs it holds the key file)."""
    done = left = 0
    for table in TABLES:
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
