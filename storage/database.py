"""Engines for SQLite and PostgreSQL, driver-error translation, and the one retry policy."""

import logging
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from tenacity import (
    RetryCallState,
    before_sleep_log,
    retry,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential,
)

from .errors import InvalidDatabaseURL, StorageError, StorageUnavailable

logger = logging.getLogger(__name__)

DB_FILE = "ledgerflow.db"
RETRY_SECONDS_ENV = "LEDGERFLOW_DB_RETRY_SECONDS"
DEFAULT_RETRY_SECONDS = 10.0
SQLITE_BUSY_TIMEOUT_MS = 30_000
PG_CONNECT_TIMEOUT_S = 5
READ_ONLY = "ledgerflow_read_only"
"""Execution option: on SQLite, begin a deferred (reading) transaction, not an immediate one."""

F = TypeVar("F", bound=Callable[..., Any])


def normalize_url(url: str | None, home: Path) -> str:
    """The SQLAlchemy URL to use: None is the SQLite file in ``home``; postgres -> psycopg."""
    if url is None:
        Path(home).mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{Path(home) / DB_FILE}"
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def masked_url(engine: sa.Engine) -> str:
    """The engine's URL with its password masked, for messages."""
    return engine.url.render_as_string(hide_password=True)


def create_db_engine(url: str | None, home: Path) -> sa.Engine:
    """Create the engine for ``url`` (None: SQLite file home/ledgerflow.db)."""
    try:
        return _create(sa.make_url(normalize_url(url, home)))
    except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError) as exc:
        shown = re.sub(r"://([^:/@]*):[^@]*@", r"://\1:***@", url or "")
        raise InvalidDatabaseURL(shown, str(exc)) from exc


def _create(sa_url: sa.URL) -> sa.Engine:
    if sa_url.get_backend_name() == "sqlite":
        if sa_url.database and sa_url.database != ":memory:":
            Path(sa_url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(sa_url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _install_sqlite_hooks(engine)
        return engine
    connect_args: dict[str, Any] = {}
    if sa_url.get_backend_name() == "postgresql":
        connect_args = {"connect_timeout": PG_CONNECT_TIMEOUT_S, "application_name": "ledgerflow"}
    return sa.create_engine(sa_url, pool_pre_ping=True, connect_args=connect_args)


def _install_sqlite_hooks(engine: sa.Engine) -> None:
    """WAL, busy timeout, foreign keys; writes in BEGIN IMMEDIATE (pysqlite's BEGIN disabled)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def is_unavailable(exc: sa_exc.DBAPIError) -> bool:
    """True for connection-level faults (worth retrying), false for statement errors."""
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, sa_exc.OperationalError):
        return isinstance(exc, sa_exc.InterfaceError)
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate is not None:  # psycopg: connection exceptions (08), operator intervention (57)
        return str(sqlstate).startswith(("08", "57"))
    message = str(exc.orig).lower()
    if "sqlite" in type(exc.orig).__module__:
        return "locked" in message or "unable to open" in message or "disk i/o" in message
    return True  # psycopg connect failures carry no sqlstate


@contextmanager
def translated_errors(engine: sa.Engine) -> Iterator[None]:
    """Turn driver errors into ``StorageError`` subclasses, chained with ``from``."""
    try:
        yield
    except StorageError:
        raise
    except sa_exc.DBAPIError as exc:
        if is_unavailable(exc):
            raise StorageUnavailable(
                f"cannot reach the database at {masked_url(engine)}: {exc.orig}. "
                "Check that the server is running and reachable, and the URL and credentials "
                "(--database / LEDGERFLOW_DATABASE_URL)"
            ) from exc
        raise StorageError(f"database error at {masked_url(engine)}: {exc.orig}") from exc
    except sa_exc.SQLAlchemyError as exc:
        raise StorageError(f"database error at {masked_url(engine)}: {exc}") from exc


def retry_seconds() -> float:
    """How long to keep retrying an unavailable database ($LEDGERFLOW_DB_RETRY_SECONDS)."""
    try:
        return float(os.environ.get(RETRY_SECONDS_ENV, DEFAULT_RETRY_SECONDS))
    except ValueError:
        return DEFAULT_RETRY_SECONDS


def _stop(state: RetryCallState) -> bool:
    return stop_after_delay(retry_seconds())(state)


def _give_up(state: RetryCallState) -> Any:
    assert state.outcome is not None
    exc = state.outcome.exception()
    raise StorageUnavailable(
        f"{exc} (gave up after {state.attempt_number} attempts in {state.seconds_since_start or 0.0:.1f} s)"
    ) from exc


retry_unavailable: Callable[[F], F] = retry(  # type: ignore[assignment]
    retry=retry_if_exception_type(StorageUnavailable),
    wait=wait_exponential(multiplier=0.1, max=2.0),
    stop=_stop,
    before_sleep=before_sleep_log(logger, logging.WARNING),
    retry_error_callback=_give_up,
)
"""The one retry policy: only ``StorageUnavailable``, exponential backoff, bounded in time."""
