"""The card registry: opening it, cards, users and the life-cycle operations of support.

Every operation that changes more than one row runs in one transaction together with its audit
entry: it happens completely, with its record in the log, or not at all. Time comes from an
injectable `clock` (seconds since the epoch), so expiry and lock windows are testable without
sleeping. Verification and temporary access live in `verification.py` and `temporary.py`.
"""

from __future__ import annotations

import getpass
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from provisioning import audit, lifecycle, ocra_check, schema
from provisioning.db import Database, Row, is_postgres_url, sqlite_path
from provisioning.errors import (
    CardStateError,
    InvalidInputError,
    MasterKeyError,
    NotFoundError,
    RegistryError,
)
from provisioning.keys import (
    Sealer,
    create_key_file,
    default_key_file,
    new_key,
    read_key_file,
    write_key_file,
)

Clock = Callable[[], float]
DEFAULT_SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"
_CHECK = b"OpenDSC registry key check"
_HEAD_MAC_SINCE = 2  # the schema version that gave the audit head its MAC
# (table, sealed column, column naming the row in the associated data)
SEALED = (("cards", "seed_enc", "serial_number"), ("cards", "admin_key_enc", "serial_number"),
          ("users", "pin_enc", "name"), ("temp_access", "secret_enc", "uid"))


@dataclass
class Policy:
    """Rules support can change per registry (`dsc registry config NAME VALUE`)."""

    challenge_ttl: int = 300                 # seconds a challenge stays valid
    max_failures: int = 10                   # consecutive failures that lock a user ...
    failure_window: int = 24 * 3600          # ... when they fall within this many seconds
    lock_seconds: int = 24 * 3600            # how long the lock lasts
    auto_activate_days: int = 14             # an assigned card becomes active by itself after
    passcode_full_days: int = 2              # temporary passcode: full access ...
    passcode_portal_days: int = 10           # ... then portal-only until this day after issue
    security_card_days: int = 21             # online security code card validity

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def default_db_url() -> str:
    env = os.environ.get("DSC_DB")
    if env:
        return env
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "opendsc" / "registry.sqlite3")


def aad(table: str, column: str, ident: str) -> str:
    return f"{table}.{column}:{ident}"


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
                 clock: Clock = time.time, operator: str | None = None) -> None:
        self.db = db
        self.sealer = sealer
        self.key_file = key_file
        self.clock = clock
        self.operator = operator or os.environ.get("DSC_OPERATOR") or _login_name()
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
            sealer = Sealer.from_file(key_file)
            applied = schema.migrate(db, int(kw.get("clock", time.time)()))
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
            if schema.VERSION - applied < _HEAD_MAC_SINCE:  # this run added the head's MAC
                reg.anchor_audit("schema upgrade")
            return reg, created, applied
        except BaseException:
            db.close()
            raise

    @classmethod
    def open(cls, url: str | None = None, key_file: Path | None = None, **kw: Any) -> Registry:
        url = url or default_db_url()
        key_file = key_file or default_key_file()
        if not is_postgres_url(url) and not sqlite_path(url).exists():
            raise RegistryError(f"no registry at {url}: run `dsc registry init` (or set DSC_DB)")
        db = Database(url)
        try:
            schema.require_current(db)
            sealer = Sealer.from_file(key_file)
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
        return row

    def user_row(self, name: str, lock: bool = False) -> Row:
        row = self.db.one("SELECT * FROM users WHERE name = ?", (name,), lock=lock)
        if row is None:
            raise NotFoundError(f"no user {name} in the registry")
        return row

    def set_status(self, card: Row, action: str) -> str:
        dest = lifecycle.target(action, card["serial_number"], card["status"])
        self.db.execute("UPDATE cards SET status = ?, status_at = ? WHERE id = ?",
                        (dest, self.now(), card["id"]))
        return dest

    # --- settings -----------------------------------------------------------------------------
    def _load_policy(self) -> Policy:
        policy = Policy()
        for row in self.db.all("SELECT name, value FROM settings"):
            if row["name"] in Policy.names():
                setattr(policy, row["name"], int(row["value"]))
        return policy

    def set_policy(self, name: str, value: int) -> None:
        if name not in Policy.names():
            raise InvalidInputError(f"unknown setting {name}; known: {', '.join(Policy.names())}")
        if value < 0 or (value == 0 and name in ("challenge_ttl", "max_failures")):
            raise InvalidInputError(f"{name} must be a positive number")
        with self.db.transaction():
            self.db.execute("DELETE FROM settings WHERE name = ?", (name,))
            self.db.execute("INSERT INTO settings (name, value) VALUES (?, ?)", (name, str(value)))
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
            self.db.execute("INSERT INTO cards (serial_number, suite, status, board, firmware, "
                            "batch, pin_len, created_at, status_at) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (serial, suite, lifecycle.BLANK, board, firmware, batch, pin_len,
                             now, now))
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
                self.db.execute("INSERT INTO cards (serial_number, suite, status, created_at, "
                                "status_at) VALUES (?, ?, ?, ?, ?)",
                                (serial_number, suite, lifecycle.BLANK, now, now))
                card = self.card_row(serial_number)
            self.set_status(card, "provision")
            self.db.execute(
                "UPDATE cards SET suite = ?, board = ?, firmware = ?, batch = ?, pin_len = ?, "
                "counter = ?, seed_enc = ?, admin_key_enc = ?, provisioned_at = ?, "
                "development = ? WHERE id = ?",
                (suite, board, firmware, batch, pin_len, counter,
                 self.seal(seed, "cards", "seed_enc", serial_number),
                 self.seal(admin_key, "cards", "admin_key_enc", serial_number)
                 if admin_key is not None else None, now, int(development), card["id"]))
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
        row = self.card_row(serial_number)
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
        """Re-encrypt every secret under a fresh master key; returns the new key id."""
        old = read_key_file(self.key_file)
        fresh = new_key()
        write_key_file(self.key_file, [*old, fresh])  # both keys until the commit
        both = Sealer([*old, fresh])
        count = 0
        with self.db.transaction():
            for table, column, ident in SEALED:
                rows = self.db.all(f"SELECT id, {ident}, {column} FROM {table} "  # noqa: S608
                                   f"WHERE {column} IS NOT NULL", lock=True)
                for row in rows:
                    label = aad(table, column, row[ident])
                    value = both.seal(both.open(row[column], label), label)
                    self.db.execute(f"UPDATE {table} SET {column} = ? WHERE id = ?",  # noqa: S608
                                    (value, row["id"]))
                    count += 1
            _store_key_check(self.db, both)
            # Logged under both keys: the head's old MAC is checked, the new one made with the
            # fresh key (the old one leaves the file below).
            audit.append(self.db, both, at=self.now(), operator=self.operator,
                         action="registry.rotate-key", outcome="ok",
                         detail={"key_id": fresh[0], "values": count})
        write_key_file(self.key_file, [fresh])
        self.sealer = Sealer([fresh])
        return fresh[0]


def _store_key_check(db: Database, sealer: Sealer) -> None:
    value = sealer.seal(_CHECK, "meta.key_check").hex()
    db.execute("DELETE FROM meta WHERE name = 'key_check'")
    db.execute("INSERT INTO meta (name, value) VALUES ('key_check', ?)", (value,))


def _check_key(db: Database, sealer: Sealer, key_file: Path) -> None:
    row = db.one("SELECT value FROM meta WHERE name = 'key_check'")
    if row is None:
        raise RegistryError("the registry was never initialised: run `dsc registry init`")
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
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"
