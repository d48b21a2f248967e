"""The append-only, hash-chained audit log, written without a global lock.

The log is a few independent hash chains (`schema.AUDIT_CHAINS` of them, rows of
`audit_chains`). An entry belongs to one chain and has a place in it (`chain_seq`, 1, 2, ...)
and a registry-wide number (`seq`, increasing, gaps allowed: a rolled-back transaction leaves
one on PostgreSQL). Its hash covers its own fields and the previous entry of its chain:

    hash = SHA-256( prev hash || "\\n" || canonical JSON [2, chain, chain_seq, seq, at, operator,
                                                        action, serial_number, user, outcome,
                                                        detail] )

(entries written before the chains came, `format` 1, are chain 0's first entries and keep
their old hash, which covered [seq, at, operator, ...]). Editing an entry breaks its hash;
deleting, inserting or reordering entries breaks its chain's links and numbering.

Each chain's head row keeps its last place and hash with a MAC under a key derived from the
registry master key, which lives outside the database (`Sealer.mac`): rewriting a chain's tail
and its head needs the key file. An append checks the head's MAC before it extends the chain
(appending onto a forged head would launder the cut) and refuses to log, so refuses the
operation, when it fails.

Why several chains: a writer locks only the head row of the chain it appends to, and takes a
chain no other transaction holds (`FOR UPDATE SKIP LOCKED`, its own chain first), so parallel
verifications never queue on the audit log. A connection remembers the head it wrote last and
extends it with one conditional statement (it re-reads the head only when someone else moved
it): two round trips per entry on PostgreSQL, the entry's number and that statement. In a
pipelined transaction (`Database.transaction(pipeline=True)`) `reserve()` sends the entry's
number and the lock of the remembered head with the transaction's first reads, and the entry
goes out with its last writes: no round trip of its own while the head is as the connection
left it, one (locking another head) when not. SQLite has one writer at a time anyway and uses
chain 0.

What one head's MAC cannot catch is a head put back to an older MACed value together with the
entries after it deleted (the same as the whole database put back to an older copy). Two things
do: checkpoints and an external anchor. `checkpoint()` (run by `dsc audit --verify`, and by a
service from time to time, never in the verification transaction) binds every chain's head at
that moment under one MAC; `verify()` checks that every checkpoint's entries are still there.
`head_hash()` is one hash over all chain heads: quote it outside the database (a ticket, a
printout, a log server) and `verify(..., expect=HASH)` later proves the log still holds that
state (it is the current head, or a checkpoint's).

Details must never hold a secret: callers pass names, reasons and counts only.
"""

from __future__ import annotations

import hashlib
import json
import random
import weakref
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from provisioning import schema
from provisioning.db import Database, Pending, Row
from provisioning.errors import AuditError
from provisioning.keys import Sealer

_PURPOSE = "audit chain"
_CHECKPOINT = "audit checkpoint"
_LEGACY_PURPOSE = "audit head"   # the single head's MAC before the chains
_FORMAT = 2
_BROKEN_HEAD = ("audit log broken: chain {chain}'s head fails its MAC check (its newest "
                "entries were deleted, or entries edited and the chain recomputed, by someone "
                "without the master key)")

Head = tuple[int, int, str]  # (chain, seq within the chain, hash)


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
    chain: int = 0
    chain_seq: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": self.at, "operator": self.operator, "action": self.action,
                "serial_number": self.serial_number, "user": self.user, "outcome": self.outcome,
                "detail": self.detail, "hash": self.hash, "chain": self.chain,
                "chain_seq": self.chain_seq}


# The canonical JSON of hashes and details, one encoder for all (json.dumps with these options
# builds a new one per call).
_CANONICAL = json.JSONEncoder(separators=(",", ":"), sort_keys=True, ensure_ascii=True)


def _digest(prev: str, fields: list[Any]) -> str:
    body = _CANONICAL.encode(fields)
    return hashlib.sha256(f"{prev}\n{body}".encode()).hexdigest()


