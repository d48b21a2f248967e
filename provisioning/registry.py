"""The card registry: opening it, cards, users and the life-cycle operations of support.

Every operation that changes more than one row runs in one transaction together with its audit
entry: it happens completely, with its record in the log, or not at all. Time comes from an
injectable `clock` (seconds since the epoch), so expiry and lock windows are testable without
sleeping, and randomness from an injectable `random` (a `random.Random`; by default the
system's CSPRNG), so challenges, passcodes, grids, seeds and even the nonces of sealed values
can be checked value for value (a seeded source is for tests only: see keys.py).
Verification and temporary access live in `verification.py` and `temporary.py`.
"""

from __future__ import annotations

import os
import random as _random
import re
import secrets
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dsc import record

from provisioning import audit, integrity, lifecycle, ocra_check, schema
from provisioning.db import Database, Row, is_postgres_url, sqlite_path
from provisioning.errors import (
    CardStateError,
    InvalidInputError,
    MasterKeyError,
    NotFoundError,
    RegistryError,
    TamperedRowError,
)
from provisioning.keys import (
    Sealer,
    aad,
    create_key_file,
    default_key_file,
    new_key,
    read_key_file,
    temp_access_ident,
    write_key_file,
)

if TYPE_CHECKING:
    import logging


def _log() -> logging.Logger:
    """The registry's logger, `logging` imported on first use: it only speaks on a refusal, and
    `dsc verify`'s start-up should not pay for loading it (bench/bench_startup.py)."""
    import logging

    return logging.getLogger("provisioning.registry")

Clock = Callable[[], float]
DEFAULT_SUITE = record.DEFAULT_SUITE
_CHECK = b"OpenDSC registry key check"
_HEAD_MAC_SINCE = 2  # the schema version that gave the audit head its MAC
_DAY = 86400


def _by_name(column: str) -> Callable[[Row], str]:
    return lambda row: str(row[column])


# (table, sealed column, the identity in its associated data, from the row)
SEALED: tuple[tuple[str, str, Callable[[Row], str]], ...] = (
    ("cards", "seed_enc", _by_name("serial_number")),
    ("cards", "admin_key_enc", _by_name("serial_number")),
    ("users", "pin_enc", _by_name("name")),
    ("temp_access", "secret_enc", lambda row: temp_access_ident(row["uid"], int(row["user_id"]))),
    ("web_sessions", "data_enc", _by_name("sid_hash")),
    ("web_once", "body_enc", _by_name("token_hash")),
)


@dataclass
class Policy:
    """Rules support can change per registry (`dsc registry config NAME VALUE`).

    Each has bounds (`BOUNDS`): values that would switch the lockout off (a zero window or
    lock), overflow a time, or stop every login are refused."""

    challenge_ttl: int = 300                 # seconds a challenge stays valid
    max_failures: int = 10                   # consecutive failures that lock a user ...
    failure_window: int = 24 * 3600          # ... when they fall within this many seconds
    lock_seconds: int = 24 * 3600            # how long the lock lasts
    auto_activate_days: int = 14             # an assigned card becomes active by itself after
    passcode_full_days: int = 2              # temporary passcode: full access ...
    passcode_portal_days: int = 10           # ... then portal-only until this day after issue
    security_card_days: int = 21             # online security code card validity
    challenge_rate: int = 20                 # challenges a user may be issued ...
    challenge_rate_window: int = 600         # ... within this many seconds
    max_open_challenges: int = 5             # unanswered, unexpired challenges per user

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


# name -> (lowest, highest) accepted value
BOUNDS: dict[str, tuple[int, int]] = {
    "challenge_ttl": (1, 3600),  # short only hurts the holder; long keeps replays open
    "max_failures": (1, 100),
    "failure_window": (3600, 30 * _DAY),
    "lock_seconds": (60, 365 * _DAY),
    "auto_activate_days": (0, 365),
    "passcode_full_days": (1, 30),
    "passcode_portal_days": (0, 60),
    "security_card_days": (1, 90),
    "challenge_rate": (1, 10_000),
    "challenge_rate_window": (60, _DAY),
    "max_open_challenges": (1, 1000),
}
assert set(BOUNDS) == set(Policy.names())

