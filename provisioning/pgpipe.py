"""A pipelined PostgreSQL transaction straight on libpq (psycopg's `pq` layer).

`Database.transaction(pipeline=True)` sends a verification's statements without waiting for
each answer (docs/registry.md, "Round trips"). psycopg's own pipeline mode does that, but it
pays for it on every statement: a cursor, a generator run through its wait loop, a look at the
socket after each send — about 50 µs of the client's CPU per statement, measured against 10 µs
for the same statement sent with libpq's calls directly (a login is two dozen statements, so
that was a millisecond a login). This module keeps what the registry uses of a pipeline and
nothing more:

- `send()` queues one statement (parameters adapted by psycopg's own `Transformer`, so values
  go to the server exactly as psycopg would send them) and returns its `Result`, whose rows are
  read when asked for; asking sends a Sync and reads every answer up to it: one round trip for
  everything queued;
- each statement text (with its parameters' types) is prepared on the server once per
  connection, as psycopg does after a few runs, so the server parses and plans it once; a
  statement whose preparation never ran (a failed pipeline skips what follows the failure) is
  prepared again next time;
- a failed statement fails the flush with psycopg's exception for it (SQLSTATE and all); the
  statements after it, skipped by the server, fail with the same;
- `close()` leaves the connection as psycopg expects it: every answer read, out of pipeline
  mode, and no transaction open (rolled back when one is).
"""

from __future__ import annotations

import select
from typing import Any

import psycopg
from psycopg import errors, pq
from psycopg.adapt import PyFormat, Transformer

Row = dict[str, Any]
# libpq's result statuses, as the plain ints `PGresult.status` gives
_TUPLES = int(pq.ExecStatus.TUPLES_OK)
_COMMAND = int(pq.ExecStatus.COMMAND_OK)
_SYNC = int(pq.ExecStatus.PIPELINE_SYNC)
_FATAL = int(pq.ExecStatus.FATAL_ERROR)
_IDLE = pq.TransactionStatus.IDLE
# A prepared statement gone (DEALLOCATE by someone else) or stale (its table's columns changed
# under `SELECT *`): forget them all.
STALE = ("26000", "0A000")
_READ = select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP
_BOTH = _READ | select.POLLOUT


class Result:
    """One statement's answer, once its flush has come back: rows (with column names) for a
    query, the number of rows changed for a command. Reading it before flushes everything."""

    __slots__ = ("_count", "_done", "_error", "_names", "_pipe", "_prepares", "_rows", "_stmt")

    def __init__(self, pipe: Pipe, stmt: _Prepared | None, prepares: bool) -> None:
        self._pipe = pipe
        self._rows: list[Row] = []
        self._count: int | None = None
        self._error: psycopg.Error | None = None
        self._done = False
        self._stmt = stmt            # the prepared statement it runs (None: no parameters)
        self._prepares = prepares    # whether the statement's preparation was sent before it
        self._names = stmt.names if stmt is not None else None

    def _wait(self) -> None:
        if not self._done:
            self._pipe.flush()
        if self._error is not None:
            raise self._error

    def fetchall(self) -> list[Row]:
        self._wait()
        return self._rows

    def fetchone(self) -> Row | None:
        self._wait()
        return self._rows[0] if self._rows else None

    @property
    def rowcount(self) -> int:
        self._wait()
        return -1 if self._count is None else self._count

    @property
    def description(self) -> bool:
        """Whether the statement returned rows (what psycopg's `description` tells apart)."""
        self._wait()
        return self._names is not None


class _Prepared:
    """A statement prepared (or being prepared) on this connection, under `name`."""

    __slots__ = ("name", "names", "ready")

    def __init__(self, name: bytes) -> None:
        self.name = name
        self.ready = False             # the server said it is prepared
        self.names: list[str] | None = None  # its column names, once a result showed them