def _fields(row: Row) -> list[Any]:
    """What an entry's hash covers, by its format."""
    common = [int(row["seq"]), int(row["at"]), row["operator"], row["action"],
              row["serial_number"], row["user_name"], row["outcome"], row["detail"]]
    if int(row["format"]) == 1:
        return common
    return [int(row["format"]), int(row["chain"]), int(row["chain_seq"]), *common]


# --- the hot path ---------------------------------------------------------------------------
class _Writer:
    """Per connection: the chain it prefers and the head it wrote last."""

    def __init__(self, db: Database) -> None:
        self.chain = random.randrange(1 << 16) if db.dialect == "postgres" else 0
        self.head: Head | None = None
        self.mac = ""  # the head's MAC as this connection last saw or wrote it
        self.held_in = 0  # the transaction (Database.serial) holding `head`'s row lock
        self.seq = 0  # SQLite: the number of the entry this connection wrote last
        # reserve(): (transaction, the entry's number, the lock of `head`), still to be read
        self.reserved: tuple[int, Pending, Pending | None] | None = None


_WRITERS: weakref.WeakKeyDictionary[Database, _Writer] = weakref.WeakKeyDictionary()


def _writer(db: Database) -> _Writer:
    w = _WRITERS.get(db)
    if w is None:
        w = _WRITERS[db] = _Writer(db)
    return w


_INSERT = ("INSERT INTO audit (seq, chain, chain_seq, format, at, operator, action, "
           "serial_number, user_name, outcome, detail, prev_hash, hash) ")
_VALUES = "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?"


def append(db: Database, sealer: Sealer, *, at: int, operator: str, action: str, outcome: str,
           serial_number: str | None = None, user: str | None = None,
           detail: Mapping[str, Any] | None = None) -> int:
    """Add one entry inside the caller's transaction; returns its `seq`.

    PostgreSQL: two round trips (the entry's number, then head and entry in one statement)
    when this connection's chain head is as it left it, one more when it must lock a head.
    Pipelined: none after `reserve()` while the head is as it was left (see the docstring)."""
    w = _writer(db)
    detail_json = _CANONICAL.encode(dict(detail or {}))
    if db.pipelined:
        return _append_pipelined(db, sealer, w, [at, operator, action, serial_number, user,
                                                 outcome, detail_json])
    fields = [at, operator, action, serial_number, user, outcome, detail_json]
    for cached in (True, False):
        old = w.head if cached else _take_chain(db, sealer, w)
        if old is None:
            continue
        # SQLite writes chain 0 only: while its head is as this connection left it (the write
        # below is conditional on that), nobody has logged since, so the next number is known.
        seq = w.seq + 1 if cached and db.dialect == "sqlite" and w.seq else _next_seq(db)
        common = [seq, *fields]
        chain, last, prev = old
        new = (chain, last + 1, _digest(prev, [_FORMAT, chain, last + 1, *common]))
        mac = _head_mac(sealer, new)
        if _write(db, (old, w.mac), (new, mac), common):
            w.head, w.mac, w.seq = new, mac, seq
            return seq
        w.head = None  # someone else moved that chain: read a head, with its lock
    raise AuditError("audit log: a chain head moved under its row lock")  # pragma: no cover


def reserve(db: Database) -> None:
    """In a pipelined transaction, before its first reads are waited for: send the number of
    the audit entry it will write and the lock of the chain head this connection wrote last
    (only if it is still exactly as left, and nobody holds it). Nothing elsewhere."""
    if not db.pipelined:
        return
    w = _writer(db)
    seq = db.send("SELECT nextval('audit_seq') AS n")
    lock = None
    if w.head is not None:
        chain, last, digest = w.head
        lock = db.send("SELECT id FROM audit_chains WHERE id = ? AND seq = ? AND hash = ? "
                       "AND mac = ? FOR UPDATE SKIP LOCKED", (chain, last, digest, w.mac))
    w.reserved = (db.serial, seq, lock)


def forget(db: Database) -> None:
    """After a rollback: the head this connection wrote last may not be there."""
    w = _WRITERS.get(db)
    if w is not None:
        w.head, w.reserved, w.seq = None, None, 0


