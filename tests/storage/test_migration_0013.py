"""Migration 0013: the runs read model keeps each run's queue, priority and run limit, indexed
for claims; runs recorded before read as queue "default" and priority 0, and still verify."""

import sqlalchemy as sa

from ledgerflow.engine.core.events import NewEvent
from ledgerflow.replay import verify_run
from ledgerflow.storage import SqlEventLog, ensure_schema, rebuild_read_model, upgrade
from ledgerflow.storage.migrate import current_revision, head_revision

from .test_migrations import downgrade

NEW_COLUMNS = {"queue", "priority", "max_concurrent_runs"}


def columns(engine: sa.Engine, table: str) -> set[str]:
    return {column["name"] for column in sa.inspect(engine).get_columns(table)}


def submitted(log: SqlEventLog, run_id: str, **terms: object) -> None:
    log.append(run_id, 0, [NewEvent(None, "run.created", {"flow": "f", "state": "SCHEDULED", **terms})])


def test_runs_recorded_before_read_as_the_default_queue_and_still_verify(empty_engine: sa.Engine) -> None:
    engine = empty_engine
    upgrade(engine)
    log = SqlEventLog(engine)
    submitted(log, "old")
    downgrade(engine, "0012")
    assert not NEW_COLUMNS & columns(engine, "runs") and "queue" not in columns(engine, "schedules")
    ensure_schema(engine)
    assert current_revision(engine) == head_revision()
    old = log.run("old")
    assert (old.queue, old.priority, old.max_concurrent_runs) == ("default", 0, None)
    submitted(log, "new", queue="gpu", priority=3, max_concurrent_runs=1)
    assert log.claim_scheduled("w", 30, limit=5, queues=["gpu", "default"]) == ["new", "old"]
    assert verify_run(engine, "old").ok and verify_run(engine, "new").ok


def test_a_rebuilt_read_model_keeps_queues_priorities_and_limits(empty_engine: sa.Engine) -> None:
    engine = empty_engine
    upgrade(engine)
    log = SqlEventLog(engine)
    submitted(log, "gpu", queue="gpu", priority=9, max_concurrent_runs=2)
    submitted(log, "plain")
    before = {run.run_id: (run.queue, run.priority, run.max_concurrent_runs) for run in log.runs()}
    assert rebuild_read_model(engine) == 2
    after = {run.run_id: (run.queue, run.priority, run.max_concurrent_runs) for run in log.runs()}
    assert after == before == {"gpu": ("gpu", 9, 2), "plain": ("default", 0, None)}
