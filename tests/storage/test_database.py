"""Engines, unavailability, and the schema created on first use."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from ledgerflow.storage import StorageUnavailable, open_storage
from ledgerflow.storage.database import create_db_engine, normalize_url
from ledgerflow.storage.migrate import current_revision, ensure_schema, head_revision, upgrade

from .builders import created


def test_url_normalization(tmp_path: Path) -> None:
    assert normalize_url("postgres://u:p@h/db", tmp_path) == "postgresql+psycopg://u:p@h/db"
    assert normalize_url("postgresql://h/db", tmp_path) == "postgresql+psycopg://h/db"
    assert normalize_url("postgresql+psycopg://h/db", tmp_path) == "postgresql+psycopg://h/db"
    assert normalize_url(None, tmp_path / "home") == f"sqlite:///{tmp_path / 'home'}/ledgerflow.db"
    assert (tmp_path / "home").is_dir()


def test_default_is_sqlite_in_home(tmp_path: Path) -> None:
    with open_storage(None, tmp_path / "home") as storage:
        storage.log.append("r1", 0, [created()])
        with storage.database.connect() as connection:
            mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
            timeout = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
            foreign_keys = connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
        assert (mode, timeout, foreign_keys) == ("wal", 30000, 1)
    assert (tmp_path / "home" / "ledgerflow.db").exists()


def test_unreachable_postgres_fails_fast_and_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGERFLOW_DB_RETRY_SECONDS", "1.5")
    started = time.monotonic()
    with pytest.raises(StorageUnavailable) as info:
        open_storage("postgresql://lf:s3cret@127.0.0.1:1/nowhere", tmp_path)
    assert time.monotonic() - started < 8
    message = str(info.value)
    assert "127.0.0.1:1/nowhere" in message and "s3cret" not in message
    assert "Check that the server is running" in message and "gave up after" in message


def test_schema_is_at_head_and_upgrade_is_idempotent(empty_database_url: str, tmp_path: Path) -> None:
    engine = create_db_engine(empty_database_url, tmp_path)
    try:
        assert current_revision(engine) is None
        upgrade(engine)
        upgrade(engine)
        ensure_schema(engine)
        assert current_revision(engine) == head_revision()
        tables = set(sa.inspect(engine).get_table_names())
        assert {"events", "runs", "results", "alembic_version"} <= tables
    finally:
        engine.dispose()


def test_concurrent_first_use_creates_the_schema_once(empty_database_url: str, tmp_path: Path) -> None:
    barrier = threading.Barrier(4)

    def first_use(i: int) -> int:
        barrier.wait()
        with open_storage(empty_database_url, tmp_path) as storage:
            storage.log.append(f"r{i}", 0, [created()])
            return len(storage.log.read(f"r{i}"))

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(first_use, range(4))) == [1, 1, 1, 1]
    engine = create_db_engine(empty_database_url, tmp_path)
    with engine.connect() as connection:
        versions = connection.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    engine.dispose()
    assert [v for (v,) in versions] == [head_revision()]
