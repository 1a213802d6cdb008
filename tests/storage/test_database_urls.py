"""Database URLs that cannot work fail at once with one clear error; only transient
connection failures are retried; reading never creates a schema."""

import secrets
import time
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

import ledgerflow as lf
from ledgerflow.engine.core.events import NewEvent
from ledgerflow.storage import (
    ConnectionFailed,
    DatabaseNotFound,
    DatabaseRequired,
    InvalidDatabaseURL,
    SchemaMissing,
    create_db_engine,
    open_storage,
    upgrade,
)
from ledgerflow.storage.database import checked_url, connection_failure, is_unavailable
from ledgerflow.storage.migrate import current_revision, head_revision

from ..conftest import _postgres_server

SUPPORTED = "supported databases: sqlite"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("sqlite:///", "it names no file"),
        ("postgresql://", "it names no database"),
        ("postgresql://db.example.com", "it names no database"),
        ("postgres://u@db.example.com:5432/", "it names no database"),
        ("mysql://u:pw@db.example.com/app", f"'mysql' is not a supported database; {SUPPORTED}"),
        ("nosuchdialect://x", "'nosuchdialect' is not a supported database"),
        ("postgresql+psycopg2://h/app", "driver 'psycopg2' is not supported"),
        ("postgresql+psycopg://db.example.com:abc/x", "its port is not a number"),
        ("not a url", "Could not parse"),
        ("memory://", "memory:// keeps runs in this process, without a database; this needs one"),
    ],
)
def test_a_url_that_cannot_work_is_refused_before_connecting(url: str, reason: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidDatabaseURL, match=r"^invalid database URL") as info:
        create_db_engine(url, tmp_path)
    assert reason in str(info.value) and "pw" not in str(info.value)


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "postgresql:///app", "postgres://h/app"])
def test_in_memory_and_complete_urls_are_accepted(url: str, tmp_path: Path) -> None:
    checked_url(url, tmp_path)


def test_memory_urls_open_a_private_store_or_one_shared_by_name(tmp_path: Path) -> None:
    with open_storage("memory://", tmp_path) as private, open_storage("memory://", tmp_path) as other:
        private.log.append("r1", 0, [NewEvent(None, "run.created", {"flow": "f"})])
        assert other.log.run_ids() == [] and private.database is None and private.url == "memory://"
    name = f"memory://shared-{secrets.token_hex(4)}"
    with open_storage(name, tmp_path) as first, open_storage(name, tmp_path) as second:
        first.log.append("r1", 0, [NewEvent(None, "run.created", {"flow": "f"})])
        assert second.log.run_ids() == ["r1"]
        with pytest.raises(DatabaseRequired, match=f"exporting a database is not available on {name}"):
            second.sql_engine("exporting a database")


def test_the_folder_of_an_explicit_sqlite_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(InvalidDatabaseURL, match=r"the folder .*typo does not exist"):
        open_storage(f"sqlite:///{tmp_path / 'typo' / 'x.db'}", tmp_path)
    assert not (tmp_path / "typo").exists()
    with pytest.raises(InvalidDatabaseURL, match="is a folder"):
        open_storage(f"sqlite:///{tmp_path}", tmp_path)


def test_the_default_home_is_still_created(tmp_path: Path) -> None:
    with open_storage(None, tmp_path / "new" / "home"):
        pass
    assert (tmp_path / "new" / "home" / "ledgerflow.db").exists()


def test_the_api_says_what_is_wrong_with_the_url(tmp_path: Path) -> None:
    with pytest.raises(InvalidDatabaseURL, match="'sqlite:///': it names no file"):
        lf.Engine("sqlite:///", home=tmp_path)


def postgres_url(tmp_path: Path, **parts: object) -> str:
    """The test server's URL with ``parts`` (database, username, host, query) replaced."""
    return _postgres_server(tmp_path).set(**parts).render_as_string(hide_password=False)  # type: ignore[arg-type]


