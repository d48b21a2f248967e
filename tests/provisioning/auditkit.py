"""Audit-log test helpers: what someone with write access to the database (not the master key)
can do to the log, and a registry put back to the single-chain log of schema 1 or 2."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

from provisioning import audit, registry, schema
from provisioning.db import Database
from provisioning.keys import Sealer, create_key_file


def rechain(db: Database, chain: int, start: int) -> None:
    """Recompute every hash of `chain` from place `start` on and point its head at the new
    last entry (the head's MAC cannot be made without the key: it is left as it is)."""
    prev = db.one("SELECT hash FROM audit WHERE chain = ? AND chain_seq = ?", (chain, start - 1))
    last = prev["hash"] if prev else ""
    rows = db.all("SELECT * FROM audit WHERE chain = ? AND chain_seq >= ? ORDER BY chain_seq",
                  (chain, start))
    for row in rows:
        digest = audit._digest(last, audit._fields(row))
        db.execute("UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?",
                   (last, digest, row["seq"]))
        last = digest
    top = db.one("SELECT MAX(chain_seq) AS n FROM audit WHERE chain = ?", (chain,))
    db.execute("UPDATE audit_chains SET seq = ?, hash = ? WHERE id = ?",
               (top["n"] or 0 if top else 0, last, chain))


def busy_chains(db: Database) -> list[int]:
    rows = db.all("SELECT id FROM audit_chains WHERE seq > 0 ORDER BY id")
    return [int(r["id"]) for r in rows]


_OLD_TABLES = {"schema_version", "meta", "settings", "counters", "cards", "users", "assignments",
               "challenges", "temp_access", "audit"}


def _old_digest(prev: str, fields: list[Any]) -> str:
    body = json.dumps(fields, separators=(",", ":"), sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(f"{prev}\n{body}".encode()).hexdigest()


def to_single_chain(path: str, version: int, sealer: Sealer | None) -> None:
    """Rewrite a current SQLite registry's log as schema `version` (1 or 2) kept it: one chain
    in `seq` order with the old hash, one `audit_head` row (MACed the old way when `sealer` is
    given and version is 2), and `schema_version` back at `version`."""
    assert version < schema.AUDIT_CHAINS_SINCE
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        prev, n = "", 0
        for row in conn.execute("SELECT * FROM audit ORDER BY seq").fetchall():
            n += 1
            fields = [n, row["at"], row["operator"], row["action"], row["serial_number"],
                      row["user_name"], row["outcome"], row["detail"]]
            digest = _old_digest(prev, fields)
            conn.execute("UPDATE audit SET seq = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                         (-n, prev, digest, row["seq"]))
            prev = digest
        conn.execute("UPDATE audit SET seq = -seq")
        conn.execute("DROP INDEX audit_chain_seq")
        for column in ("chain", "chain_seq", "format"):
            conn.execute(f"ALTER TABLE audit DROP COLUMN {column}")
        conn.execute("DROP TABLE audit_chains")
        conn.execute("DROP TABLE audit_checkpoints")
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                     "AND name NOT LIKE 'sqlite_%'").fetchall():
            if table not in _OLD_TABLES:  # tables later migrations (of any branch) made
                conn.execute(f"DROP TABLE {table}")
        conn.execute("CREATE TABLE audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), "
                     "seq BIGINT NOT NULL, hash TEXT NOT NULL)")
        conn.execute("INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?)", (n, prev))
        if version >= 2:
            conn.execute("ALTER TABLE audit_head ADD COLUMN mac TEXT")
            if sealer is not None:
                mac = sealer.mac(f"{n}:{prev}".encode("ascii"), "audit head")
                conn.execute("UPDATE audit_head SET mac = ?", (mac,))
        conn.execute("DELETE FROM schema_version WHERE version > ?", (version,))


def legacy_registry(path: Path, key_file: Path, version: int,
                    actions: list[tuple[str, str | None, str]], *, at: int) -> Sealer:
    """A registry made from scratch as schema `version` (< the chains) left it: the first
    `version` migrations only, the key check, and the log entries of `actions` (action, user,
    outcome) in the single chain with the old hashes and the old head MAC. Built, not
    downgraded, so migrations other branches add later do not get in the way."""
    assert version < schema.AUDIT_CHAINS_SINCE
    create_key_file(key_file)
    sealer = Sealer.from_file(key_file)
    db = Database(str(path))
    try:
        with db.transaction():
            db.execute("CREATE TABLE schema_version "
                       "(version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)")
            for v in range(version):
                sql = [schema._for("sqlite", q).format(**schema._TYPES["sqlite"])
                       for q in schema.MIGRATIONS[v]]
                db.script([q for q in sql if q])
                db.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                           (v + 1, at))
            registry._store_key_check(db, sealer)
            prev = ""
            for n, (action, user, outcome) in enumerate(actions, 1):
                fields = [n, at, "old", action, None, user, outcome, "{}"]
                digest = _old_digest(prev, fields)
                db.execute("INSERT INTO audit (seq, at, operator, action, serial_number, "
                           "user_name, outcome, detail, prev_hash, hash) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (*fields, prev, digest))
                prev = digest
            db.execute("UPDATE audit_head SET seq = ?, hash = ?", (len(actions), prev))
            if version >= 2:
                mac = sealer.mac(f"{len(actions)}:{prev}".encode("ascii"), "audit head")
                db.execute("UPDATE audit_head SET mac = ?", (mac,))
    finally:
        db.close()
    return sealer
