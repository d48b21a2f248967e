"""The append-only, hash-chained audit log.

Every entry's hash covers its own fields and the previous entry's hash:

    hash(n) = SHA-256( hash(n-1) || "\\n" || canonical JSON [seq, at, operator, action,
                                                             serial_number, user, outcome, detail] )

so editing any entry breaks its hash, and deleting or inserting one breaks the chain (and the
sequence numbers). `audit_head` keeps the last sequence number and hash, so dropping entries
from the end is found too.

The chain alone does not stop someone who can write the database: they could delete the
newest entries and point the head at the new last one, or edit an entry and recompute every
hash after it. So the head also carries a MAC of (seq, hash) under a key derived from the
registry master key, which lives outside the database (`Sealer.mac`). Any rewrite of the
tail or of the chain leaves a head whose MAC does not match, and without the key file a valid
one cannot be made. Every append checks the head's MAC before it extends the chain (appending
onto a forged head would launder the cut) and refuses to log — so refuses the operation — when
it fails. What the MAC cannot catch is the whole database put back to an older copy: quote the
head that `dsc audit --verify` prints somewhere outside the database for that.
Appending takes the head's row lock (FOR UPDATE / the SQLite write lock), so concurrent writers
extend one chain.

Details must never hold a secret: callers pass names, reasons and counts only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from provisioning.db import Database, Row
from provisioning.errors import AuditError
from provisioning.keys import Sealer

_PURPOSE = "audit head"
_BROKEN_HEAD = ("audit log broken: its head fails its MAC check (the newest entries were "
                "deleted, or entries edited and the chain recomputed, by someone without the "
                "master key)")


@dataclass(frozen=True)
class Entry:
    seq: int
    at: int
    operator: str
    action: str
    serial_number: str | None
    user: str | None
    outcome: str
    detail: dict[str, Any]
    hash: str

    def as_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": self.at, "operator": self.operator, "action": self.action,
                "serial_number": self.serial_number, "user": self.user, "outcome": self.outcome,
                "detail": self.detail, "hash": self.hash}


def _digest(prev: str, fields: list[Any]) -> str:
    body = json.dumps(fields, separators=(",", ":"), sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(f"{prev}\n{body}".encode()).hexdigest()


def append(db: Database, sealer: Sealer, *, at: int, operator: str, action: str, outcome: str,
           serial_number: str | None = None, user: str | None = None,
           detail: Mapping[str, Any] | None = None) -> int:
    """Add one entry inside the caller's transaction; returns its sequence number."""
    head = db.one("SELECT seq, hash, mac FROM audit_head WHERE id = 1", lock=True)
    assert head is not None, "audit_head row missing"
    if not _head_ok(sealer, head):
        raise AuditError(f"{_BROKEN_HEAD}: nothing more is logged, so nothing is done, until "
                         f"it is looked into (see docs/registry.md, audit log)")
    seq = int(head["seq"]) + 1
    detail_json = json.dumps(dict(detail or {}), separators=(",", ":"), sort_keys=True)
    fields = [seq, at, operator, action, serial_number, user, outcome, detail_json]
    digest = _digest(head["hash"], fields)
    db.execute("INSERT INTO audit (seq, at, operator, action, serial_number, user_name, outcome, "
               "detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
               (*fields, head["hash"], digest))
    db.execute("UPDATE audit_head SET seq = ?, hash = ?, mac = ? WHERE id = 1",
               (seq, digest, _head_mac(sealer, seq, digest)))
    return seq


def _head_data(seq: int, digest: str) -> bytes:
    return f"{seq}:{digest}".encode("ascii")


def _head_mac(sealer: Sealer, seq: int, digest: str) -> str:
    return sealer.mac(_head_data(seq, digest), _PURPOSE)


def _head_ok(sealer: Sealer, head: Row) -> bool:
    return sealer.mac_ok(head["mac"], _head_data(int(head["seq"]), head["hash"]), _PURPOSE)


