"""One database interface over SQLite (the default) and PostgreSQL (by URL).

The rest of the package writes SQL once, with `?` placeholders and a small common dialect,
and runs it through `Database`. The differences live here:

- placeholders: `?` (sqlite3) vs `%s` (psycopg);
- locking: SQLite serialises writers with `BEGIN IMMEDIATE` (the write lock is taken at the
  start, so read-then-write sequences cannot interleave); PostgreSQL locks rows with
  `SELECT ... FOR UPDATE` (`one(..., lock=True)`; nothing to add on SQLite);
- round trips: `transaction(pipeline=True)` runs a transaction in psycopg's pipeline mode on
  PostgreSQL: statements are sent without waiting for their results, `send()` queues a read
  whose rows come with the next flush, and `send_one_change()` queues a write that must change
  exactly one row — when it changes none the flush fails with `WriteConflict` (the transaction
  is rolled back; the caller repeats it on fresh rows) — and `send_absent()` a check that a
  query finds nothing, whose refusal the flush raises otherwise (rolled back, not repeated).
  `BEGIN` goes out with the first statements and `COMMIT` with the last ones. On SQLite
  (in-process, no round trips) it is an ordinary transaction and everything runs at once;
- connection set-up: SQLite runs in WAL mode with `synchronous=NORMAL` — a commit is durable
  against a crash of the process and costs no fsync, which is what makes thousands of
  verifications per second possible (a power loss may lose the last commits, never corrupt).
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from provisioning.errors import RegistryError, WriteConflict

Row = Mapping[str, Any]
Params = Sequence[Any]
T = TypeVar("T")


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
        self._pipeline: Any = None  # the running pipelined transaction's `pgpipe.Pipe`
        self._pipe: Any = None      # this connection's `pgpipe.Pipe` (made on first use)
        self._sql_pipe: dict[str, bytes] = {}
        # What a failed `send_absent` check of the running pipelined transaction raises.
        self._absent: list[Exception] = []
        # Numbers the outermost transactions: state kept for "this transaction" (the audit
        # head it holds, the rows it wrote) compares it rather than being reset by hand.
        self.serial = 0
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

    def _translate_pipe(self, sql: str) -> bytes:
        """`?` placeholders as libpq numbers them (`$1`, `$2`, ...)."""
        out = self._sql_pipe.get(sql)
        if out is None:
            parts = sql.split("?")
            text = parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], 1))
            out = self._sql_pipe[sql] = text.encode()
        return out

    def execute(self, sql: str, params: Params = ()) -> Any:
        try:
            if self._pipeline is not None:
                return self._pipeline.send(self._translate_pipe(sql), params)
            return self._conn.execute(self._translate(sql), params)
        except self._errors as e:
            raise self._error(e) from None

    def _error(self, e: BaseException) -> Exception:
        """What a driver's error becomes: a clear RegistryError, never a traceback (or the
        refusal of a `send_absent` check that found rows)."""
        if _is_conflict(e) or (self._pipe is not None and _is_stale(e)):
            # (a prepared statement gone or stale: the pipe prepares it again on the retry)
            return WriteConflict()
        if self._absent and getattr(e, "sqlstate", None) == _FOUND:
            return self._absent[0]
        if isinstance(e, self._range_errors):
            return RegistryError(f"registry database error: a value is out of range "
                                 f"({_first_line(e)})")
        return RegistryError(f"registry database error: {_first_line(e)}")

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    @property
    def pipelined(self) -> bool:
        """Inside a pipelined transaction on PostgreSQL: results come with the next flush."""
        return self._pipeline is not None

    def one(self, sql: str, params: Params = (), *, lock: bool = False) -> Row | None:
        """The first row; `lock=True` row-locks what it selects (FOR UPDATE) on PostgreSQL."""
        return self.send(sql, params, lock=lock).one()

    def all(self, sql: str, params: Params = (), *, lock: bool = False) -> list[Row]:
        return self.send(sql, params, lock=lock).all()

    def send(self, sql: str, params: Params = (), *, lock: bool = False) -> Pending:
        """Run a query; in a pipelined transaction its rows are read only when asked for, so
        several `send`s go to the server together (one round trip for all)."""
        return Pending(self, self.execute(self._locking(sql, lock), params))

    def send_one_change(self, sql: str, params: Params = (), *, before: str = "") -> bool:
        """An INSERT, UPDATE or DELETE (without RETURNING) that must change exactly one row.

        Pipelined: queued, and the flush fails with `WriteConflict` unless it changed exactly
        one row (returns True at once). Otherwise it runs now and returns whether it did.
        `before`: data-modifying CTEs (`name AS (...)`) the statement reads from."""
        if self._pipeline is None:
            if before:  # pragma: no cover  (only the pipelined audit write uses it)
                raise ValueError("CTEs before a change are for pipelined transactions")
            return int(self.execute(sql, params).rowcount) == 1
        ctes = f"{before}, " if before else ""
        # Fixed SQL of this package only; values go as parameters. A count other than one
        # divides by zero: the statement fails (SQLSTATE 22012), so does the flush.
        self.execute(f"WITH {ctes}changed AS ({sql} RETURNING 1) "  # noqa: S608
                     f"SELECT 1 / (COUNT(*) = 1)::int AS one FROM changed", params)
        return True

    def send_absent(self, sql: str, params: Params, refusal: Exception) -> None:
        """Check that the query `sql` finds no row; `refusal` is raised when it does.

        Pipelined: queued, and the flush raises `refusal` (the transaction rolled back, not
        repeated: a row that is there stays there). Otherwise it runs now."""
        if self._pipeline is None:
            if self.execute(sql, params).fetchone() is not None:
                raise refusal
            return
        self._absent.append(refusal)
        # Fixed SQL of this package only. ln(0) fails (SQLSTATE 2201E), so does the flush.
        self.execute(f"SELECT ln((NOT EXISTS ({sql}))::int) AS none", params)

    def _locking(self, sql: str, lock: bool) -> str:
        return sql + " FOR UPDATE" if lock and self.dialect == "postgres" else sql

    def script(self, statements: Sequence[str]) -> None:
        for statement in statements:
            self.execute(statement)

    @contextmanager
    def transaction(self, *, pipeline: bool = False) -> Iterator[Database]:
        """All statements inside commit together or not at all (nesting joins the outer one).

        `pipeline=True`: pipelined on PostgreSQL (see the module's docstring); it can raise
        `WriteConflict`, rolled back, when a `send_one_change` changed no row."""
        if self._depth:
            self._depth += 1
            try:
                yield self
            finally:
                self._depth -= 1
            return
        self._depth = 1
        self.serial += 1
        try:
            if self.dialect == "sqlite":
                yield from self._sqlite_transaction()
            elif pipeline:
                yield from self._pipelined_transaction()
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

    def _pipelined_transaction(self) -> Iterator[Database]:
        from provisioning import pgpipe

        if self._pipe is None:
            self._pipe = pgpipe.Pipe(self._conn)
        pipe = self._pipe
        try:
            try:
                pipe.begin()
                self._pipeline, self._absent = pipe, []
                try:
                    yield self
                    pipe.commit()
                finally:
                    self._pipeline = None
            except self._errors as e:  # the flush at the end: COMMIT and the writes before it
                raise self._error(e) from None
        finally:
            # An error in the pipeline leaves the transaction aborted (the COMMIT after it was
            # skipped); an exception in the body leaves it open. Either way: every answer
            # read, out of pipeline mode, rolled back.
            try:
                pipe.close()
            except self._errors as e:
                raise self._error(e) from None

    @contextmanager
    def round_trips(self) -> Iterator[list[int]]:
        """PostgreSQL: count the client-server round trips of what runs inside, on the wire
        (libpq's protocol trace): each time the client sent messages and then waited for an
        answer. Yields a list that holds the count once the block ends."""
        from psycopg import pq

        out: list[int] = []
        pgconn = self._conn.pgconn
        fd, name = tempfile.mkstemp(prefix="dsc-trace-")
        try:
            pgconn.trace(fd)
            pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
            try:
                yield out
            finally:
                pgconn.untrace()
            with open(name, encoding="utf-8", errors="replace") as trace:
                out.append(count_round_trips(line.split("\t", 1)[0] for line in trace))
        finally:
            os.close(fd)
            os.unlink(name)


def retrying(db: Database, work: Callable[[], T], tries: int = 3) -> T:
    """`work()` — a pipelined transaction — run again, on fresh rows, while it fails with
    `WriteConflict` (rolled back each time: nothing of it stayed), at most `tries` times.
    Inside a transaction already, once: the outermost one is what is rolled back and must be
    repeated, by whoever opened it."""
    if db.in_transaction:
        return work()
    for attempt in range(1, tries + 1):
        try:
            return work()
        except WriteConflict:
            if attempt == tries:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


class Pending:
    """The result of a statement sent: rows read when asked for (in a pipelined transaction,
    asking flushes everything sent so far and waits for it)."""

    def __init__(self, db: Database, cursor: Any) -> None:
        self._db = db
        self._cursor = cursor
        self._rows: list[Row] | None = None
        if db._pipeline is None:  # the result is here already
            self._rows = self._fetch()

    def _fetch(self) -> list[Row]:
        # Pipelined, the description (whether the statement returns rows) comes with the
        # result: only statements that do (SELECT, RETURNING) are sent to be read there.
        if self._db._pipeline is None and self._cursor.description is None:
            return []
        try:
            rows: list[Row] = self._cursor.fetchall()
        except self._db._errors as e:
            raise self._db._error(e) from None
        return rows

    def all(self) -> list[Row]:
        if self._rows is None:
            self._rows = self._fetch()
        return self._rows

    def one(self) -> Row | None:
        rows = self.all()
        return rows[0] if rows else None


def count_round_trips(directions: Iterator[str] | Sequence[str]) -> int:
    """Round trips in a libpq trace, given each line's direction (`F` sent by the client, `B`
    by the server): the client's messages followed by the server's, counted once per turn."""
    turns, sent = 0, False
    for d in directions:
        if d == "F":
            sent = True
        elif d == "B" and sent:
            turns, sent = turns + 1, False
    return turns


_FOUND = "2201E"  # invalid_argument_for_logarithm: a `send_absent` check found a row


def _is_stale(e: BaseException) -> bool:
    from provisioning import pgpipe

    return getattr(e, "sqlstate", None) in pgpipe.STALE


def _is_conflict(e: BaseException) -> bool:
    return getattr(e, "sqlstate", None) == "22012"  # division_by_zero: send_one_change


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
        conn = psycopg.connect(url, autocommit=True, row_factory=dict_row)
    except psycopg.Error as e:
        # The message of a failed connection names host and database, never the password.
        msg = f"cannot connect to the PostgreSQL registry: {_first_line(e)}"
        raise RegistryError(msg) from None
    # The pipelined transactions prepare their statements themselves (`pgpipe`); psycopg's
    # own preparing would, after a ROLLBACK or a DROP, send DEALLOCATE ALL and take theirs too.
    conn.prepare_threshold = None
    return conn


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]
