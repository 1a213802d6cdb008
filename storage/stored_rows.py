"""Read-only, streaming access to a run's stored rows, for verification and export.

Rows come back undecoded (payload text, ts as the database returns it: a datetime, or
SQLite's stored text) and in chunks, so a run of any length is read in bounded memory.
The head (from the runs read model) and the rows are read in one snapshot.
"""

from collections.abc import Generator, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from .database import READ_ONLY, translated_errors
from .errors import RunNotFound
from .protocols import EventRow, StoredRun
from .schema import events, runs

CHUNK_ROWS = 5_000
"""Rows fetched per round trip."""

_ROW_COLUMNS = (
    events.c.seq,
    events.c.task_key,
    events.c.type,
    events.c.payload,
    events.c.ts,
    events.c.prev_hash,
    events.c.hash,
)


@contextmanager
def open_run(engine: sa.Engine, run_id: str, *, upto_head: bool = False) -> Iterator[StoredRun]:
    """Read ``run_id``'s rows in seq order (only those up to the head with ``upto_head``).

    Raises ``RunNotFound`` if the run has neither a runs row nor events.
    """
    with translated_errors(engine), _snapshot(engine) as connection:
        found = connection.execute(
            sa.select(runs.c.head_seq, runs.c.head_hash).where(runs.c.run_id == run_id)
        ).first()
        head = None if found is None else (int(found.head_seq), str(found.head_hash))
        if head is None and not _has_events(connection, run_id):
            raise RunNotFound(run_id)
        query = sa.select(*_ROW_COLUMNS).where(events.c.run_id == run_id).order_by(events.c.seq)
        if upto_head and head is not None:
            query = query.where(events.c.seq <= head[0])
        rows = _driver_rows(connection, query)
        try:
            yield StoredRun(run_id, head, rows)
        finally:
            rows.close()  # closes the cursor while its connection is still ours


def run_ids(engine: sa.Engine) -> list[str]:
    """Every run id the database holds, in the runs table or only in events, sorted."""
    query = sa.union(sa.select(runs.c.run_id), sa.select(events.c.run_id).distinct())
    with translated_errors(engine), _snapshot(engine) as connection:
        return sorted(str(run_id) for run_id in connection.execute(query).scalars())


@contextmanager
def _snapshot(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A reading connection whose transaction sees one snapshot (PostgreSQL's default,
    READ COMMITTED, would let an append land between reading the head and the rows)."""
    is_postgres = engine.dialect.name == "postgresql"
    options: dict[str, Any] = {READ_ONLY: True}
    if is_postgres:
        options["isolation_level"] = "REPEATABLE READ"
    with engine.connect().execution_options(**options) as connection, connection.begin():
        if is_postgres:  # psycopg then loads timestamps in UTC: ~1 µs a row faster than a named zone
            connection.exec_driver_sql("SET LOCAL TIME ZONE 'UTC'")
        yield connection


def _driver_rows(connection: sa.Connection, query: sa.Select[Any]) -> Generator[EventRow]:
    """The rows of ``query`` as the driver returns them, fetched in chunks.

    Verification reads every row of a run once and its speed matters: this skips
    SQLAlchemy's row objects and result processing (about a third of the time), so
    timestamps come undecoded (SQLite's text, which the codec reads as the column type
    would; psycopg returns a datetime). PostgreSQL streams through a server-side cursor.
    """
    compiled = query.compile(dialect=connection.dialect)
    params = compiled.construct_params()
    arguments: Any = (
        tuple(params[name] for name in compiled.positiontup or ())
        if compiled.positional
        else params
    )
    driver: Any = connection.connection.driver_connection
    is_postgres = connection.dialect.name == "postgresql"
    cursor = driver.cursor(name="ledgerflow_rows") if is_postgres else driver.cursor()
    driver_error = connection.dialect.loaded_dbapi.Error
    try:
        cursor.execute(str(compiled), arguments)
        while chunk := cursor.fetchmany(CHUNK_ROWS):
            yield from chunk
    except driver_error as exc:  # as SQLAlchemy would raise it, for translated_errors
        raise sa_exc.DBAPIError.instance(str(compiled), arguments, exc, driver_error) from exc
    finally:
        cursor.close()


def _has_events(connection: sa.Connection, run_id: str) -> bool:
    query = sa.select(events.c.seq).where(events.c.run_id == run_id).limit(1)
    return connection.execute(query).first() is not None
