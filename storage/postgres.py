"""PostgreSQL hooks: bulk appends by COPY, and the lock of claims that take flow slots."""

from collections.abc import Sequence
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

EVENT_COLUMNS = ("run_id", "seq", "task_key", "type", "payload", "ts", "prev_hash", "hash")
_COPY_EVENTS = f"COPY events ({', '.join(EVENT_COLUMNS)}) FROM STDIN"
COPY_THRESHOLD = 32  # below this many rows, pipelined INSERTs are as fast
_FLOW_SLOTS_LOCK_ID = 0x6C66666C6F77736C  # "lfflowsl": claims that may take flow slots


def copy_events(connection: sa.Connection, rows: Sequence[Sequence[Any]]) -> None:
    """Write event rows with COPY in the connection's transaction (several times faster
    than INSERTs for large batches). Driver errors surface as SQLAlchemy errors, so a
    duplicate (run_id, seq) is an ``IntegrityError`` as with INSERT."""
    driver = connection.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    try:
        with driver.cursor() as cursor, cursor.copy(_COPY_EVENTS) as copy:
            for row in rows:
                copy.write_row(row)
    except psycopg.Error as exc:
        raise sa_exc.DBAPIError.instance(
            _COPY_EVENTS, None, exc, psycopg.Error, ismulti=True
        ) from exc


def lock_flow_slots(connection: sa.Connection) -> None:
    """On PostgreSQL, hold the flow slots' lock until the transaction ends: claimers that may
    take a slot of a limited flow count the slots held one after another (each sees what
    the one before committed). SQLite's BEGIN IMMEDIATE transactions already do."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _FLOW_SLOTS_LOCK_ID})