class Pipe:
    """Pipelined transactions on one psycopg connection (autocommit, idle between them)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn
        self._pg = conn.pgconn
        self._tx = Transformer(conn)
        self._encoding = conn.info.encoding
        self._prepared: dict[tuple[bytes, tuple[int, ...]], _Prepared] = {}
        self._names = 0                   # prepared statements named so far (never reused)
        self._queued: list[Result] = []   # sent, answers not read yet
        self._synced = True               # no statement sent since the last Sync
        # Set while messages are being sent or answers read: still set afterwards, they were
        # interrupted (a signal, a broken socket) and what is owed is no longer known.
        self._busy = False
        self._poll = select.poll()
        self._fd = -1

    # --- the transaction ------------------------------------------------------------------
    def begin(self) -> None:
        pg = self._pg
        if pg.socket != self._fd:  # a reconnection gives a new socket
            if self._fd >= 0:
                self._poll.unregister(self._fd)
            self._fd = pg.socket
            self._poll.register(self._fd, _READ)
        pg.enter_pipeline_mode()
        self.send(b"BEGIN", None)

    def commit(self) -> None:
        """COMMIT, then wait for everything: raises the first statement's error, if any."""
        self.send(b"COMMIT", None)
        self.flush()

    def close(self) -> None:
        """Read every answer still owed, leave pipeline mode, roll back what is still open.
        Raises what the connection raises when it is broken (the caller drops it then); one
        whose exchange was cut off midway is closed."""
        pg = self._pg
        if self._busy:
            self._busy = False
            self._queued = []
            self._conn.close()
            return
        if pg.status != pq.ConnStatus.OK:
            return
        if self._queued or not self._synced:
            try:
                self.flush()
            except psycopg.Error:
                pass  # the statement's error is its caller's; here only the state matters
        if pg.pipeline_status != pq.PipelineStatus.OFF:
            pg.exit_pipeline_mode()
        if pg.transaction_status != _IDLE:
            self._conn.execute("ROLLBACK")

    # --- statements -----------------------------------------------------------------------
    def send(self, query: bytes, params: Any) -> Result:
        """Queue `query` (`$n` placeholders) with `params` (a sequence, or None)."""
        pg = self._pg
        if params is None:
            result = Result(self, None, False)
            self._busy = True
            pg.send_query_params(query, None)
        else:
            tx = self._tx
            # adapted first: a value psycopg refuses is raised before anything is sent
            values = tx.dump_sequence(params, [PyFormat.AUTO] * len(params))
            types = tuple(tx.types or ())
            formats = tx.formats
            key = (query, types)
            prep = self._prepared.get(key)
            fresh = prep is None or not prep.ready
            if prep is None:
                self._names += 1
                prep = self._prepared[key] = _Prepared(b"_dsc_%d" % self._names)
            result = Result(self, prep, fresh)
            self._busy = True
            if fresh:
                pg.send_prepare(prep.name, query, param_types=types)
            pg.send_query_prepared(prep.name, values, param_formats=formats)
        self._queued.append(result)
        self._synced = False
        self._busy = False
        return result

    def flush(self) -> None:
        """Send a Sync and read every answer up to it; raise the first error among them."""
        pg = self._pg
        self._busy = True
        pg.pipeline_sync()
        self._synced = True
        queued, self._queued = self._queued, []
        self._send()
        first: psycopg.Error | None = None
        for result in queued:
            if result._prepares:
                status, res = self._next()
                if status == _COMMAND and result._stmt is not None:
                    result._stmt.ready = True
                elif first is None and status == _FATAL:
                    first = errors.error_from_result(res, encoding=self._encoding)
            status, res = self._next()
            if status == _TUPLES:
                self._load(result, res)
            elif status == _COMMAND:
                result._count = res.command_tuples
            else:
                if first is None:
                    first = errors.error_from_result(res, encoding=self._encoding) \
                        if status == _FATAL else \
                        errors.InFailedSqlTransaction("skipped: an earlier statement failed")
                result._error = first
            result._done = True
        status, _ = self._next()
        self._busy = False
        if status != _SYNC:  # pragma: no cover  (the protocol answers a Sync last)
            raise errors.InternalError(f"pipeline out of step: status {status} before the sync")
        if first is not None:
            if first.sqlstate in STALE:
                self._prepared.clear()  # prepared again, under new names, next time
            raise first

    def _load(self, result: Result, res: pq.abc.PGresult) -> None:
        names = result._names
        if names is None:
            enc = self._encoding
            names = [(res.fname(i) or b"").decode(enc) for i in range(res.nfields)]
            result._names = names
            if result._stmt is not None:
                result._stmt.names = names
        tx = self._tx
        tx.set_pgresult(res)
        result._rows = tx.load_rows(0, res.ntuples, lambda values: dict(
            zip(names, values, strict=True)))

    # --- the socket -----------------------------------------------------------------------
    def _send(self) -> None:
        """Push out everything queued (the connection is non-blocking), reading meanwhile so
        that a server blocked on its answers is never waited for by a client blocked on it."""
        pg = self._pg
        while pg.flush():
            self._poll.modify(self._fd, _BOTH)
            try:
                self._poll.poll()
            finally:
                self._poll.modify(self._fd, _READ)
            pg.consume_input()

    def _next(self) -> tuple[int, Any]:
        """The next answer (its status and libpq result), waiting for it."""
        pg = self._pg
        while pg.is_busy():
            self._poll.poll()
            pg.consume_input()
        res = pg.get_result()
        if res is None:  # pragma: no cover  (libpq ends each query's results after the first)
            raise errors.InternalError("pipeline out of step: no answer")
        status = res.status
        if status != _SYNC:
            while pg.is_busy():
                self._poll.poll()
                pg.consume_input()
            end = pg.get_result()  # the end of this statement's results
            if end is not None:  # pragma: no cover  (one statement, one result)
                raise errors.InternalError("pipeline out of step: two answers")
        return status, res