def _append_pipelined(db: Database, sealer: Sealer, w: _Writer, fields: list[Any]) -> int:
    """`append` in a pipelined transaction: the entry is sent with the head's move, which
    fails the transaction (`WriteConflict`) if the head is not as locked."""
    pending, w.reserved = w.reserved, None
    seq_sent, lock = (pending[1], pending[2]) if pending and pending[0] == db.serial else \
        (None, None)
    row = seq_sent.one() if seq_sent is not None else None
    seq = int(row["n"]) if row is not None else _next_seq(db)
    held = w.head is not None and (w.held_in == db.serial or
                                   (lock is not None and lock.one() is not None))
    old = w.head if held and w.head is not None else _take_chain(db, sealer, w)
    common = [seq, *fields]
    chain, last, prev = old
    new = (chain, last + 1, _digest(prev, [_FORMAT, chain, last + 1, *common]))
    mac = _head_mac(sealer, new)
    _write(db, (old, w.mac), (new, mac), common)
    w.head, w.mac, w.held_in = new, mac, db.serial
    return seq


def _next_seq(db: Database) -> int:
    if db.dialect == "postgres":
        row = db.one("SELECT nextval('audit_seq') AS n")
    else:  # under BEGIN IMMEDIATE: nobody else writes
        row = db.one("SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM audit")
    assert row is not None
    return int(row["n"])


def _take_chain(db: Database, sealer: Sealer, w: _Writer) -> Head:
    """Lock a chain's head (one nobody holds, this connection's own first) and check its MAC."""
    prefer = w.chain % _chain_count(db)
    head = None
    if db.dialect == "postgres":
        head = db.one("SELECT id, seq, hash, mac FROM audit_chains ORDER BY (id = ?) DESC, id "
                      "LIMIT 1 FOR UPDATE SKIP LOCKED", (prefer,))
    if head is None:  # SQLite, or every chain busy: wait for this connection's own
        head = db.one("SELECT id, seq, hash, mac FROM audit_chains WHERE id = ?", (prefer,),
                      lock=True)
    if head is None:
        raise AuditError("audit log broken: its chain heads are missing")
    chain = int(head["id"])
    if not _head_ok(sealer, head):
        raise AuditError(_BROKEN_HEAD.format(chain=chain) + ": nothing more is logged, so "
                         "nothing is done, until it is looked into (see docs/registry.md, "
                         "audit log)")
    w.chain, w.mac = chain, head["mac"]
    return chain, int(head["seq"]), head["hash"]


_COUNTS: weakref.WeakKeyDictionary[Database, int] = weakref.WeakKeyDictionary()


def _chain_count(db: Database) -> int:
    n = _COUNTS.get(db)
    if n is None:
        row = db.one("SELECT COUNT(*) AS n FROM audit_chains")
        n = _COUNTS[db] = max(int(row["n"]) if row else 0, 1)
    return n


def _write(db: Database, old: tuple[Head, str], new: tuple[Head, str],
           common: list[Any]) -> bool:
    """Move the chain's head row from `old` to `new` (head, MAC) and insert the entry, if the
    row is still exactly `old` (whose MAC was checked when it was read); False, and nothing
    written, if anything in it changed."""
    (chain, place, digest), mac = new
    (_, last, prev), old_mac = old
    update = ("UPDATE audit_chains SET seq = ?, hash = ?, mac = ? "
              "WHERE id = ? AND seq = ? AND hash = ? AND mac = ?")
    uparams = (place, digest, mac, chain, last, prev, old_mac)
    iparams = (common[0], chain, place, _FORMAT, *common[1:], prev, digest)
    if db.pipelined:  # sent, not waited for: the transaction fails if the head moved
        return db.send_one_change(f"{_INSERT} SELECT {_VALUES} FROM moved",  # noqa: S608
                                  (*uparams, *iparams), before=f"moved AS ({update} RETURNING id)")
    if db.dialect == "postgres":  # one statement: the insert happens only if the update did
        # Only the fixed SQL above is joined in; values go as parameters.
        row = db.one(f"WITH moved AS ({update} RETURNING id) {_INSERT} "  # noqa: S608
                     f"SELECT {_VALUES} FROM moved RETURNING seq", (*uparams, *iparams))
        return row is not None
    if db.execute(update, uparams).rowcount != 1:
        return False
    db.execute(f"{_INSERT} VALUES ({_VALUES})", iparams)
    return True


