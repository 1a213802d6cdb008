"""Migration 0011: workers record their capacity, queues and runs in flight; workers
registered before keep theirs as not recorded. And the migrations build exactly the schema
the code declares."""

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ledgerflow.storage import WorkerRegistry, create_db_engine, ensure_schema, upgrade
from ledgerflow.storage.schema import metadata

from ..conftest import postgres_database
from .test_migrations import downgrade

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def test_upgrade_from_0010_keeps_the_workers_registered_before(empty_engine: sa.Engine) -> None:
    engine = empty_engine
    upgrade(engine, "0010")
    row = {"name": "old", "host": "h", "pid": 7, "started_at": T0, "heartbeat_at": T0, "runs_driven": 4}
    with engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO workers (name, host, pid, started_at, heartbeat_at, runs_driven, state) "
            "VALUES (:name, :host, :pid, :started_at, :heartbeat_at, :runs_driven, 'running')"
        ), row)  # fmt: skip
    ensure_schema(engine)
    registry = WorkerRegistry(engine)
    (old,) = registry.workers()
    assert (old.name, old.runs_driven, old.max_runs, old.queues, old.in_flight) == ("old", 4, None, None, 0)
    registry.register("new", "h", 8, max_runs=5, queues=["gpu"])
    assert registry.heartbeat("new", in_flight=2)
    new = next(worker for worker in registry.workers() if worker.name == "new")
    assert (new.max_runs, new.queues, new.in_flight) == (5, ("gpu",), 2)
    downgrade(engine, "0010")
    assert "in_flight" not in {column["name"] for column in sa.inspect(engine).get_columns("workers")}


def test_the_migrations_build_the_declared_schema_on_postgresql(tmp_path: Path) -> None:
    with postgres_database(tmp_path) as url:
        engine = create_db_engine(url, tmp_path)
        try:
            upgrade(engine)
            with engine.connect() as connection:
                context = MigrationContext.configure(connection, opts={"compare_type": True})
                assert compare_metadata(context, metadata) == []
        finally:
            engine.dispose()
