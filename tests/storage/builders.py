"""Small builders of events for the storage and replay tests."""

from typing import Any

import sqlalchemy as sa

from ledgerflow.engine.events import NewEvent
from ledgerflow.storage import SqlEventLog


def created(flow: str = "flow", **payload: Any) -> NewEvent:
    """A run.created event."""
    return NewEvent(None, "run.created", {"flow": flow, **payload})


def task_events(count: int, start: int = 0) -> list[NewEvent]:
    """``count`` task.running events for tasks t<start>.. with varied payloads."""
    return [
        NewEvent(f"t{i}", "task.running", {"attempt": 1, "note": "é", "x": [i, i / 3, None]})
        for i in range(start, start + count)
    ]


def new_run(log: SqlEventLog, run_id: str, tasks: int = 9) -> None:
    """A run of 1 + ``tasks`` events (run.created, then task.running per task)."""
    log.append(run_id, 0, [created()])
    log.append(run_id, 1, task_events(tasks))


def execute(engine: sa.Engine, sql: str, **params: Any) -> None:
    """Run raw SQL in its own transaction (tampering, corrupting)."""
    with engine.begin() as connection:
        connection.execute(sa.text(sql), params)