_COLUMN = re.compile(r"[a-z_]+\Z")


def default_db_url() -> str:
    env = os.environ.get("DSC_DB")
    if env:
        return env
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "opendsc" / "registry.sqlite3")


def serial_of(n: int) -> str:
    return f"DSC{n:08d}"


@dataclass(frozen=True)
class CardView:
    serial_number: str
    suite: str
    status: str
    board: str | None
    firmware: str | None
    batch: str | None
    pin_len: int
    created_at: int
    provisioned_at: int | None
    status_at: int
    users: tuple[str, ...]
    development: bool = False    # left without the production lock, by choice


    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["users"] = list(self.users)
        return out


class Registry:
    """One open registry: a database, the sealer of its secrets, a clock and an operator."""

    def __init__(self, db: Database, sealer: Sealer, key_file: Path, *,
                 clock: Clock = time.time, operator: str | None = None,
                 random: _random.Random | None = None) -> None:
        self.db = db
        self.sealer = sealer
        self.key_file = key_file
        self.clock = clock
        self.random: _random.Random = random if random is not None else secrets.SystemRandom()
        sealer.random = self.random  # AES-GCM nonces too (keys.py: why a fixed one is for tests)
        self.operator = operator or os.environ.get("DSC_OPERATOR") or _login_name()
        db.on_rollback = self._after_rollback
        # rows `checked` in the transaction numbered `_vouched_in` (Database.serial), by id
        self._vouched: dict[int, Row] = {}
        self._vouched_in = 0
        # rows a pipelined transaction (number `_written_in`) changed, by (table, key)
        self._written: dict[tuple[str, Any], Row] = {}
        self._written_in = 0
        self.policy = self._load_policy()

    # --- opening ------------------------------------------------------------------------------
    @classmethod
    def init(cls, url: str | None = None, key_file: Path | None = None,
             **kw: Any) -> tuple[Registry, bool, int]:
        """Create the key file if missing and the schema if missing or old.

        Returns (registry, key file created, migrations applied)."""
        url = url or default_db_url()
        key_file = key_file or default_key_file()
        if not is_postgres_url(url):
            _create_private(sqlite_path(url))
        db = Database(url)
        try:
            created = create_key_file(key_file)
            sealer = Sealer.from_file(key_file, random=kw.get("random"))
            if _has_key_check(db):  # an existing registry: the key must fit before migrating
                try:
                    _check_key(db, sealer, key_file)
                except MasterKeyError:
                    if created:
                        key_file.unlink()
                    raise
            applied = schema.migrate(db, int(kw.get("clock", time.time)()), sealer)
            with db.transaction():
                if db.one("SELECT value FROM meta WHERE name = 'key_check'") is None:
                    _store_key_check(db, sealer)
                    audit.anchor(db, sealer)
                    reg = cls(db, sealer, key_file, **kw)
                    reg.log("registry.init", "ok", detail={"schema": schema.VERSION})
                    return reg, created, applied
            try:
                _check_key(db, sealer, key_file)
            except MasterKeyError:
                if created:  # a fresh key cannot open an existing registry: do not leave it
                    key_file.unlink()
                raise
            reg = cls(db, sealer, key_file, **kw)
            before = schema.VERSION - applied
            if before < _HEAD_MAC_SINCE:  # this run added the head's MAC
                reg.anchor_audit("schema upgrade")
            elif before < schema.AUDIT_CHAINS_SINCE:  # this run split the log into chains
                with db.transaction():
                    if audit.carry_over(db, sealer):
                        reg.log("audit.chains", "ok", detail={"chains": schema.AUDIT_CHAINS})
            return reg, created, applied
        except BaseException:
            db.close()
            raise

    @classmethod
    def open(cls, url: str | None = None, key_file: Path | None = None, **kw: Any) -> Registry:
        url = url or default_db_url()
        key_file = key_file or default_key_file()
        if not is_postgres_url(url) and not sqlite_path(url).exists():
            raise RegistryError(f"no registry at {url}: initialise one (or set DSC_DB)",
                                reason="no registry")
        db = Database(url)
        try:
            schema.require_current(db)
            sealer = Sealer.from_file(key_file, random=kw.get("random"))
            _check_key(db, sealer, key_file)
            return cls(db, sealer, key_file, **kw)
        except BaseException:
            db.close()
            raise

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- helpers ------------------------------------------------------------------------------
    def now(self) -> int:
        return int(self.clock())

    def log(self, action: str, outcome: str, *, serial_number: str | None = None,
            user: str | None = None, detail: Mapping[str, Any] | None = None) -> int:
        return audit.append(self.db, self.sealer, at=self.now(), operator=self.operator,
                            action=action, outcome=outcome, serial_number=serial_number,
                            user=user, detail=detail)

    def seal(self, plaintext: bytes, table: str, column: str, ident: str) -> bytes:
        return self.sealer.seal(plaintext, aad(table, column, ident))

    def unseal(self, sealed: bytes, table: str, column: str, ident: str) -> bytes:
        return self.sealer.open(sealed, aad(table, column, ident))

    def card_row(self, serial_number: str, lock: bool = False) -> Row:
        row = self.db.one("SELECT * FROM cards WHERE serial_number = ?", (serial_number,),
                          lock=lock)
        if row is None:
            raise NotFoundError(f"no card {serial_number} in the registry")
        return self.checked("cards", row)

    def card_by_id(self, card_id: int, lock: bool = False) -> Row:
        row = self.db.one("SELECT * FROM cards WHERE id = ?", (card_id,), lock=lock)
        if row is None:
            raise NotFoundError(f"no card with id {card_id} in the registry")
        return self.checked("cards", row)

    def user_row(self, name: str, lock: bool = False) -> Row:
        row = self.db.one("SELECT * FROM users WHERE name = ?", (name,), lock=lock)
        if row is None:
            raise NotFoundError(f"no user {name} in the registry")
        return self.checked("users", row)

    def set_status(self, card: Row, action: str) -> str:
        lifecycle.check_hardware(action, card)  # a soft card has a life cycle of its own
        dest = lifecycle.target(action, card["serial_number"], card["status"])
        self.update("cards", card, status=dest, status_at=self.now())
        return dest

    # --- rows the master key vouches for (provisioning.integrity) ------------------------------
    def checked(self, table: str, row: Row) -> Row:
        """`row` when its MAC holds; else TamperedRowError (logged).

        A row read as an immutable `sqlite3.Row` and checked in this transaction is not checked
        again when it comes back (to `update`, say): same object, same bytes, same answer."""
        db = self.db
        if self._vouched_in == db.serial and self._vouched.get(id(row)) is row:
            return row
        if integrity.ok(self.sealer, table, row):
            if isinstance(row, sqlite3.Row) and db.in_transaction:
                if self._vouched_in != db.serial:
                    self._vouched, self._vouched_in = {}, db.serial
                self._vouched[id(row)] = row  # held here: its id cannot be reused meanwhile
            return row
        error = TamperedRowError(table, integrity.describe(table, row))
        if not self.db.in_transaction:  # inside one, the refusal is logged after the rollback
            self._log_tampered(error)
        raise error

    def checked_all(self, table: str, rows: list[Row]) -> list[Row]:
        return [self.checked(table, r) for r in rows]

    def insert(self, table: str, *, whole: bool = False, **values: Any) -> Row:
        """Insert a row of a MACed table and MAC it; returns the row as stored.

        `whole=True`: `values` are the whole row (its key included, every other column NULL,
        none filled by a default), so the MAC is computed first and the row inserted with it:
        one statement, nothing to wait for in a pipelined transaction."""
        _names(table, values)
        if whole:
            stored = {**values, "mac": integrity.mac(self.sealer, table, values)}
            cols = ", ".join(stored)
            marks = ", ".join("?" for _ in stored)
            self.db.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})",  # noqa: S608
                            tuple(stored.values()))
            return stored
        cols = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        row = self.db.one(f"INSERT INTO {table} ({cols}) VALUES ({marks}) "  # noqa: S608
                          f"RETURNING *", tuple(values.values()))
        assert row is not None
        stored = dict(row)
        stored["mac"] = integrity.mac(self.sealer, table, stored)
        key = integrity.key_column(table)
        self.db.execute(f"UPDATE {table} SET mac = ? WHERE {key} = ?",  # noqa: S608
                        (stored["mac"], stored[key]))
        return stored

    def update(self, table: str, row: Row, **changes: Any) -> Row:
        """Change columns of a row read earlier (its MAC is checked first) and renew the MAC.

        The write is conditional on the row still carrying the MAC it was read with; when it
        changed in between (an earlier update in this transaction), the current row is read,
        checked and changed instead. Returns the row as it now stands."""
        _names(table, changes)
        key = integrity.key_column(table)
        if self.db.pipelined:
            return self._update_pipelined(table, key, row, changes)
        current = self.checked(table, row)
        for _ in range(2):
            new = {**dict(current), **changes}
            new["mac"] = integrity.mac(self.sealer, table, new)
            sets = ", ".join(f"{c} = ?" for c in [*changes, "mac"])
            cur = self.db.execute(f"UPDATE {table} SET {sets} "  # noqa: S608
                                  f"WHERE {key} = ? AND mac = ?",
                                  (*changes.values(), new["mac"], current[key], current["mac"]))
            if cur.rowcount == 1:
                return new
            fresh = self.db.one(f"SELECT * FROM {table} WHERE {key} = ?",  # noqa: S608
                                (current[key],), lock=True)
            if fresh is None:
                raise NotFoundError(f"the {table} row {current[key]} is gone")
            current = self.checked(table, fresh)
        raise RegistryError(f"the {table} row {current[key]} keeps changing under this update")

    def _update_pipelined(self, table: str, key: str, row: Row,
                          changes: Mapping[str, Any]) -> Row:
        """`update` in a pipelined transaction: the write is sent, not waited for, and fails the
        transaction (`WriteConflict`) unless the row still carries the MAC it was read with. A
        row this transaction changed already is changed from where that left it (what the
        re-read of `update` finds)."""
        if self._written_in != self.db.serial:
            self._written, self._written_in = {}, self.db.serial
        current = self._written.get((table, row[key])) or self.checked(table, row)
        new = {**dict(current), **changes}
        new["mac"] = integrity.mac(self.sealer, table, new)
        sets = ", ".join(f"{c} = ?" for c in [*changes, "mac"])
        self.db.send_one_change(f"UPDATE {table} SET {sets} "  # noqa: S608
                                f"WHERE {key} = ? AND mac = ?",
                                (*changes.values(), new["mac"], current[key], current["mac"]))
        self._written[(table, current[key])] = new
        return new

    def update_where(self, table: str, where: str, params: tuple[Any, ...],
                     **changes: Any) -> list[Row]:
        """`update` for every row matching `where` (fixed SQL from the caller, values as
        parameters); returns the changed rows."""
        rows = self.db.all(f"SELECT * FROM {table} WHERE {where}", params,  # noqa: S608
                           lock=True)
        return [self.update(table, r, **changes) for r in rows]

    def verify_rows(self) -> int:
        """Check the MAC of every row that can decide a login (`dsc audit --verify` does, beside
        the chain): the number checked, or TamperedRowError naming the first bad one (logged)."""
        with self.db.transaction():  # one snapshot
            count, bad = integrity.scan(self.db, self.sealer)
        if bad:
            error = TamperedRowError(*bad[0], others=len(bad) - 1)
            self._log_tampered(error)
            raise error
        return count

    def vouch_row(self, table: str, key: str, why: str) -> bool:
        """After a refused row was looked into (and put right, by SQL if need be): MAC it again
        as it stands, logged. Whoever runs this holds the key file and vouches for the row, as
        `anchor_audit` does for the log. Returns whether its MAC held before."""
        tables = (*integrity.TABLES, *integrity.OWN)
        if table not in tables:
            raise InvalidInputError(f"unknown table {table}; one of {', '.join(tables)}")
        column = integrity.key_column(table)
        value: Any = key
        if column in ("id", "user_id") and table not in ("challenges", "api_challenges"):
            if not key.isascii() or not key.isdigit():
                raise InvalidInputError(f"a {table} row is named by its number ({column}=N)")
            value = int(key)
        with self.db.transaction():
            row = self.db.one(f"{integrity.select(table)} WHERE {column} = ?",
                              (value,), lock=True)
            if row is None:
                raise NotFoundError(f"no {table} row {column}={key}")
            held = integrity.row_ok(self.sealer, table, row)
            self.db.execute(f"UPDATE {table} SET mac = ? WHERE {column} = ?",  # noqa: S608
                            (integrity.row_mac(self.sealer, table, row), value))
            self.log("integrity.vouch", "ok", detail={"table": table, "row": f"{column}={key}",
                                                      "why": why, "was_valid": held})
        return held

    def _after_rollback(self, error: BaseException) -> None:
        audit.forget(self.db)  # the head this connection wrote last may not have been kept
        if isinstance(error, TamperedRowError):
            self._log_tampered(error)

    def _log_tampered(self, error: TamperedRowError) -> None:
        _log().error("refused a tampered row: %s %s", error.table, error.row)
        detail: dict[str, Any] = {"table": error.table, "row": error.row}
        if error.others:
            detail["others"] = error.others
        try:
            with self.db.transaction():
                self.log("integrity", "refused", detail=detail)
        except Exception as e:  # the refusal stands even when the log cannot take it
            _log().error("could not log the refusal of %s %s: %s", error.table, error.row, e)

    # --- settings -----------------------------------------------------------------------------
    def _load_policy(self) -> Policy:
        """Stored settings; one that fails its MAC or its bounds is ignored (the default holds)
        and logged: a setting written by SQL must not weaken the lockout."""
        policy = Policy()
        for row in self.db.all("SELECT * FROM settings"):
            name = row["name"]
            if name not in BOUNDS:
                continue
            try:
                value = int(row["value"])
            except ValueError:
                value = -1
            low, high = BOUNDS[name]
            if not integrity.ok(self.sealer, "settings", row) or not low <= value <= high:
                _log().error("setting %s in the registry fails its MAC or bounds: ignored (the "
                          "default %s holds until the setting is set again)", name,
                          getattr(policy, name))
                continue
            setattr(policy, name, value)
        return policy

    def set_policy(self, name: str, value: int) -> None:
        if name not in Policy.names():
            raise InvalidInputError(f"unknown setting {name}; known: {', '.join(Policy.names())}")
        low, high = BOUNDS[name]
        if not isinstance(value, int) or not low <= value <= high:
            raise InvalidInputError(f"{name} must be a whole number from {low} to {high}")
        with self.db.transaction():
            self.db.execute("DELETE FROM settings WHERE name = ?", (name,))
            self.insert("settings", name=name, value=str(value))
            self.log("registry.config", "ok", detail={name: value})
        setattr(self.policy, name, value)

    # --- cards --------------------------------------------------------------------------------
    def allocate_serial(self, suite: str, *, board: str | None = None,
                        firmware: str | None = None, batch: str | None = None,
                        pin_len: int = 4) -> str:
        """Reserve the next serial number as a `blank` row (not provisioned: no secret yet)."""
        ocra_check.suite_info(suite)
        with self.db.transaction():
            row = self.db.one("UPDATE counters SET value = value + 1 "
                              "WHERE name = 'serial_number' RETURNING value")
            assert row is not None
            serial = serial_of(int(row["value"]))
            now = self.now()
            self.insert("cards", serial_number=serial, suite=suite, status=lifecycle.BLANK,
                        board=board, firmware=firmware, batch=batch, pin_len=pin_len,
                        created_at=now, status_at=now)
            self.log("allocate", "ok", serial_number=serial, detail={"suite": suite})
        return serial

    def confirm_provisioned(self, serial_number: str, *, seed: bytes, admin_key: bytes | None,
                            suite: str, board: str | None = None, firmware: str | None = None,
                            batch: str | None = None, pin_len: int = 4,
                            counter: int = 0, action: str = "provision",
                            development: bool = False) -> None:
        """Record a card as provisioned: only call after it proved it holds `seed`.

        `development`: the card was left without the production lock, by choice."""
        ocra_check.suite_info(suite)
        with self.db.transaction():
            card = self.db.one("SELECT * FROM cards WHERE serial_number = ?",
                               (serial_number,), lock=True)
            now = self.now()
            if card is None:  # a card from outside (PSKC import) enters as blank first
                card = self.insert("cards", serial_number=serial_number, suite=suite,
                                   status=lifecycle.BLANK, created_at=now, status_at=now)
            dest = lifecycle.target("provision", serial_number, card["status"])
            # A new seed starts a new challenge permutation (generation + 1, count from 0).
            self.update(
                "cards", card, status=dest, status_at=now, suite=suite, board=board,
                firmware=firmware, batch=batch, pin_len=pin_len, counter=counter,
                seed_enc=self.seal(seed, "cards", "seed_enc", serial_number),
                admin_key_enc=self.seal(admin_key, "cards", "admin_key_enc", serial_number)
                if admin_key is not None else None, provisioned_at=now,
                challenge_gen=int(card["challenge_gen"]) + 1, challenges_issued=0,
                development=1 if development else None)
            detail: dict[str, Any] = {"suite": suite, "board": board, "batch": batch}
            if development:
                detail["development"] = True
            self.log(action, "ok", serial_number=serial_number, detail=detail)

    def card(self, serial_number: str) -> CardView:
        return self._view(self.card_row(serial_number))

    def _view(self, row: Row) -> CardView:
        users = self.db.all("SELECT u.name FROM assignments a JOIN users u ON u.id = a.user_id "
                            "WHERE a.card_id = ? AND a.ended_at IS NULL ORDER BY u.name",
                            (row["id"],))
        return CardView(serial_number=row["serial_number"], suite=row["suite"],
                        status=row["status"], board=row["board"], firmware=row["firmware"],
                        batch=row["batch"], pin_len=int(row["pin_len"]),
                        created_at=int(row["created_at"]), provisioned_at=row["provisioned_at"],
                        status_at=int(row["status_at"]), users=tuple(u["name"] for u in users),
                        development=bool(row["development"]))

    def cards(self, status: str | None = None) -> list[CardView]:
        if status is not None and status not in lifecycle.STATES:
            known = ", ".join(lifecycle.STATES)
            raise InvalidInputError(f"unknown status {status}; one of {known}")
        rows = (self.db.all("SELECT * FROM cards WHERE status = ? ORDER BY serial_number",
                            (status,)) if status
                else self.db.all("SELECT * FROM cards ORDER BY serial_number"))
        return [self._view(r) for r in rows]

    def admin_key(self, serial_number: str) -> bytes:
        return self._card_secret(serial_number, "admin_key_enc", "has no admin key")

    def seed(self, serial_number: str) -> bytes:
        """The card's seed, for PSKC export only (never printed)."""
        return self._card_secret(serial_number, "seed_enc", "holds no secret")

    def _card_secret(self, serial_number: str, column: str, missing: str) -> bytes:
        row = self.card_row(serial_number)  # checked: the status below is the one vouched for
        if row[column] is None:
            raise CardStateError(f"card {serial_number} {missing} in the registry "
                                 f"(it is {row['status']})", serial_number=serial_number,
                                 status=row["status"])
        sealed: bytes = row[column]
        return self.unseal(sealed, "cards", column, serial_number)

    def anchor_audit(self, why: str) -> int:
        """MAC the audit head as it stands (after an upgrade, or an investigated alarm)."""
        with self.db.transaction():
            seq = audit.anchor(self.db, self.sealer)
            self.log("audit.anchor", "ok", detail={"head": seq, "why": why})
        return seq

    # --- key rotation -------------------------------------------------------------------------
    def rotate_key(self) -> str:
        """Re-encrypt every secret under a fresh master key; returns the new key id.

        What the master key vouches for, all renewed here: the sealed values (`SEALED`), the
        row MACs (`integrity.TABLES`, and `integrity.OWN` for the rows with MACs of their own),
        the key check, the audit chain heads and checkpoints (`audit.rekey`)."""
        old = read_key_file(self.key_file)
        fresh = new_key()
        write_key_file(self.key_file, [*old, fresh])  # both keys until the commit
        both = Sealer([*old, fresh], random=self.random)
        count = 0
        with self.db.transaction():
            # The MACs under the old keys, read before the new ciphertexts change the rows.
            valid = {(t, r[integrity.key_column(t)])
                     for t in integrity.TABLES
                     for r in self.db.all(f"SELECT * FROM {t}", lock=True)  # noqa: S608
                     if integrity.ok(both, t, r)}
            for table, column, ident in SEALED:
                rows = self.db.all(f"SELECT * FROM {table} "  # noqa: S608
                                   f"WHERE {column} IS NOT NULL", lock=True)
                for row in rows:
                    label = aad(table, column, ident(row))
                    value = both.seal(both.open(row[column], label), label)
                    self.db.execute(f"UPDATE {table} SET {column} = ? WHERE id = ?",  # noqa: S608
                                    (value, row["id"]))
                    count += 1
            left = self._remac(both, valid)
            left += integrity.remac_own(self.db, both)[1]  # operators, API clients, networks
            _store_key_check(self.db, both)
            audit.rekey(self.db, both)  # every chain head and checkpoint under the fresh key
            # Logged under both keys: the head's old MAC is checked, the new one made with the
            # fresh key (the old one leaves the file below).
            audit.append(self.db, both, at=self.now(), operator=self.operator,
                         action="registry.rotate-key", outcome="ok",
                         detail={"key_id": fresh[0], "values": count, "rows_refused": left})
        write_key_file(self.key_file, [fresh])
        self.sealer = Sealer([fresh], random=self.random)
        return fresh[0]

    def _remac(self, sealer: Sealer, valid: set[tuple[str, Any]]) -> int:
        """MAC again under the new key every row whose MAC held under the old one; a row that
        failed keeps its (now meaningless) MAC, so it stays refused. Returns how many did."""
        left = 0
        for table in integrity.TABLES:
            key = integrity.key_column(table)
            for row in self.db.all(f"SELECT * FROM {table}", lock=True):  # noqa: S608
                if (table, row[key]) not in valid:
                    left += 1
                    continue
                self.db.execute(f"UPDATE {table} SET mac = ? WHERE {key} = ?",  # noqa: S608
                                (integrity.mac(sealer, table, row), row[key]))
        return left


