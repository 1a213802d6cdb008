"""Small builders of events for the storage and replay tests."""

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ledgerflow.engine.core.events import NewEvent
from ledgerflow.results import PICKLE
from ledgerflow.storage import CacheEntry, CacheIndex, ResultStore, SqlEventLog, SqlLimits


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


def cache_lookup(index: CacheIndex, cache_key: str, now: datetime | None = None) -> CacheEntry | None:
    """The cache entry of one key (the index looks keys up in batches)."""
    return index.cache_lookup_many([cache_key], now).get(cache_key)


def try_acquire(
    limits: SqlLimits, run_id: str, task_key: str, tags: Iterable[str], owner: str,
    now: datetime | None = None,
) -> bool:  # fmt: skip
    """Whether one task may start: its slots taken (the limits take them in batches)."""
    return task_key in limits.try_acquire_many(run_id, [(task_key, tags)], owner, now)


def stored_value(results: ResultStore, ref: str) -> Any:
    """A result read and decoded as stored (refs named "p..." are pickles, others JSON)."""
    return results.decode(ref, PICKLE if ref.startswith("p") else "json", results.read(ref))
