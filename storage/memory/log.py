"""The event log in memory: hash-chained appends fenced like the SQL log's, the runs read
model, leases and the cache index, all changed under the tables' lock in one step."""

import logging
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

import orjson

from ...engine.core.events import Event, EventType, NewEvent
from ...engine.core.run_terms import DEFAULT_QUEUE
from ..appends import chain_after, check_appends, check_batch, check_head
from ..cache_entries import cache_entry, is_unexpired
from ..codec import GENESIS_HASH, canonical_payload
from ..errors import AppendConflict, RunNotFound, StorageError
from ..lease_terms import (
    is_left_by_a_dead_driver,
    is_waiting_to_start,
    lease_expiry,
    new_lease,
    shown,
    utc_now,
)
from ..protocols import CacheEntry, RunSummary, StoredRun
from ..records import RunAppend
from ..run_slots import (
    HOLDING_STATES,
    check_queues,
    claim_order,
    effective_limit,
    flow_limit_name,
    slots_held,
)
from .tables import EventTuple, MemoryTables

logger = logging.getLogger(__name__)


class MemoryEventLog:
    """An ``EventLog`` (with ``Leases`` and a ``CacheIndex``) in this process's memory.

    The same contract as ``SqlEventLog``: appends at an expected seq, fenced by the owner of
    the run's lease; times are the caller's clock (``now``, default the current UTC time).
    """

    def __init__(self, tables: MemoryTables) -> None:
        self._tables = tables

    def append(
        self, run_id: str, expected_seq: int, events: Sequence[NewEvent], owner: str | None = None,
        lease_ttl: float | None = None,
    ) -> list[Event]:  # fmt: skip
        """Append ``events`` after ``expected_seq`` (see ``EventLog``; a new run is created with
        ``owner``'s lease for ``lease_ttl`` s). Raises ``AppendConflict`` if another writer got
        there first or took the run over, ``RunNotFound`` for an unknown run, ``InvalidAppend``
        for a malformed batch, ``PayloadNotJSON``."""
        batch = list(events)
        if not batch:
            return []
        check_batch(run_id, expected_seq, batch)
        payloads = [canonical_payload(new.payload) for new in batch]
        lease = new_lease(owner, lease_ttl) if expected_seq == 0 else {}
        with self._tables.lock:
            return self._append_locked(run_id, expected_seq, batch, payloads, owner, lease)

    def append_many(self, appends: Sequence[RunAppend]) -> list[list[Event] | StorageError]:
        """Append the batches of distinct runs after their heads at once (see ``EventLog``):
        per batch, its events or the error that refused it alone."""
        checked, outcomes = check_appends(appends)
        with self._tables.lock:
            for append in checked:
                try:
                    outcomes[append.index] = self._append_locked(
                        append.run_id, append.expected_seq, append.events, append.payloads, append.owner
                    )
                except StorageError as exc:  # AppendConflict, RunNotFound: this run only
                    outcomes[append.index] = exc
                    continue
                if (owner := append.releases) is not None:
                    self.release_many([append.run_id], owner)
        return [outcomes[index] for index in range(len(appends))]

    def _append_locked(
        self, run_id: str, expected_seq: int, batch: list[NewEvent], payloads: list[bytes],
        owner: str | None, lease: dict[str, Any] | None = None,
    ) -> list[Event]:  # fmt: skip
        """Check the head, chain the batch after it and store it (hold the tables' lock); a new
        run gets the ``lease`` columns given."""
        tables = self._tables
        prev_hash, last_ts = self._head(run_id, expected_seq, owner)
        chained, changes = chain_after(run_id, expected_seq, prev_hash, last_ts, batch, payloads)
        first, last = chained[0], chained[-1]
        run = tables.runs.get(run_id) or RunSummary(
            run_id, "", "PENDING", 0, prev_hash, first.ts, first.ts, None, None
        )
        tables.runs[run_id] = replace(
            run, head_seq=last.seq, head_hash=last.hash, updated_at=last.ts, **{**changes, **(lease or {})}
        )
        tables.events.setdefault(run_id, []).extend(
            (e.seq, e.task_key, e.type, p.decode(), e.ts, e.prev_hash, e.hash)
            for e, p in zip(chained, payloads, strict=True)
        )
        self._index(chained, payloads)
        return chained

    def _head(self, run_id: str, expected_seq: int, owner: str | None) -> tuple[str, datetime | None]:
        """Check the run's head and lease holder: (head hash, last ts) (as ``SqlEventLog``'s)."""
        if expected_seq == 0:
            if run_id in self._tables.runs:  # as UNIQUE(run_id, seq) refuses a second seq 1
                raise AppendConflict(run_id, expected_seq)
            return GENESIS_HASH, None
        run = self._run(run_id)
        check_head(run_id, expected_seq, run.head_seq, run.owner, owner)
        return run.head_hash, run.updated_at

    def _run(self, run_id: str) -> RunSummary:
        """The run's stored summary (hold the lock); raises ``RunNotFound``."""
        run = self._tables.runs.get(run_id)
        if run is None:
            raise RunNotFound(run_id)
        return run

    def _index(self, chained: list[Event], payloads: list[bytes]) -> None:
        """Enter the cache entries of freshly appended events (a newer entry of a key wins),
        each with a payload of its own (the appender keeps the events it got back)."""
        cache = self._tables.cache
        for event, payload in zip(chained, payloads, strict=True):
            if event.type != EventType.TASK_SUCCEEDED:
                continue
            entry = cache_entry(event.run_id, event.task_key, event.type, orjson.loads(payload), event.ts)
            if entry is None:
                continue
            known = cache.get(entry.cache_key)
            if known is None or entry.created_at >= known.created_at:
                cache[entry.cache_key] = entry

    def _rows(self, run_id: str) -> list[EventTuple]:
        rows = self._tables.events.get(run_id)
        if rows is None:
            raise RunNotFound(run_id)
        return rows

    def read(self, run_id: str, after_seq: int = 0, upto_seq: int | None = None) -> list[Event]:
        """The events with after_seq < seq <= upto_seq in seq order; raises ``RunNotFound``."""
        with self._tables.lock:
            rows = self._rows(run_id)
            end = len(rows) if upto_seq is None else max(0, min(upto_seq, len(rows)))
            selected = rows[max(0, after_seq) : end]
        return [
            Event(run_id, seq, task_key, event_type, orjson.loads(payload), ts, prev_hash, digest)
            for seq, task_key, event_type, payload, ts, prev_hash, digest in selected
        ]

    def read_many(self, run_ids: Collection[str]) -> dict[str, list[Event]]:
        """The whole logs of those of ``run_ids`` that have events, by run id."""
        with self._tables.lock:
            known = [run_id for run_id in set(run_ids) if run_id in self._tables.events]
        return {run_id: self.read(run_id) for run_id in known}

    def _summaries(
        self, now: datetime | None, flow: str | None, since: datetime | None, until: datetime | None,
        queue: str | None,
    ) -> list[RunSummary]:  # fmt: skip
        """Summaries of the runs of ``flow`` (and ``queue``) created in ``[since, until)``,
        newest first."""
        now = utc_now(now)
        with self._tables.lock:
            runs = [
                shown(run, now)
                for run in self._tables.runs.values()
                if (flow is None or run.flow == flow)
                and (queue is None or run.queue == queue)
                and (since is None or run.created_at >= since)
                and (until is None or run.created_at < until)
            ]
        return sorted(runs, key=lambda run: (run.created_at, run.run_id), reverse=True)

    def runs(
        self, limit: int | None = None, now: datetime | None = None, *, flow: str | None = None,
        states: Collection[str] | None = None, since: datetime | None = None,
        until: datetime | None = None, before: str | None = None, queue: str | None = None,
    ) -> list[RunSummary]:  # fmt: skip
        """Summaries of runs, newest first (CRASHED: RUNNING with a lease expired at ``now``),
        filtered by ``flow``, shown ``states``, creation time in ``[since, until)`` and ``queue``;
        with ``before``, those listed after that run (``RunNotFound`` if it does not exist)."""
        runs = self._summaries(now, flow, since, until, queue)
        if before is not None:
            with self._tables.lock:
                after = self._run(before)
            runs = [run for run in runs if (run.created_at, run.run_id) < (after.created_at, after.run_id)]
        if states is not None:
            runs = [run for run in runs if run.state in states]
        return runs if limit is None else runs[: max(0, limit)]

    def run_counts(
        self, now: datetime | None = None, *, flow: str | None = None, since: datetime | None = None,
        until: datetime | None = None, at_most: int | None = None, queue: str | None = None,
    ) -> dict[str, int]:  # fmt: skip
        """How many runs are in each shown state, filtered as ``runs``; with ``at_most``, a
        state with more runs counts ``at_most + 1``."""
        if at_most is not None and at_most < 0:
            raise ValueError(f"a count stops at 0 runs or more, not {at_most}")
        counts: dict[str, int] = {}
        for run in self._summaries(now, flow, since, until, queue):
            counts[run.state] = counts.get(run.state, 0) + 1
        if at_most is None:
            return counts
        return {state: min(count, at_most + 1) for state, count in counts.items()}

    def last_drivers(self, run_ids: Collection[str]) -> dict[str, str]:
        """The driver (owner) that each run's latest ``run.running`` event names, by run id."""
        drivers = {}
        with self._tables.lock:
            for run_id in run_ids:
                running = [
                    row for row in self._tables.events.get(run_id, ()) if row[2] == EventType.RUN_RUNNING
                ]
                if running:
                    owner = orjson.loads(running[-1][3]).get("owner")
                    if isinstance(owner, str):
                        drivers[run_id] = owner
        return drivers

    def run(self, run_id: str, now: datetime | None = None) -> RunSummary:
        """The summary of one run (CRASHED as in ``runs``); raises ``RunNotFound``."""
        now = utc_now(now)
        with self._tables.lock:
            return shown(self._run(run_id), now)

    def read_rows(self, run_id: str, *, upto_head: bool = False) -> AbstractContextManager[StoredRun]:
        """The run's stored rows in seq order with its head, as one snapshot; ``RunNotFound``."""
        with self._tables.lock:
            rows = list(self._rows(run_id))
            run = self._run(run_id)
            head = (run.head_seq, run.head_hash)
        return _stored_run(StoredRun(run_id, head, iter(rows)))

    def run_ids(self) -> list[str]:
        """Every run id stored, sorted."""
        with self._tables.lock:
            return sorted(self._tables.events)

    def take_over(self, run_id: str, owner: str, ttl: float, now: datetime | None = None) -> None:
        """Take the run's lease for ``ttl`` s whoever holds it; raises ``RunNotFound``."""
        expires = lease_expiry(utc_now(now), ttl)
        with self._tables.lock:
            self._tables.lease(self._run(run_id), owner, expires)
        logger.info("run %s: %s took the lease over until %s", run_id, owner, expires)

    def heartbeat(self, run_id: str, owner: str, ttl: float, now: datetime | None = None) -> bool:
        """Extend ``owner``'s lease to now + ``ttl``; False if ``owner`` no longer holds it."""
        expires = lease_expiry(utc_now(now), ttl)
        with self._tables.lock:
            run = self._run(run_id)
            if run.owner == owner:
                self._tables.lease(run, owner, expires)
                return True
        logger.warning("run %s: %s lost its lease", run_id, owner)
        return False

    def heartbeat_many(
        self, run_ids: Collection[str], owner: str, ttl: float, now: datetime | None = None
    ) -> set[str]:
        """Extend ``owner``'s leases of ``run_ids`` to now + ``ttl``; the ids it still holds."""
        held = self._update_held(run_ids, owner, owner, lease_expiry(utc_now(now), ttl))
        if lost := set(run_ids) - held:
            logger.warning("runs %s: %s lost their leases", ", ".join(sorted(lost)), owner)
        return held

    def release(self, run_id: str, owner: str) -> None:
        """Clear owner and lease if ``owner`` holds them (else leave them); ``RunNotFound``."""
        with self._tables.lock:
            run = self._run(run_id)
            if run.owner == owner:
                self._tables.lease(run, None, None)

    def hand_back(self, run_id: str, owner: str, now: datetime | None = None) -> None:
        """Clear the owner and end the lease at ``now`` if ``owner`` holds it; ``RunNotFound``."""
        now = utc_now(now)
        with self._tables.lock:
            run = self._run(run_id)
            if run.owner == owner:
                self._tables.lease(run, None, now)

    def release_many(self, run_ids: Collection[str], owner: str) -> None:
        """Clear owner and lease of those of ``run_ids`` that ``owner`` holds."""
        self._update_held(run_ids, owner, None, None)

    def lapse_many(self, run_ids: Collection[str], owner: str, now: datetime | None = None) -> None:
        """Let the leases ``owner`` holds among ``run_ids`` expire at ``now``."""
        self._update_held(run_ids, owner, owner, utc_now(now))

    def _update_held(
        self, run_ids: Collection[str], holder: str, owner: str | None, expires: datetime | None
    ) -> set[str]:
        """Lease the runs of ``run_ids`` that ``holder`` holds to ``owner`` until ``expires``;
        their ids."""
        held = set()
        with self._tables.lock:
            for run_id in set(run_ids):
                run = self._tables.runs.get(run_id)
                if run is not None and run.owner == holder:
                    self._tables.lease(run, owner, expires)
                    held.add(run_id)
        return held

    def claim_crashed(
        self, owner: str, ttl: float, limit: int = 1, now: datetime | None = None,
        skip: Collection[str] = (), queues: Collection[str] = (DEFAULT_QUEUE,),
    ) -> list[str]:  # fmt: skip
        """Take the leases of up to ``limit`` runs of ``queues`` a dead driver left, by priority
        then age, each with a slot of its flow (see ``storage.run_slots``), never one in ``skip``."""
        now = utc_now(now)
        is_left = lambda run: is_left_by_a_dead_driver(run, now, ttl)  # noqa: E731
        return self._claim("crashed", is_left, owner, ttl, limit, now, skip, queues)

    def claim_scheduled(
        self, owner: str, ttl: float, limit: int = 1, now: datetime | None = None,
        skip: Collection[str] = (), queues: Collection[str] = (DEFAULT_QUEUE,),
    ) -> list[str]:  # fmt: skip
        """Take the leases of up to ``limit`` SCHEDULED runs of ``queues`` nobody drives, by
        priority (higher first) then age, each with a slot of its flow; never one in ``skip``."""
        now = utc_now(now)
        return self._claim(
            "scheduled", lambda run: is_waiting_to_start(run, now), owner, ttl, limit, now, skip, queues
        )

    def _claim(
        self, kind: str, is_claimable: Callable[[RunSummary], bool], owner: str, ttl: float,
        limit: int, now: datetime, skip: Collection[str], queues: Collection[str],
    ) -> list[str]:  # fmt: skip
        """Lease to ``owner`` up to ``limit`` of the claimable runs of ``queues`` in claim order,
        none in ``skip``; a run of a limited flow only while a slot of it is free (a run that
        ended holds none and takes none)."""
        expires = lease_expiry(now, ttl)
        if limit < 1:
            raise ValueError(f"claim at least one run, not {limit}")
        wanted = set(check_queues(queues))
        tables = self._tables
        claimed: list[str] = []
        with tables.lock:
            held = slots_held(tables.runs.values(), now)
            candidates = sorted(
                (
                    run for run in tables.runs.values()
                    if run.queue in wanted and run.run_id not in skip and is_claimable(run)
                ),
                key=claim_order,
            )  # fmt: skip
            for run in candidates:
                if len(claimed) == limit:
                    break
                cap = effective_limit(tables.limits.get(flow_limit_name(run.flow)), run.max_concurrent_runs)
                if run.state in HOLDING_STATES and cap is not None:
                    if held.get(run.flow, 0) >= cap:
                        continue
                    held[run.flow] = held.get(run.flow, 0) + 1
                tables.lease(run, owner, expires)
                claimed.append(run.run_id)
        if claimed:
            logger.info("%s claimed %s runs %s", owner, kind, ", ".join(claimed))
        return claimed

    def cache_lookup_many(
        self, cache_keys: Collection[str], now: datetime | None = None
    ) -> dict[str, CacheEntry]:
        """The latest entry recorded for each of ``cache_keys`` unless it expired at ``now``."""
        now = utc_now(now)
        with self._tables.lock:
            found = {key: self._tables.cache.get(key) for key in set(cache_keys)}
        return {
            key: _copied(entry)
            for key, entry in found.items()
            if entry is not None and is_unexpired(entry, now)
        }


def _copied(entry: CacheEntry) -> CacheEntry:
    """The entry with a result payload of its own (callers may change theirs)."""
    result = orjson.loads(orjson.dumps(entry.result))
    return CacheEntry(
        entry.cache_key, entry.run_id, entry.task_key, result, entry.created_at, entry.expires_at
    )


@contextmanager
def _stored_run(stored: StoredRun) -> Iterator[StoredRun]:
    yield stored
