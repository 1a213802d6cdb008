"""PostgreSQL hooks: bulk appends by COPY, notifications sent in a transaction, a
connection of its own that listens for them, and the lock of claims that take flow slots."""

from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache
from types import TracebackType
from typing import Any, Self

import psycopg
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from .database import PG_CONNECT_TIMEOUT_S, masked_url
from .errors import StorageUnavailable

EVENT_COLUMNS = ("run_id", "seq", "task_key", "type", "payload", "ts", "prev_hash", "hash")
_COPY_EVENTS = f"COPY events ({', '.join(EVENT_COLUMNS)}) FROM STDIN"
COPY_THRESHOLD = 32  # below this many rows, one INSERT of them all is as fast
_NOTIFY = sa.text("SELECT pg_notify(:channel, payload) FROM unnest(CAST(:payloads AS text[])) AS payload")
_FLOW_SLOTS_LOCK_ID = 0x6C66666C6F77736C  # "lfflowsl": claims that may take flow slots


def write_events(connection: sa.Connection, rows: Sequence[Sequence[Any]]) -> None:
    """Write event rows (``EVENT_COLUMNS``) in the connection's transaction: by COPY from
    ``COPY_THRESHOLD`` rows (several times faster than INSERTs), else by one INSERT of them
    all (one statement, prepared by the server once it recurs; the SQL layer's per-row
    statements cost more than the rows). Driver errors surface as SQLAlchemy errors, so a
    duplicate (run_id, seq) is an ``IntegrityError`` as with any INSERT."""
    if len(rows) < COPY_THRESHOLD:
        _execute(connection, _insert_events(len(rows)), [value for row in rows for value in row])
        return
    driver = _driver(connection)
    try:
        with driver.cursor() as cursor, cursor.copy(_COPY_EVENTS) as copy:
            for row in rows:
                copy.write_row(row)
    except psycopg.Error as exc:
        raise sa_exc.DBAPIError.instance(_COPY_EVENTS, None, exc, psycopg.Error, ismulti=True) from exc


def write_row_and_events(
    connection: sa.Connection, table: str, values: Mapping[str, Any], rows: Sequence[Sequence[Any]]
) -> bool:
    """Insert one row of ``table`` (``values``: column -> value as the driver binds it) and
    event rows (as ``write_events``) in one statement, a data-modifying WITH: one round trip
    for a new run's row and first events. False, having done nothing, for as many rows as
    ``write_events`` copies. A duplicate key of either is an ``IntegrityError``."""
    if len(rows) >= COPY_THRESHOLD:
        return False
    marks = ", ".join(["%s"] * len(values))
    statement = f"WITH inserted AS (INSERT INTO {table} ({', '.join(values)}) VALUES ({marks})) "
    _execute(
        connection,
        statement + _insert_events(len(rows)),
        [*values.values(), *(v for row in rows for v in row)],
    )
    return True


def _driver(connection: sa.Connection) -> "psycopg.Connection[Any]":
    driver = connection.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    return driver


def _execute(connection: sa.Connection, statement: str, parameters: Sequence[Any]) -> None:
    """Run one statement on the connection's driver (its transaction), driver errors as
    SQLAlchemy's."""
    try:
        with _driver(connection).cursor() as cursor:
            cursor.execute(statement, parameters)
    except psycopg.Error as exc:
        raise sa_exc.DBAPIError.instance(statement, None, exc, psycopg.Error, ismulti=True) from exc


@cache
def _insert_events(count: int) -> str:
    """The INSERT of ``count`` event rows (positional parameters)."""
    values = ", ".join(["(" + ", ".join(["%s"] * len(EVENT_COLUMNS)) + ")"] * count)
    return f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES {values}"


def notify(connection: sa.Connection, channel: str, payloads: Collection[str]) -> None:
    """Notify ``channel`` once per payload when the connection's transaction commits
    (nothing on other databases than PostgreSQL, which have no notifications)."""
    if payloads and connection.dialect.name == "postgresql":
        connection.execute(_NOTIFY, {"channel": channel, "payloads": list(payloads)})


class ChannelListener:
    """A connection of its own to a PostgreSQL database that listens on one channel for
    notifications of ``what`` (named in errors).

    Use it from one thread. Driver errors raise ``StorageUnavailable``: open a new one.
    """

    def __init__(self, engine: sa.Engine, channel: str, application_name: str, what: str) -> None:
        self._failed = f"listening for {what} at {masked_url(engine)} failed"
        conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        with self._translated():
            self._connection: psycopg.Connection[Any] = psycopg.connect(
                conninfo, autocommit=True, connect_timeout=PG_CONNECT_TIMEOUT_S,
                application_name=application_name,
            )  # fmt: skip
        try:
            with self._translated():
                self._connection.execute(f"LISTEN {channel}")
        except BaseException:
            self._connection.close()
            raise

    def notified(self, timeout: float) -> set[str]:
        """The payloads of the first notifications to arrive within ``timeout`` seconds (with
        any that came with them), or none."""
        with self._translated():
            return {notify.payload for notify in self._connection.notifies(timeout=timeout, stop_after=1)}

    def close(self) -> None:
        """Close the connection (which stops listening)."""
        self._connection.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except psycopg.Error as exc:
            raise StorageUnavailable(f"{self._failed}: {exc}") from exc


def lock_flow_slots_if_any(connection: sa.Connection, needed: sa.Select[Any]) -> bool:
    """On PostgreSQL, if ``needed`` finds a row, hold the flow slots' lock until the
    transaction ends (one statement); whether the transaction may count and take flow slots
    now. Claimers that take slots of limited flows then count the slots held one after
    another, each seeing what the one before committed. SQLite's BEGIN IMMEDIATE
    transactions already run one at a time: they always may."""
    if connection.dialect.name != "postgresql":
        return True
    found = needed.limit(1).subquery()
    lock = sa.select(sa.func.pg_advisory_xact_lock(_FLOW_SLOTS_LOCK_ID)).select_from(found)
    return connection.execute(lock).first() is not None
