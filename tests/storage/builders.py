"""Small builders of events for the storage and replay tests."""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ledgerflow.engine.core.events import NewEvent
from ledgerflow.results import PICKLE, encode_result
from ledgerflow.storage import (
    CacheEntry,
    CacheIndex,
    ConcurrencyLimits,
    EventLog,
    ResultStore,
    Storage,
    StoredResult,
)

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
"""When the events of ``at``, ``unleased_run`` and ``succeeded`` happen unless told: in the
past, so a lease taken then has expired by now."""
TTL = 30.0
"""The seconds a lease of the lease tests lives."""


def created(flow: str = "flow", **payload: Any) -> NewEvent:
    """A run.created event."""
    return NewEvent(None, "run.created", {"flow": flow, **payload})


def task_events(count: int, start: int = 0) -> list[NewEvent]:
    """``count`` task.running events for tasks t<start>.. with varied payloads."""
    return [
        NewEvent(f"t{i}", "task.running", {"attempt": 1, "note": "é", "x": [i, i / 3, None]})
        for i in range(start, start + count)
    ]


def new_run(log: EventLog, run_id: str, tasks: int = 9) -> None:
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
    limits: ConcurrencyLimits, run_id: str, task_key: str, tags: Iterable[str], owner: str,
    now: datetime | None = None,
) -> bool:  # fmt: skip
    """Whether one task may start: its slots taken (the limits take them in batches)."""
    return task_key in limits.try_acquire_many(run_id, [(task_key, tags)], owner, now)


def stored_value(results: ResultStore, ref: str) -> Any:
    """A result read and decoded as stored (refs named "p..." are pickles, others JSON)."""
    return results.decode(ref, PICKLE if ref.startswith("p") else "json", results.read(ref))


def at(seconds: float) -> datetime:
    """``T0`` plus some seconds."""
    return T0 + timedelta(seconds=seconds)


def started(storage: Storage, run_id: str, ts: datetime = T0) -> int:
    """A run created at ``ts``; the seq to append after."""
    storage.log.append(run_id, 0, [NewEvent(None, "run.created", {"flow": "f"}, ts)])
    return 1


def unleased_run(storage: Storage, run_id: str, state: str = "RUNNING", ts: datetime = T0) -> None:
    """A run created (and entering ``state``) at ``ts``, with no lease."""
    started(storage, run_id, ts)
    if state != "PENDING":
        storage.log.append(run_id, 1, [NewEvent(None, f"run.{state.lower()}", {"owner": "old"}, ts)])


def crashed_runs(storage: Storage, count: int) -> list[str]:
    """``count`` RUNNING runs whose driver died (their leases taken at ``at(i)`` expired)."""
    run_ids = [f"r{i:03d}" for i in range(count)]
    for i, run_id in enumerate(run_ids):
        unleased_run(storage, run_id, ts=at(i))
        storage.log.take_over(run_id, "dead", TTL, now=at(i))
    return run_ids


def driven(storage: Storage, run_id: str, owner: str, ttl: float = 60.0) -> str:
    """A run whose lease ``owner`` holds."""
    new_run(storage.log, run_id, tasks=1)
    storage.log.take_over(run_id, owner, ttl)
    return run_id


def succeeded(task_key: str, ts: datetime = T0, **payload: Any) -> NewEvent:
    """A task.succeeded event with an inline result (override with result=...)."""
    return NewEvent(task_key, "task.succeeded", {"attempt": 1, "result": {"inline": task_key}, **payload}, ts)


def stored(ref: str, value: Any) -> StoredResult:
    """``value`` encoded as the result ``ref`` of a task of run-1."""
    encoded = encode_result(value)
    return StoredResult(ref, "run-1", f"task-{ref}", encoded.format, encoded.data)
