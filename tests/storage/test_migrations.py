"""Upgrading a database that holds data, revision by revision, on SQLite and PostgreSQL."""

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from ledgerflow.engine.core.events import NewEvent
from ledgerflow.replay import verify_run
from ledgerflow.storage import SqlEventLog, create_db_engine, ensure_schema, upgrade
from ledgerflow.storage.migrate import alembic_config, current_revision, head_revision

from .builders import cache_lookup, created, new_run


@pytest.fixture
def engine(empty_database_url: str, tmp_path: Path) -> Iterator[sa.Engine]:
    engine = create_db_engine(empty_database_url, tmp_path)
    try:
        yield engine
    finally:
        engine.dispose()


def downgrade(engine: sa.Engine, revision: str) -> None:
    with engine.begin() as connection:
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def cached(task_key: str, key: str) -> NewEvent:
    return NewEvent(task_key, "task.succeeded", {"attempt": 1, "cache_key": key, "result": {"inline": 7}})


def test_upgrade_from_0001_keeps_the_data(engine: sa.Engine) -> None:
    upgrade(engine)  # today's code writes the runs, then the schema goes back to 0001
    log = SqlEventLog(engine)
    new_run(log, "r1", tasks=5)
    log.append("r2", 0, [created(), NewEvent(None, "run.running", {"owner": "w"})])
    before = (log.runs(), log.read("r1"), log.read("r2"))
    downgrade(engine, "0001")
    assert "cache_entries" not in tables(engine)
    ensure_schema(engine)
    assert current_revision(engine) == head_revision() and "cache_entries" in tables(engine)
    assert (log.runs(), log.read("r1"), log.read("r2")) == before
    log.append("r1", 6, [cached("t", "k")])
    assert cache_lookup(log, "k") is not None
    assert verify_run(engine, "r1").ok and verify_run(engine, "r2").ok


def test_upgrade_to_0002_indexes_the_logged_successes(engine: sa.Engine) -> None:
    upgrade(engine)
    log = SqlEventLog(engine)
    log.append("r1", 0, [created(), cached("a", "k1"), cached("b", "k2")])
    log.append("r2", 0, [created(), cached("a", "k1")])
    entries = {key: cache_lookup(log, key) for key in ("k1", "k2")}
    downgrade(engine, "0001")
    assert "cache_entries" not in tables(engine) and current_revision(engine) == "0001"
    upgrade(engine)
    assert {key: cache_lookup(log, key) for key in ("k1", "k2")} == entries
    assert entries["k1"] is not None and entries["k1"].run_id == "r2"
    assert verify_run(engine, "r1").ok
