"""One database interface over SQLite (the default) and PostgreSQL (by URL).

The rest of the package writes SQL once, with `?` placeholders and a small common dialect,
and runs it through `Database`. The differences live here:

- placeholders: `?` (sqlite3) vs `%s` (psycopg);
- locking: SQLite serialises writers with `BEGIN IMMEDIATE` (the write lock is taken at the
  start, so read-then-write sequences cannot interleave); PostgreSQL locks rows with
  `SELECT ... FOR UPDATE` (`one(..., lock=True)`; nothing to add on SQLite);
- connection set-up: SQLite runs in WAL mode with `synchronous=NORMAL` — a commit is durable
  against a crash of the process and costs no fsync, which is what makes thousands of
  verifications per second possible (a power loss may lose the last commits, never corrupt).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from provisioning.errors import RegistryError

Row = Mapping[str, Any]
Params = Sequence[Any]


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def sqlite_path(url: str) -> Path:
    """`sqlite:///abs/path`, `sqlite://rel/path` or a plain file path."""
    if url.startswith("sqlite://"):
        url = url[len("sqlite://"):]
    if not url:
        raise RegistryError("the SQLite URL names no file")
    return Path(url).expanduser()


class Database:
    """A connection plus the dialect facts the registry needs."""

    dialect: str

    def __init__(self, url: str) -> None:
        self.url = url
        self._sql: dict[str, str] = {}
        self._depth = 0
        # Called after an outermost transaction rolled back because of an exception (the
        # registry logs refused tampered rows this way, in a transaction of their own).
        self.on_rollback: Callable[[BaseException], None] | None = None
        # OverflowError: sqlite3 cannot bind an integer beyond 64 bits (psycopg's DataError is
        # a psycopg.Error): either way a clear error, never a traceback.
        self._errors: tuple[type[BaseException], ...] = (sqlite3.Error, OverflowError)
        self._range_errors: tuple[type[BaseException], ...] = (OverflowError,)
        if is_postgres_url(url):
            import psycopg
            self.dialect = "postgres"
            self._errors = (psycopg.Error, OverflowError)
            self._range_errors = (psycopg.DataError, OverflowError)
            self._conn: Any = _connect_postgres(url)
        else:
            self.dialect = "sqlite"
            self._conn = _connect_sqlite(sqlite_path(url))

    def close(self) -> None:
        self._conn.close()

    def _translate(self, sql: str) -> str:
        out = self._sql.get(sql)
        if out is None:
            out = sql.replace("?", "%s") if self.dialect == "postgres" else sql
            self._sql[sql] = out
        return out

    def execute(self, sql: str, params: Params = ()) -> Any:
        try:
            return self._conn.execute(self._translate(sql), params)
        except self._errors as e:
            if isinstance(e, self._range_errors):
                raise RegistryError(f"registry database error: a value is out of range "
                                    f"({_first_line(e)})") from None
            raise RegistryError(f"registry database error: {_first_line(e)}") from None

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def one(self, sql: str, params: Params = (), *, lock: bool = False) -> Row | None:
        """The first row; `lock=True` row-locks what it selects (FOR UPDATE) on PostgreSQL."""
        row: Row | None = self.execute(self._locking(sql, lock), params).fetchone()
        return row

    def all(self, sql: str, params: Params = (), *, lock: bool = False) -> list[Row]:
        rows: list[Row] = self.execute(self._locking(sql, lock), params).fetchall()
        return rows

    def _locking(self, sql: str, lock: bool) -> str:
        return sql + " FOR UPDATE" if lock and self.dialect == "postgres" else sql

    def script(self, statements: Sequence[str]) -> None:
        for statement in statements:
            self.execute(statement)

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """All statements inside commit together or not at all (nesting joins the outer one)."""
        if self._depth:
            self._depth += 1
            try:
                yield self
            finally:
                self._depth -= 1
            return
        self._depth = 1
        try:
            if self.dialect == "sqlite":
                yield from self._sqlite_transaction()
            else:
                with self._conn.transaction():
                    yield self
        except BaseException as e:
            self._depth = 0
            if self.on_rollback is not None:
                self.on_rollback(e)
            raise
        finally:
            self._depth = 0

    def _sqlite_transaction(self) -> Iterator[Database]:
        self.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self._conn.rollback()
            raise
        self._conn.commit()


def _connect_sqlite(path: Path) -> sqlite3.Connection:
    if not path.parent.is_dir():
        raise RegistryError(f"cannot create the registry {path}: no directory {path.parent}")
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=30.0,
                               check_same_thread=False, cached_statements=256)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
    except sqlite3.Error as e:
        raise RegistryError(f"cannot open the registry {path}: {e}") from None
    return conn


def _connect_postgres(url: str) -> Any:
    import psycopg
    from psycopg.rows import dict_row

    try:
        return psycopg.connect(url, autocommit=True, row_factory=dict_row)
    except psycopg.Error as e:
        # The message of a failed connection names host and database, never the password.
        msg = f"cannot connect to the PostgreSQL registry: {_first_line(e)}"
        raise RegistryError(msg) from None


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]