def head_ok(db: Database, sealer: Sealer) -> bool:
    """True when the head's MAC checks (cheap: the readiness probe of `dsc serve`)."""
    head = db.one("SELECT seq, hash, mac FROM audit_head WHERE id = 1")
    return head is not None and _head_ok(sealer, head)


def anchor(db: Database, sealer: Sealer) -> int:
    """MAC the head as it stands; returns its sequence number.

    For `dsc registry init` on a new or upgraded registry, and `dsc audit --anchor` after an
    alarm was looked into: whoever runs it holds the key file and vouches for the log as it
    is. Nothing else ever re-MACs a head that fails its check."""
    head = db.one("SELECT seq, hash FROM audit_head WHERE id = 1", lock=True)
    assert head is not None, "audit_head row missing"
    db.execute("UPDATE audit_head SET mac = ? WHERE id = 1",
               (_head_mac(sealer, int(head["seq"]), head["hash"]),))
    return int(head["seq"])


def _entry(row: Row) -> Entry:
    return Entry(seq=int(row["seq"]), at=int(row["at"]), operator=row["operator"],
                 action=row["action"], serial_number=row["serial_number"],
                 user=row["user_name"], outcome=row["outcome"],
                 detail=json.loads(row["detail"]), hash=row["hash"])


def entries(db: Database, *, user: str | None = None, serial_number: str | None = None,
            action: str | None = None, limit: int | None = None) -> list[Entry]:
    """Entries, newest last, optionally filtered; `limit` keeps the newest ones."""
    where, params = [], []
    for column, value in (("user_name", user), ("serial_number", serial_number),
                          ("action", action)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    # Only fixed column names are joined in; values go as parameters.
    sql = "SELECT * FROM audit" + (" WHERE " + " AND ".join(where) if where else "")  # noqa: S608
    sql += " ORDER BY seq DESC"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [_entry(r) for r in reversed(db.all(sql, params))]


def _rows(db: Database, batch: int = 5000) -> Iterator[Row]:
    last = 0
    while True:
        rows = db.all("SELECT * FROM audit WHERE seq > ? ORDER BY seq LIMIT ?", (last, batch))
        if not rows:
            return
        yield from rows
        last = int(rows[-1]["seq"])


def verify(db: Database, sealer: Sealer) -> tuple[int, str]:
    """Check the chain and its head: (entries, head hash), or AuditError at the first break."""
    prev, expected_seq = "", 1
    with db.transaction():  # one consistent snapshot of log and head
        for row in _rows(db):
            seq = int(row["seq"])
            if seq != expected_seq:
                raise AuditError(f"audit log broken: entry {expected_seq} is missing "
                                 f"(next is {seq}): entries were deleted")
            if row["prev_hash"] != prev:
                raise AuditError(f"audit log broken at entry {seq}: it does not follow entry "
                                 f"{seq - 1} (an entry was edited, deleted or inserted)")
            fields = [seq, int(row["at"]), row["operator"], row["action"], row["serial_number"],
                      row["user_name"], row["outcome"], row["detail"]]
            if _digest(prev, fields) != row["hash"]:
                raise AuditError(f"audit log broken at entry {seq}: its content was edited")
            prev, expected_seq = row["hash"], seq + 1
        head = db.one("SELECT seq, hash, mac FROM audit_head WHERE id = 1")
    count = expected_seq - 1
    if head is None or int(head["seq"]) != count or head["hash"] != prev:
        raise AuditError(f"audit log broken: the log ends at entry {count} but its head says "
                         f"{head['seq'] if head else '?'}: entries at the end were deleted")
    if not _head_ok(sealer, head):
        raise AuditError(_BROKEN_HEAD)
    return count, prev


def seq_of(db: Database, digest: str) -> int | None:
    """The sequence number of the entry whose hash is `digest` (an anchor quoted outside the
    database), or None when the log holds no such entry."""
    row = db.one("SELECT seq FROM audit WHERE hash = ?", (digest,))
    return None if row is None else int(row["seq"])
