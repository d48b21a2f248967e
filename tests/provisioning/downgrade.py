"""Put a SQLite registry back to what an older schema left, for the upgrade tests: each
function undoes one migration (newest first); `to_v2` undoes all that came after schema v2."""

from __future__ import annotations

import sqlite3
from typing import Any

from provisioning import schema


def forget_since(conn: sqlite3.Connection, migration: Any) -> int:
    """Mark `migration` and every one after it as not applied (their changes undone by the
    caller): how many an upgrade then applies."""
    version = schema.MIGRATIONS.index(migration) + 1
    conn.execute("DELETE FROM schema_version WHERE version >= ?", (version,))
    return schema.VERSION - version + 1


def undo_throttle(conn: sqlite3.Connection) -> None:
    """Undo the throttle migration (the console's failed sign-ins in the registry)."""
    conn.execute("DROP TABLE sign_in_throttle")


def undo_actmac(conn: sqlite3.Connection) -> None:
    """Undo the actmac migration (the soft card activation codes' MAC column)."""
    conn.execute("ALTER TABLE softcard_activations DROP COLUMN mac")


def undo_revoke(conn: sqlite3.Connection) -> None:
    """Undo the columns of the revoke migration (its MAC forms are the tests' business)."""
    conn.execute("ALTER TABLE api_challenges DROP COLUMN mac")
    conn.execute("ALTER TABLE users DROP COLUMN ip_restricted")


def undo_flows(conn: sqlite3.Connection) -> None:
    """Undo the flows migration (development cards, temporary access per card, PIN length)."""
    for table, column in (("cards", "development"), ("temp_access", "card_id"),
                          ("users", "pin_len")):
        conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")


def undo_serve(conn: sqlite3.Connection) -> None:
    """Undo the verification service's tables (api clients, challenges' purpose, networks)."""
    for table in ("api_clients", "api_challenges", "user_networks"):
        conn.execute(f"DROP TABLE {table}")


def undo_v3(conn: sqlite3.Connection) -> None:
    """Undo what schema v3 added (row MACs, the challenge counters, the cells seen)."""
    conn.execute("DROP INDEX challenges_user")
    conn.execute("DROP INDEX challenges_card")
    for table, column in (("users", "mac"), ("cards", "mac"), ("cards", "challenge_gen"),
                          ("cards", "challenges_issued"), ("assignments", "mac"),
                          ("temp_access", "mac"), ("temp_access", "cells_seen"),
                          ("challenges", "mac"), ("settings", "mac")):
        conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")


def to_v2(conn: sqlite3.Connection) -> None:
    undo_throttle(conn)
    undo_actmac(conn)
    undo_revoke(conn)
    undo_flows(conn)
    undo_serve(conn)
    undo_v3(conn)
    conn.execute("DELETE FROM schema_version WHERE version > 2")
