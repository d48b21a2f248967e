"""The pipelined transaction on libpq (`provisioning.pgpipe`): prepared once per connection,
answers in order, errors as psycopg raises them, and the connection left clean after a failure,
an exception in the body, a statement deallocated behind its back or a dead server process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from provisioning.db import Database, retrying
from provisioning.errors import RegistryError, WriteConflict

pytestmark = pytest.mark.postgres


@pytest.fixture(name="db")
def db_fixture(pg_url: str) -> Iterator[Database]:
    db = Database(pg_url)
    db.execute("CREATE TABLE t (id BIGINT PRIMARY KEY, name TEXT, blob BYTEA, n BIGINT)")
    db.execute("INSERT INTO t VALUES (1, 'one', '\\x00ff', NULL), (2, 'two', NULL, 5)")
    try:
        yield db
    finally:
        db.close()


def _prepared(db: Database) -> int:
    row = db.one("SELECT COUNT(*) AS n FROM pg_prepared_statements WHERE name LIKE ?", ("_dsc_%",))
    assert row is not None
    return int(row["n"])


def _idle(db: Database) -> None:
    from psycopg import pq

    pg = db._conn.pgconn
    assert pg.pipeline_status == pq.PipelineStatus.OFF
    assert pg.transaction_status == pq.TransactionStatus.IDLE


def test_rows_come_back_typed_named_and_in_order(db: Database) -> None:
    with db.transaction(pipeline=True):
        first = db.send("SELECT * FROM t WHERE id = ?", (1,), lock=True)
        second = db.send("SELECT name, n FROM t WHERE id = ? OR name = ? ORDER BY id", (2, "one"))
        none = db.send("SELECT * FROM t WHERE id = ?", (99,))
        changed = db.execute("UPDATE t SET n = ? WHERE id <= ?", (7, 2))
        assert first.one() == {"id": 1, "name": "one", "blob": b"\x00\xff", "n": None}
        assert second.all() == [{"name": "one", "n": None}, {"name": "two", "n": 5}]
        assert none.one() is None
        assert changed.rowcount == 2
    _idle(db)
    assert db.all("SELECT n FROM t ORDER BY id") == [{"n": 7}, {"n": 7}]


def test_each_statement_is_prepared_once_per_connection(db: Database) -> None:
    for i in range(20):
        with db.transaction(pipeline=True):
            db.send("SELECT name FROM t WHERE id = ?", (1 + i % 2,)).one()
            db.send_one_change("UPDATE t SET n = ? WHERE id = ?", (i, 1))
    assert _prepared(db) == 2
    assert db.one("SELECT n FROM t WHERE id = 1") == {"n": 19}


def test_a_refused_write_rolls_back_and_a_skipped_preparation_is_made_again(
        db: Database) -> None:
    with pytest.raises(WriteConflict):
        with db.transaction(pipeline=True):
            db.send_one_change("UPDATE t SET n = ? WHERE id = ?", (1, 99))  # changes nothing
            db.execute("UPDATE t SET name = ? WHERE id = ?", ("lost", 2))  # skipped
    _idle(db)
    assert db.one("SELECT name FROM t WHERE id = 2") == {"name": "two"}
    # the second statement's preparation was skipped by the server: it is sent again
    with db.transaction(pipeline=True):
        db.execute("UPDATE t SET name = ? WHERE id = ?", ("kept", 2))
    assert db.one("SELECT name FROM t WHERE id = 2") == {"name": "kept"}


def test_an_exception_in_the_body_leaves_nothing_open(db: Database) -> None:
    with pytest.raises(KeyError):
        with db.transaction(pipeline=True):
            db.execute("UPDATE t SET name = ? WHERE id = ?", ("gone", 1))
            db.send("SELECT * FROM t WHERE id = ?", (2,))  # sent, never read
            raise KeyError("refused")
    _idle(db)
    assert db.one("SELECT name FROM t WHERE id = 1") == {"name": "one"}


def test_a_server_error_is_psycopgs_and_names_the_problem(db: Database) -> None:
    with pytest.raises(RegistryError, match="duplicate key value"):
        with db.transaction(pipeline=True):
            db.execute("INSERT INTO t (id, name) VALUES (?, ?)", (1, "again"))
            db.execute("INSERT INTO t (id, name) VALUES (?, ?)", (3, "three"))
    _idle(db)
    assert db.one("SELECT COUNT(*) AS n FROM t") == {"n": 2}


def test_statements_deallocated_behind_its_back_are_prepared_again(db: Database) -> None:
    def read() -> object:
        with db.transaction(pipeline=True):
            return db.send("SELECT name FROM t WHERE id = ?", (1,)).one()

    assert read() == {"name": "one"}
    db.execute("DEALLOCATE ALL")
    with pytest.raises(WriteConflict):  # once: rolled back, and the pipe forgets its names
        read()
    assert retrying(db, read) == {"name": "one"}
    assert _prepared(db) == 1


def test_a_killed_server_process_is_a_clear_error(db: Database, pg_url: str) -> None:
    import psycopg

    pid = db._conn.info.backend_pid
    with psycopg.connect(pg_url, autocommit=True) as other:
        with pytest.raises(RegistryError, match="registry database error"):
            with db.transaction(pipeline=True):
                db.send("SELECT 1 AS one", ()).one()
                other.execute("SELECT pg_terminate_backend(%s)", (pid,))
                db.send("SELECT name FROM t WHERE id = ?", (1,)).one()


def test_an_exchange_cut_off_midway_closes_the_connection(
        db: Database, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from provisioning import pgpipe

    def interrupted(self: pgpipe.Pipe) -> tuple[int, object]:
        raise KeyboardInterrupt

    with db.transaction(pipeline=True):  # the pipe exists, its statements are prepared
        db.send("SELECT name FROM t WHERE id = ?", (1,)).one()
    monkeypatch.setattr(pgpipe.Pipe, "_next", interrupted)
    with pytest.raises(KeyboardInterrupt):  # the interruption itself, not a database error
        with db.transaction(pipeline=True):
            db.execute("UPDATE t SET name = ? WHERE id = ?", ("half", 1))
            db.send("SELECT name FROM t WHERE id = ?", (1,)).one()
    monkeypatch.undo()
    assert db._conn.closed  # what it still owed is unknown: never used again
    with pytest.raises(RegistryError):
        db.one("SELECT 1 AS one")
    other = Database(pg_url)
    try:  # and the server rolled its transaction back
        assert other.one("SELECT name FROM t WHERE id = 1") == {"name": "one"}
    finally:
        other.close()