def _head_data(head: Head) -> bytes:
    chain, seq, digest = head
    return f"{chain}:{seq}:{digest}".encode("ascii")


def _head_mac(sealer: Sealer, head: Head) -> str:
    return sealer.mac(_head_data(head), _PURPOSE)


def _as_head(row: Row) -> Head:
    return int(row["id"]), int(row["seq"]), row["hash"]


def _head_ok(sealer: Sealer, row: Row) -> bool:
    return sealer.mac_ok(row["mac"], _head_data(_as_head(row)), _PURPOSE)


# --- heads, anchors and checkpoints -----------------------------------------------------------
def heads(db: Database) -> list[Head]:
    return [_as_head(r) for r in db.all("SELECT id, seq, hash FROM audit_chains ORDER BY id")]


def head_hash(db: Database | None = None, chain_heads: Sequence[Head] | None = None) -> str:
    """One hash over every chain's head: it commits to the whole log as it stands.

    This is what to quote outside the database (`dsc audit --verify` prints it); pass
    `chain_heads` to compute it for a recorded set of heads."""
    if chain_heads is None:
        assert db is not None, "head_hash needs a database or chain heads"
        chain_heads = heads(db)
    text = "\n".join(f"{c}:{s}:{h}" for c, s, h in sorted(chain_heads))
    return hashlib.sha256(f"OpenDSC audit heads\n{text}".encode()).hexdigest()


def head_ok(db: Database, sealer: Sealer) -> bool:
    """True when every chain is there and its head's MAC checks: one query, for a readiness
    probe (`verify` is the full check)."""
    rows = db.all("SELECT id, seq, hash, mac FROM audit_chains ORDER BY id")
    return ([int(r["id"]) for r in rows] == list(range(schema.AUDIT_CHAINS))
            and all(_head_ok(sealer, r) for r in rows))


def anchor(db: Database, sealer: Sealer) -> int:
    """MAC every chain's head as it stands; returns the number of entries they cover.

    For `dsc registry init` on a new or upgraded registry, and `dsc audit --anchor` after an
    alarm was looked into: whoever runs it holds the key file and vouches for the log as it
    is. Nothing else ever re-MACs a head that fails its check."""
    rows = db.all("SELECT id, seq, hash FROM audit_chains ORDER BY id", lock=True)
    for row in rows:
        db.execute("UPDATE audit_chains SET mac = ? WHERE id = ?",
                   (_head_mac(sealer, _as_head(row)), row["id"]))
    _WRITERS.pop(db, None)
    return sum(int(r["seq"]) for r in rows)


def carry_over(db: Database, sealer: Sealer) -> bool:
    """Right after the migration to chains: chain 0 holds the old single head and its old MAC;
    re-MAC it in the new form if, and only if, that old MAC is good, and MAC the new empty
    chains. False when the old head failed its check (the alarm stays until `anchor`)."""
    ok = True
    for row in db.all("SELECT id, seq, hash, mac FROM audit_chains ORDER BY id", lock=True):
        head = _as_head(row)
        if head[0] == 0:
            old = f"{head[1]}:{head[2]}".encode("ascii")
            ok = sealer.mac_ok(row["mac"], old, _LEGACY_PURPOSE)
            if not ok:
                continue
        elif head[1:] != (0, ""):
            continue  # pragma: no cover  (the migration makes them empty)
        db.execute("UPDATE audit_chains SET mac = ? WHERE id = ?",
                   (_head_mac(sealer, head), head[0]))
    return ok


