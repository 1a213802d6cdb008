"""Engines for SQLite and PostgreSQL, driver-error translation, and the one retry policy."""

import logging
import os
import re
import select
from collections.abc import Callable, Iterator, Sequence
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

from .errors import (
    ConnectionFailed,
    DatabaseNotFound,
    InvalidDatabaseURL,
    StorageError,
    StorageUnavailable,
)

logger = logging.getLogger(__name__)

DB_FILE = "ledgerflow.db"
RETRY_SECONDS_ENV = "LEDGERFLOW_DB_RETRY_SECONDS"
DEFAULT_RETRY_SECONDS = 10.0
SQLITE_BUSY_TIMEOUT_MS = 30_000
PG_CONNECT_TIMEOUT_S = 5
READ_ONLY = "ledgerflow_read_only"
"""Execution option: on SQLite, begin a deferred (reading) transaction, not an immediate one."""

SUPPORTED_DRIVERS = {"sqlite": "pysqlite", "postgresql": "psycopg"}
SUPPORTED = (
    "supported databases: sqlite (sqlite:///PATH/TO/FILE.db) and postgresql "
    "(postgresql://USER@HOST:PORT/DATABASE)"
)

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

IN_LIST_SIZE = 500
"""At most this many values in one ``IN (...)`` list (SQLite bounds a statement's parameters)."""


def chunked(items: Sequence[T], size: int = IN_LIST_SIZE) -> Iterator[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size``: the values of one ``IN`` list each."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


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
    """Create the engine for ``url`` (None: SQLite file home/ledgerflow.db, ``home``
    created if missing); raises ``InvalidDatabaseURL`` for a URL that cannot work."""
    sa_url = checked_url(url, home)
    if sa_url.get_backend_name() == "sqlite":
        engine = sa.create_engine(sa_url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _install_sqlite_hooks(engine)
        return engine
    connect_args = {"connect_timeout": PG_CONNECT_TIMEOUT_S, "application_name": "ledgerflow"}
    engine = sa.create_engine(sa_url, connect_args=connect_args)
    _install_postgres_hooks(engine)
    return engine


def checked_url(url: str | None, home: Path) -> sa.URL:
    """The parsed URL of a supported database that names its database (``sqlite://`` and
    ``sqlite:///:memory:`` name an in-memory one); for an explicit SQLite file, its folder
    must exist."""
    text = normalize_url(url, home)
    shown = re.sub(r"://([^:/@]*):[^@]*@", r"://\1:***@", url or text)
    try:
        sa_url = sa.make_url(text)
    except sa_exc.ArgumentError as exc:
        raise InvalidDatabaseURL(shown, str(exc)) from None
    except ValueError as exc:
        reason = "its port is not a number" if "int()" in str(exc) else str(exc)
        raise InvalidDatabaseURL(shown, reason) from None
    problem = _url_problem(sa_url, is_explicit=url is not None)
    if problem is not None:
        raise InvalidDatabaseURL(shown, problem)
    return sa_url


def _url_problem(sa_url: sa.URL, *, is_explicit: bool) -> str | None:
    backend = sa_url.get_backend_name()
    if backend == "memory":  # open_storage opens memory:// itself: this wants a database
        return f"memory:// keeps runs in this process, without a database; this needs one: {SUPPORTED}"
    if backend not in SUPPORTED_DRIVERS:
        return f"{backend!r} is not a supported database; {SUPPORTED}"
    if sa_url.get_driver_name() != SUPPORTED_DRIVERS[backend]:
        return f"driver {sa_url.get_driver_name()!r} is not supported; {SUPPORTED}"
    database = sa_url.database
    if backend == "postgresql":
        return None if database else "it names no database (postgresql://USER@HOST:PORT/DATABASE)"
    if database is None or database == ":memory:" or sa_url.query.get("uri") == "true":
        return None
    if not database:
        return "it names no file: use sqlite:///PATH/TO/FILE.db (sqlite:///:memory: for a throwaway database)"
    path = Path(database)
    if path.is_dir():
        return f"{path} is a folder, not a database file"
    if is_explicit and not path.parent.is_dir():
        return f"the folder {path.parent} does not exist (create it first)"
    return None


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


def _install_postgres_hooks(engine: sa.Engine) -> None:
    """Check each pooled connection as it is taken, without a round trip (a ping costs one
    per transaction): an idle connection has nothing to read, so a readable socket is the
    server's goodbye (restarted, the backend ended) or its end of file; the pool then
    replaces the connection."""

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        driver = getattr(dbapi_connection, "driver_connection", dbapi_connection)
        if driver.closed or driver.broken or select.select([driver.fileno()], [], [], 0)[0]:
            raise sa_exc.DisconnectionError("the server closed the connection")


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


_MISSING_DATABASE = re.compile(r'database "(?P<name>[^"]*)" does not exist')
_BAD_OPTIONS = (
    "invalid connection option",
    "invalid uri query parameter",
    "invalid integer value",
    "invalid sslmode value",
    "invalid value for parameter",
    "invalid dsn",
)
_PERMANENT = (
    "does not exist",  # a role
    "failed to resolve host",
    "could not translate host name",
    "authentication failed",
    "no password supplied",
    "no pg_hba.conf entry",
    "not permitted to log in",
)


def connection_failure(exc: sa_exc.DBAPIError, url: str) -> StorageError | None:
    """The error for a failed connection that retrying cannot fix (a missing database, an
    unknown host or user, bad credentials or options), or None. Errors of statements carry
    a SQLSTATE, connection failures of psycopg do not."""
    orig = exc.orig
    if not type(orig).__module__.startswith("psycopg") or getattr(orig, "sqlstate", None):
        return None
    message = " ".join(str(orig).split())
    lowered = message.lower()
    missing = _MISSING_DATABASE.search(message)
    if missing is not None:
        return DatabaseNotFound(missing["name"], url)
    if any(pattern in lowered for pattern in _BAD_OPTIONS):
        return InvalidDatabaseURL(url, message)
    if any(pattern in lowered for pattern in _PERMANENT):
        return ConnectionFailed(url, message)
    return None


@contextmanager
def translated_errors(engine: sa.Engine) -> Iterator[None]:
    """Turn driver errors into ``StorageError`` subclasses, chained with ``from``."""
    try:
        yield
    except StorageError:
        raise
    except sa_exc.DBAPIError as exc:
        permanent = connection_failure(exc, masked_url(engine))
        if permanent is not None:
            raise permanent from exc
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