def test_a_missing_database_is_named_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGERFLOW_DB_RETRY_SECONDS", "10")
    name = f"lf_missing_{secrets.token_hex(4)}"
    started = time.monotonic()
    with pytest.raises(DatabaseNotFound, match=f"^database '{name}' does not exist on the server of"):
        open_storage(postgres_url(tmp_path, database=name), tmp_path)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("parts", "error", "said"),
    [
        ({"username": "lf_no_such_role"}, ConnectionFailed, 'role "lf_no_such_role" does not exist'),
        ({"host": "no-such-host.invalid"}, ConnectionFailed, "no-such-host.invalid"),
        ({"query": {"foo": "bar"}}, InvalidDatabaseURL, 'invalid connection option "foo"'),
        ({"query": {"sslmode": "bogus"}}, InvalidDatabaseURL, "invalid sslmode value"),
    ],
)
def test_permanent_connection_errors_are_not_retried(
    parts: dict[str, object], error: type[Exception], said: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("LEDGERFLOW_DB_RETRY_SECONDS", "10")
    started = time.monotonic()
    with pytest.raises(error) as info:
        open_storage(postgres_url(tmp_path, **parts), tmp_path)
    assert said in str(info.value) and "gave up after" not in str(info.value)
    assert time.monotonic() - started < 5


def driver_error(orig: Exception) -> sa_exc.DBAPIError:
    return sa_exc.OperationalError("SELECT 1", None, orig)


@pytest.mark.parametrize(
    "message",
    [
        'connection failed: connection to server at "127.0.0.1", port 5432 failed: Connection refused',
        'connection failed: connection to server at "127.0.0.1", port 5432 failed: '
        "FATAL:  the database system is starting up",
        'connection failed: connection to server at "127.0.0.1", port 5432 failed: '
        "FATAL:  the database system is shutting down",
        "consuming input failed: server closed the connection unexpectedly",
        'connection failed: connection to server on socket "/run/postgresql/.s.PGSQL.5432" failed: '
        "No such file or directory",
    ],
)
def test_transient_connection_errors_are_retried(message: str) -> None:
    error = driver_error(psycopg.OperationalError(message))
    assert connection_failure(error, "postgresql+psycopg://h/db") is None
    assert is_unavailable(error)


def test_a_statement_error_naming_something_missing_is_no_connection_failure() -> None:
    orig = psycopg.errors.UndefinedTable('relation "x" does not exist')
    error = sa_exc.ProgrammingError("SELECT", None, orig)
    assert connection_failure(error, "postgresql+psycopg://h/db") is None


def test_reading_never_creates_the_schema(empty_database_url: str, tmp_path: Path) -> None:
    with pytest.raises(SchemaMissing, match=r"^no ledgerflow database at .*`ledgerflow db upgrade`"):
        open_storage(empty_database_url, tmp_path, create_schema=False)
    engine = create_db_engine(empty_database_url, tmp_path)
    try:
        assert sa.inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def test_reading_a_missing_or_empty_sqlite_file_leaves_it_alone(tmp_path: Path) -> None:
    for url in (f"sqlite:///{tmp_path / 'absent.db'}", "sqlite://"):
        with pytest.raises(SchemaMissing):
            open_storage(url, tmp_path, create_schema=False)
    assert not (tmp_path / "absent.db").exists()
    (tmp_path / "empty.db").touch()
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    with pytest.raises(SchemaMissing):
        open_storage(empty, tmp_path, create_schema=False)
    engine = create_db_engine(empty, tmp_path)
    try:
        assert sa.inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def test_reading_upgrades_an_existing_schema(empty_database_url: str, tmp_path: Path) -> None:
    engine = create_db_engine(empty_database_url, tmp_path)
    try:
        upgrade(engine, "0009")
        with open_storage(empty_database_url, tmp_path, create_schema=False) as storage:
            assert storage.log.runs() == []
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