def rekey(db: Database, sealer: Sealer) -> None:
    """Key rotation: re-MAC under `sealer`'s current key every chain head and checkpoint whose
    MAC checks under one of its keys (one that does not keeps failing: the alarm stays)."""
    for row in db.all("SELECT id, seq, hash, mac FROM audit_chains ORDER BY id", lock=True):
        if _head_ok(sealer, row):
            db.execute("UPDATE audit_chains SET mac = ? WHERE id = ?",
                       (_head_mac(sealer, _as_head(row)), row["id"]))
    for p in db.all("SELECT * FROM audit_checkpoints ORDER BY id", lock=True):
        data = _checkpoint_data(int(p["at"]), p["heads"], p["head"])
        if sealer.mac_ok(p["mac"], data, _CHECKPOINT):
            db.execute("UPDATE audit_checkpoints SET mac = ? WHERE id = ?",
                       (sealer.mac(data, _CHECKPOINT), p["id"]))


def checkpoint(db: Database, sealer: Sealer, at: int) -> str:
    """Record every chain's head now, under one MAC; returns their `head_hash`.

    Apart from the hot path: it locks nothing and reads each head as committed. Refused when a
    head fails its MAC check (a checkpoint must never vouch for a forged head)."""
    with db.transaction():
        rows = db.all("SELECT id, seq, hash, mac FROM audit_chains ORDER BY id")
        for row in rows:
            if not _head_ok(sealer, row):
                raise AuditError(_BROKEN_HEAD.format(chain=row["id"]))
        chain_heads = [_as_head(r) for r in rows]
        text = json.dumps(chain_heads, separators=(",", ":"))
        head = head_hash(chain_heads=chain_heads)
        db.execute("INSERT INTO audit_checkpoints (at, heads, head, mac) VALUES (?, ?, ?, ?)",
                   (at, text, head, sealer.mac(_checkpoint_data(at, text, head), _CHECKPOINT)))
    return head


def checkpoint_if_due(db: Database, sealer: Sealer, at: int, every: int = 300) -> str | None:
    """`checkpoint()` when the newest checkpoint is `every` seconds old or more (or there is
    none); None otherwise. For a long-running service to call now and then (two workers doing
    it at once only write two checkpoints)."""
    row = db.one("SELECT MAX(at) AS at FROM audit_checkpoints")
    last = row["at"] if row else None
    if last is not None and at - int(last) < every:
        return None
    return checkpoint(db, sealer, at)


def _checkpoint_data(at: int, text: str, head: str) -> bytes:
    return f"{at}\n{head}\n{text}".encode("ascii")


# --- reading and verifying ------------------------------------------------------------------
def _entry(row: Row) -> Entry:
    return Entry(seq=int(row["seq"]), at=int(row["at"]), operator=row["operator"],
                 action=row["action"], serial_number=row["serial_number"],
                 user=row["user_name"], outcome=row["outcome"],
                 detail=json.loads(row["detail"]), hash=row["hash"], chain=int(row["chain"]),
                 chain_seq=int(row["chain_seq"]))


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


def _chain_rows(db: Database, chain: int, batch: int = 5000) -> Iterator[Row]:
    last = 0
    while True:
        rows = db.all("SELECT * FROM audit WHERE chain = ? AND chain_seq > ? "
                      "ORDER BY chain_seq LIMIT ?", (chain, last, batch))
        if not rows:
            return
        yield from rows
        last = int(rows[-1]["chain_seq"])


def verify(db: Database, sealer: Sealer, expect: str | None = None) -> tuple[int, str]:
    """Check every chain, its head and every checkpoint: (entries, `head_hash`), or AuditError
    at the first break. `expect`: a head hash quoted earlier, which must be the current one or
    a checkpoint's (so the log still holds everything it covered)."""
    with db.transaction():  # one consistent snapshot of log, heads and checkpoints
        chain_rows = db.all("SELECT id, seq, hash, mac FROM audit_chains ORDER BY id")
        points = db.all("SELECT * FROM audit_checkpoints ORDER BY id")
        ids = [int(r["id"]) for r in chain_rows]
        if ids != list(range(schema.AUDIT_CHAINS)):
            missing = sorted(set(range(schema.AUDIT_CHAINS)) - set(ids))
            raise AuditError(f"audit log broken: the registry has chains {_ranges(ids)}, not "
                             f"0-{schema.AUDIT_CHAINS - 1}"
                             + (f" (chain {missing[0]} and its entries were deleted?)"
                                if missing else ""))
        wanted = _checkpoint_places(sealer, points)
        count = 0
        for head in chain_rows:
            count += _verify_chain(db, sealer, head, wanted)
        strays = db.one("SELECT COUNT(*) AS n FROM audit WHERE chain NOT IN "
                        "(SELECT id FROM audit_chains)")
    if strays is not None and int(strays["n"]):
        raise AuditError(f"audit log broken: {strays['n']} entries belong to no chain "
                         f"(inserted, or their chain's head was deleted)")
    current = head_hash(chain_heads=[_as_head(r) for r in chain_rows])
    if expect is not None and expect != current and expect not in {p["head"] for p in points}:
        raise AuditError(f"audit log does not hold the state {expect}: it is neither the head "
                         f"now ({current}) nor a checkpoint's (the log, or its checkpoints, "
                         f"were put back or cut)")
    return count, current


