"""``MeteredLog``: the storage's log, timed and counted: each append transaction is timed, each
run's batch counted by outcome, and the events appended move the process's metrics (see
``event_meter``). Every other call goes to the log as it is (each method is written out, so
that the wrapper is a ``LeasedLog`` to static and runtime checks alike)."""

import time
from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager
from datetime import datetime

from ..storage import (
    DEFAULT_QUEUE,
    AppendConflict,
    CacheEntry,
    LeasedLog,
    RunAppend,
    RunSummary,
    StorageError,
    StoredRun,
)
from .core.events import Event, NewEvent
from .event_meter import EventMeter


class MeteredLog:
    """A ``LeasedLog`` that meters the appends of the log it wraps."""

    def __init__(self, log: LeasedLog, meter: EventMeter) -> None:
        self._log = log
        self._meter = meter
        metrics = meter.metrics
        self._seconds = metrics.log_append
        self._appended, self._conflicts, self._failed = (
            metrics.log_appends.labels(outcome) for outcome in ("appended", "conflict", "failed")
        )

    def append(
        self, run_id: str, expected_seq: int, events: Sequence[NewEvent], owner: str | None = None,
        lease_ttl: float | None = None,
    ) -> list[Event]:  # fmt: skip
        """Append as the wrapped log does, timed and counted."""
        start = time.perf_counter()
        try:
            appended = self._log.append(run_id, expected_seq, events, owner, lease_ttl)
        except Exception as exc:
            self._seconds.observe(time.perf_counter() - start)
            self._refused(exc)
            raise
        self._seconds.observe(time.perf_counter() - start)
        self._appended.inc()
        self._meter.appended(run_id, appended, self._read_before)
        return appended

    def append_many(self, appends: Sequence[RunAppend]) -> list[list[Event] | StorageError]:
        """Append the batches of many runs in one transaction, as the wrapped log does, timed
        and counted per run."""
        start = time.perf_counter()
        try:
            outcomes = self._log.append_many(appends)
        except Exception as exc:
            self._seconds.observe(time.perf_counter() - start)
            for _ in appends:
                self._refused(exc)
            raise
        self._seconds.observe(time.perf_counter() - start)
        for batch, outcome in zip(appends, outcomes, strict=True):
            if isinstance(outcome, StorageError):
                self._refused(outcome)
            else:
                self._appended.inc()
                self._meter.appended(batch.run_id, outcome, self._read_before)
        return outcomes

    def read(self, run_id: str, after_seq: int = 0, upto_seq: int | None = None) -> list[Event]:
        """The run's events, as the wrapped log reads them (a whole log tells its run's names)."""
        events = self._log.read(run_id, after_seq, upto_seq)
        if after_seq == 0:
            self._meter.read(events)
        return events

    def read_many(self, run_ids: Collection[str]) -> dict[str, list[Event]]:
        """The runs' whole logs, as the wrapped log reads them."""
        logs = self._log.read_many(run_ids)
        for events in logs.values():
            self._meter.read(events)
        return logs

    def _read_before(self, run_id: str, upto_seq: int) -> list[Event]:
        return self._log.read(run_id, upto_seq=upto_seq)

    def _refused(self, exc: Exception) -> None:
        (self._conflicts if isinstance(exc, AppendConflict) else self._failed).inc()

    # What follows is the wrapped log's, as it is.

    def runs(
        self, limit: int | None = None, now: datetime | None = None, *, flow: str | None = None,
        states: Collection[str] | None = None, since: datetime | None = None,
        until: datetime | None = None, before: str | None = None, queue: str | None = None,
    ) -> list[RunSummary]:  # fmt: skip
        return self._log.runs(
            limit, now, flow=flow, states=states, since=since, until=until, before=before, queue=queue
        )

    def run_counts(
        self, now: datetime | None = None, *, flow: str | None = None,
        since: datetime | None = None, until: datetime | None = None, at_most: int | None = None,
        queue: str | None = None,
    ) -> dict[str, int]:  # fmt: skip
        return self._log.run_counts(now, flow=flow, since=since, until=until, at_most=at_most, queue=queue)

    def last_drivers(self, run_ids: Collection[str]) -> dict[str, str]:
        return self._log.last_drivers(run_ids)

    def run(self, run_id: str, now: datetime | None = None) -> RunSummary:
        return self._log.run(run_id, now)

    def read_rows(self, run_id: str, *, upto_head: bool = False) -> AbstractContextManager[StoredRun]:
        return self._log.read_rows(run_id, upto_head=upto_head)

    def run_ids(self) -> list[str]:
        return self._log.run_ids()

    def take_over(self, run_id: str, owner: str, ttl: float, now: datetime | None = None) -> None:
        self._log.take_over(run_id, owner, ttl, now)

    def heartbeat(self, run_id: str, owner: str, ttl: float, now: datetime | None = None) -> bool:
        return self._log.heartbeat(run_id, owner, ttl, now)

    def heartbeat_many(
        self, run_ids: Collection[str], owner: str, ttl: float, now: datetime | None = None
    ) -> set[str]:
        return self._log.heartbeat_many(run_ids, owner, ttl, now)

    def release(self, run_id: str, owner: str) -> None:
        self._log.release(run_id, owner)

    def hand_back(self, run_id: str, owner: str, now: datetime | None = None) -> None:
        self._log.hand_back(run_id, owner, now)

    def release_many(self, run_ids: Collection[str], owner: str) -> None:
        self._log.release_many(run_ids, owner)

    def lapse_many(self, run_ids: Collection[str], owner: str, now: datetime | None = None) -> None:
        self._log.lapse_many(run_ids, owner, now)

    def claim_crashed(
        self, owner: str, ttl: float, limit: int = 1, now: datetime | None = None,
        skip: Collection[str] = (), queues: Collection[str] = (DEFAULT_QUEUE,),
    ) -> list[str]:  # fmt: skip
        return self._log.claim_crashed(owner, ttl, limit=limit, now=now, skip=skip, queues=queues)

    def claim_scheduled(
        self, owner: str, ttl: float, limit: int = 1, now: datetime | None = None,
        skip: Collection[str] = (), queues: Collection[str] = (DEFAULT_QUEUE,),
    ) -> list[str]:  # fmt: skip
        return self._log.claim_scheduled(owner, ttl, limit=limit, now=now, skip=skip, queues=queues)

    def cache_lookup_many(
        self, cache_keys: Collection[str], now: datetime | None = None
    ) -> dict[str, CacheEntry]:
        return self._log.cache_lookup_many(cache_keys, now)
