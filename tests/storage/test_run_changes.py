"""Migration 0009: PostgreSQL notifies the id of every run that appends (INSERT and COPY,
hardened or not; nothing for a refused append); ``AppendListener``; and the heads of the
runs that appended lately, on SQLite and PostgreSQL."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command

from ledgerflow.storage import (
    AppendConflict,
    AppendListener,
    SqlEventLog,
    StorageUnavailable,
    create_db_engine,
    run_heads_since,
    schema,
    upgrade,
)
from ledgerflow.storage.harden import harden
from ledgerflow.storage.migrate import alembic_config
from ledgerflow.storage.postgres import COPY_THRESHOLD
from ledgerflow.storage.run_changes import CHANNEL, LISTENER_NAME

from .builders import created, execute, new_run, task_events

postgres_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
TIMEOUT_S = 10.0


@pytest.fixture
def engine(database_url: str, tmp_path: Path) -> Iterator[sa.Engine]:
    engine = create_db_engine(database_url, tmp_path)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def listening(engine: sa.Engine) -> Iterator[psycopg.Connection[Any]]:
    """A psycopg connection of the test's own, listening on the channel."""
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"LISTEN {CHANNEL}")
        yield connection


def notified(listener: psycopg.Connection[Any], engine: sa.Engine) -> list[str]:
    """The payloads notified so far, in order: up to an end mark that this sends last."""
    execute(engine, "SELECT pg_notify(:channel, 'end')", channel=CHANNEL)
    payloads = []
    for notify in listener.notifies(timeout=TIMEOUT_S):
        if notify.payload == "end":
            return payloads
        payloads.append(notify.payload)
    pytest.fail(f"the end mark did not arrive within {TIMEOUT_S} s (got {payloads})")


def triggers(engine: sa.Engine) -> set[str]:
    query = (
        "SELECT tgname FROM pg_trigger WHERE tgrelid = 'events'::regclass AND NOT tgisinternal"
        if engine.dialect.name == "postgresql"
        else "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    )
    with engine.connect() as connection:
        return set(connection.exec_driver_sql(query).scalars())


def downgrade(engine: sa.Engine, revision: str) -> None:
    with engine.begin() as connection:
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_the_trigger_is_postgresql_only_and_downgrade_drops_it(empty_engine: sa.Engine) -> None:
    expected = {"ledgerflow_events_notify"} if empty_engine.dialect.name == "postgresql" else set()
    upgrade(empty_engine, "0008")
    assert triggers(empty_engine) == set()
    upgrade(empty_engine)
    assert triggers(empty_engine) == expected
    downgrade(empty_engine, "0008")
    assert triggers(empty_engine) == set()
    upgrade(empty_engine)
    assert triggers(empty_engine) == expected


@pytest.mark.parametrize("empty_database_url", ["postgresql"], indirect=True)
def test_a_hardened_database_upgrades(empty_engine: sa.Engine) -> None:
    upgrade(empty_engine, "0008")
    assert harden(empty_engine)
    upgrade(empty_engine)
    assert triggers(empty_engine) == {
        "ledgerflow_events_notify", "ledgerflow_events_append_only", "ledgerflow_events_no_truncate"
    }  # fmt: skip


@postgres_only
def test_every_append_notifies_its_run_id_once(engine: sa.Engine) -> None:
    log = SqlEventLog(engine)
    with listening(engine) as listener:
        log.append("r1", 0, [created()])  # a new run
        log.append("r2", 0, [created(), *task_events(COPY_THRESHOLD + 5)])  # by COPY
        log.append("r1", 1, task_events(3))  # by INSERTs
        assert notified(listener, engine) == ["r1", "r2", "r1"]


@postgres_only
def test_one_statement_of_several_runs_notifies_each(engine: sa.Engine) -> None:
    row = {"type": "run.created", "payload": "{}", "ts": datetime.now(UTC), "prev_hash": "", "hash": ""}
    rows = [{**row, "run_id": run_id, "seq": seq} for run_id, seq in [("a", 1), ("b", 1), ("a", 2)]]
    with listening(engine) as listener:
        with engine.begin() as connection:
            connection.execute(schema.events.insert().values(rows))  # one multi-row INSERT
        assert sorted(notified(listener, engine)) == ["a", "b"]


@postgres_only
def test_a_refused_append_notifies_nothing(engine: sa.Engine) -> None:
    log = SqlEventLog(engine)
    new_run(log, "r1", tasks=2)
    with listening(engine) as listener:
        with pytest.raises(AppendConflict):
            log.append("r1", 0, [created()])
        with pytest.raises(AppendConflict):
            log.append("r1", 1, task_events(COPY_THRESHOLD))
        assert notified(listener, engine) == []


@postgres_only
def test_a_hardened_database_still_notifies(engine: sa.Engine) -> None:
    assert harden(engine)
    assert triggers(engine) >= {"ledgerflow_events_notify", "ledgerflow_events_append_only"}
    with listening(engine) as listener:
        new_run(SqlEventLog(engine), "r1", tasks=COPY_THRESHOLD)
        assert notified(listener, engine) == ["r1", "r1"]


@postgres_only
def test_append_listener_reports_appended_runs(engine: sa.Engine) -> None:
    log = SqlEventLog(engine)
    with AppendListener(engine) as listener:
        assert listener.appended_runs(timeout=0) == set()
        log.append("r1", 0, [created()])
        assert listener.appended_runs(timeout=TIMEOUT_S) == {"r1"}


@postgres_only
def test_append_listener_raises_unavailable_when_its_connection_dies(engine: sa.Engine) -> None:
    with AppendListener(engine) as listener:
        execute(
            engine,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = :name",
            name=LISTENER_NAME,
        )
        with pytest.raises(StorageUnavailable, match="listening for appends"):
            listener.appended_runs(timeout=TIMEOUT_S)


def test_run_heads_since(engine: sa.Engine) -> None:
    log = SqlEventLog(engine)
    before = datetime.now(UTC) - timedelta(seconds=1)
    new_run(log, "r1", tasks=3)
    log.append("r2", 0, [created()])
    assert run_heads_since(engine, before) == {"r1": 4, "r2": 1}
    assert run_heads_since(engine, datetime.now(UTC) + timedelta(seconds=1)) == {}