def _ranges(ids: list[int]) -> str:
    return ", ".join(map(str, ids)) if ids else "none"


def _checkpoint_places(sealer: Sealer, points: list[Row]) -> dict[tuple[int, int], list[Any]]:
    """(chain, place) -> [hash, checkpoint id] for every checkpoint's heads, MACs checked."""
    wanted: dict[tuple[int, int], list[Any]] = {}
    for p in points:
        at, text, head = int(p["at"]), p["heads"], p["head"]
        if not sealer.mac_ok(p["mac"], _checkpoint_data(at, text, head), _CHECKPOINT):
            raise AuditError(f"audit log broken: checkpoint {p['id']} fails its MAC check")
        recorded = [(int(c), int(s), str(h)) for c, s, h in json.loads(text)]
        if head_hash(chain_heads=recorded) != head:
            raise AuditError(f"audit log broken: checkpoint {p['id']} was edited")
        for chain, seq, digest in recorded:
            if seq:
                wanted[(chain, seq)] = [digest, p["id"]]
    return wanted


def _verify_chain(db: Database, sealer: Sealer, head: Row,
                  wanted: dict[tuple[int, int], list[Any]]) -> int:
    chain = int(head["id"])
    prev, expected, legacy = "", 1, chain == 0
    for row in _chain_rows(db, chain):
        place = int(row["chain_seq"])
        if place != expected:
            raise AuditError(f"audit log broken: chain {chain} entry {expected} is missing "
                             f"(next is {place}): entries were deleted")
        if row["prev_hash"] != prev:
            raise AuditError(f"audit log broken at entry {row['seq']}: it does not follow the "
                             f"entry before it in chain {chain} (place {place}; an entry was "
                             f"edited, deleted, inserted or moved)")
        fmt = int(row["format"])
        if fmt == 1 and not (legacy and int(row["seq"]) == place):
            raise AuditError(f"audit log broken at entry {row['seq']}: an old-format entry "
                             f"after the chains began")
        if fmt not in (1, _FORMAT) or _digest(prev, _fields(row)) != row["hash"]:
            raise AuditError(f"audit log broken at entry {row['seq']}: its content was edited "
                             f"(chain {chain}, place {place})")
        legacy = legacy and fmt == 1
        point = wanted.get((chain, place))
        if point is not None and point[0] != row["hash"]:
            raise AuditError(f"audit log broken at entry {row['seq']}: it is not the entry "
                             f"checkpoint {point[1]} recorded (the chain was rewritten)")
        prev, expected = row["hash"], place + 1
    count = expected - 1
    if int(head["seq"]) != count or head["hash"] != prev:
        raise AuditError(f"audit log broken: chain {chain} ends at entry {count} but its head "
                         f"says {head['seq']}: entries at the end were deleted or added")
    if not _head_ok(sealer, head):
        raise AuditError(_BROKEN_HEAD.format(chain=chain))
    behind = [k for k in wanted if k[0] == chain and k[1] > count]
    if behind:
        point = wanted[max(behind)]
        raise AuditError(f"audit log broken: chain {chain} ends at entry {count}, before what "
                         f"checkpoint {point[1]} recorded: its newest entries were deleted and "
                         f"an older head put back")
    return count