def _store_key_check(db: Database, sealer: Sealer) -> None:
    value = sealer.seal(_CHECK, "meta.key_check").hex()
    db.execute("DELETE FROM meta WHERE name = 'key_check'")
    db.execute("INSERT INTO meta (name, value) VALUES ('key_check', ?)", (value,))


def _names(table: str, values: Mapping[str, Any]) -> None:
    # Table and column names are formatted into SQL: only the fixed ones of this package.
    if table not in integrity.TABLES or not all(_COLUMN.match(c) for c in values):
        raise ValueError(f"not a MACed table or column: {table} {sorted(values)}")


def _has_key_check(db: Database) -> bool:
    if schema.current_version(db) == 0:
        return False
    return db.one("SELECT value FROM meta WHERE name = 'key_check'") is not None


def _check_key(db: Database, sealer: Sealer, key_file: Path) -> None:
    row = db.one("SELECT value FROM meta WHERE name = 'key_check'")
    if row is None:
        raise RegistryError("the registry was never initialised", reason="not initialised")
    try:
        ok = sealer.open(bytes.fromhex(row["value"]), "meta.key_check") == _CHECK
    except MasterKeyError:
        ok = False
    if not ok:
        raise MasterKeyError(f"the master key file {key_file} does not hold this registry's "
                             f"key (wrong DSC_MASTER_KEY_FILE?)")


def _create_private(path: Path) -> None:
    """A new SQLite registry is readable by its owner only (WAL and SHM files inherit it):
    its secrets are sealed, but names, assignments and the audit log are nobody else's."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError as e:
        raise RegistryError(f"cannot create the registry {path}: {e.strerror}") from None


def _login_name() -> str:
    import getpass  # only when no operator is given (DSC_OPERATOR, --operator)

    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"
