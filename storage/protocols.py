"""The storage contracts the runtime, the API and replay depend on."""

from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from ..engine.core.events import Event, NewEvent
from ..engine.core.run_terms import DEFAULT_QUEUE
from ..results.refs import ResultRef
from .errors import StorageError
from .records import (
    CancelRequest,
    DecideFires,
    FireRecord,
    FlowUsage,
    RunAppend,
    RunIdFor,
    ScheduleRecord,
    TagUsage,
    TaskLogLine,
    WorkerRecord,
)

EventRow = tuple[int, str | None, str, Any, datetime | str, str, str]
"""One stored event of a run, undecoded: seq, task_key, type, payload (stored text, bytes,
or a mapping), ts (a datetime, or SQLite's stored text), prev_hash, hash."""


@dataclass(frozen=True, slots=True)
class RunSummary:
    """One row of the runs read model (rebuildable from the events)."""

    run_id: str
    flow: str
    state: str
    head_seq: int
    head_hash: str
    created_at: datetime
    updated_at: datetime
    owner: str | None
    lease_expires_at: datetime | None
    queue: str = DEFAULT_QUEUE  # as run.created recorded them (see ``storage.run_slots``)
    priority: int = 0
    max_concurrent_runs: int | None = None

    @property
    def id(self) -> str:
        """The run id, as ``Run.id`` names it (``run_id`` is the same value)."""
        return self.run_id


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """A cached task result: the latest ``task.succeeded`` recorded with this cache key."""

    cache_key: str
    run_id: str
    task_key: str
    result: dict[str, Any]  # the result payload: {"inline": value} or {"ref": ...}
    created_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class StoredResult:
    """An encoded task result ready to be put in the result store."""

    ref: str
    run_id: str
    task_key: str
    format: str  # "json", "pickle" or "pickle-buffers"
    data: bytes  # as stored (compressed, if its reference says so)


@dataclass(frozen=True, slots=True)
class StoredBytes:
    """A result's bytes as a result store holds them, with their signature (pickles only)."""

    data: bytes | memoryview  # a large local object's is writable: arrays loaded from it share it
    signature: str | None
    sha256: str | None = None  # the sha256 of ``data``, if it was computed as it was read


@dataclass(frozen=True, slots=True)
class StoredRun:
    """A run as stored: the read model's head (None without a runs row) and its rows."""

    run_id: str
    head: tuple[int, str] | None
    rows: Iterator[EventRow]


@runtime_checkable
class EventLog(Protocol):
    """An append-only, hash-chained log of run events."""

    def append(
        self, run_id: str, expected_seq: int, events: Sequence[NewEvent], owner: str | None = None,
        lease_ttl: float | None = None,
    ) -> list[Event]:  # fmt: skip
        """Append ``events`` after ``expected_seq`` in one transaction.

        ``expected_seq`` is the seq of the last event the caller has seen (0 for a new
        run, whose first event must be ``run.created``; with ``owner`` and ``lease_ttl``, the
        new run is created with ``owner``'s lease for ``lease_ttl`` s). Raises
        ``AppendConflict`` if another writer appended first, or, with ``owner``, if ``owner``
        no longer holds the run's lease (fencing a driver whose run was taken over).
        """
        ...

    def append_many(self, appends: Sequence[RunAppend]) -> list[list[Event] | StorageError]:
        """Append the batches of distinct runs after their heads (``expected_seq`` >= 1) in
        one transaction (a group commit). For each, in order: its events, or the error
        ``append`` would raise for it (``AppendConflict``, ``RunNotFound``, ``InvalidAppend``,
        ``PayloadNotJSON``): a refused batch writes nothing and fails no other run."""
        ...

    def read(self, run_id: str, after_seq: int = 0, upto_seq: int | None = None) -> list[Event]:
        """The events of a run with after_seq < seq <= upto_seq, in seq order."""
        ...

    def read_many(self, run_ids: Collection[str]) -> dict[str, list[Event]]:
        """The whole logs of those of ``run_ids`` that have events, by run id, in one read."""
        ...

    def runs(
        self, limit: int | None = None, now: datetime | None = None, *, flow: str | None = None,
        states: Collection[str] | None = None, since: datetime | None = None,
        until: datetime | None = None, before: str | None = None, queue: str | None = None,
    ) -> list[RunSummary]:  # fmt: skip
        """Summaries of runs, newest first, filtered by flow, states, creation time and queue;
        with ``before``, those listed after that run (``RunNotFound`` if it does not exist)."""
        ...

    def run_counts(
        self, now: datetime | None = None, *, flow: str | None = None,
        since: datetime | None = None, until: datetime | None = None, at_most: int | None = None,
        queue: str | None = None,
    ) -> dict[str, int]:  # fmt: skip
        """How many runs are in each state, filtered as ``runs``; with ``at_most``, a state with
        more runs counts ``at_most + 1``."""
        ...

    def last_drivers(self, run_ids: Collection[str]) -> dict[str, str]:
        """The driver (owner) that each run's latest ``run.running`` event names, by run id."""
        ...

    def run(self, run_id: str, now: datetime | None = None) -> RunSummary:
        """The summary of one run; raises ``RunNotFound``."""
        ...

    def read_rows(self, run_id: str, *, upto_head: bool = False) -> AbstractContextManager[StoredRun]:
        """The run's stored rows, undecoded and streamed in seq order, with its head, read in
        one snapshot (only the rows up to the head with ``upto_head``); ``RunNotFound`` if the
        run has neither a runs row nor events."""
        ...

    def run_ids(self) -> list[str]:
        """Every run id stored, with a runs row or only events, sorted."""
        ...


@runtime_checkable
class Leases(Protocol):
    """Who drives a run: an owner's lease on it, extended by heartbeats.

    Times are the caller's clock (``now``, default the current UTC time), so drivers
    and workers sharing a database need roughly synchronized clocks (as for event ts).
    """

    def take_over(self, run_id: str, owner: str, ttl: float, now: datetime | None = None) -> None:
        """Take the run's lease unconditionally (the old driver is gone); ``RunNotFound``."""
        ...

    def heartbeat(self, run_id: str, owner: str, ttl: float, now: datetime | None = None) -> bool:
        """Extend ``owner``'s lease by ``ttl`` s; False if ``owner`` no longer holds it (stand down)."""
        ...

    def heartbeat_many(
        self, run_ids: Collection[str], owner: str, ttl: float, now: datetime | None = None
    ) -> set[str]:
        """Extend ``owner``'s leases of ``run_ids`` by ``ttl`` s in one statement; the ids it
        still holds (it stands down from the others; an unknown run is not held)."""
        ...

    def release(self, run_id: str, owner: str) -> None:
        """Give the lease up if ``owner`` holds it (another owner's lease stays); ``RunNotFound``."""
        ...

    def hand_back(self, run_id: str, owner: str, now: datetime | None = None) -> None:
        """Give the lease up if ``owner`` holds it, for a claim of crashed runs to take the run
        at once (a run handed back: shown as it is, not CRASHED); ``RunNotFound``."""
        ...

    def release_many(self, run_ids: Collection[str], owner: str) -> None:
        """Give up the leases ``owner`` holds among ``run_ids`` in one statement (another
        owner's lease stays; an unknown run is passed over)."""
        ...

    def lapse_many(self, run_ids: Collection[str], owner: str, now: datetime | None = None) -> None:
        """Let the leases ``owner`` holds among ``run_ids`` expire at ``now``, in one statement:
        any worker may claim those runs at once (PostgreSQL wakes idle workers)."""
        ...

    def claim_crashed(
        self, owner: str, ttl: float, limit: int = 1, now: datetime | None = None,
        skip: Collection[str] = (), queues: Collection[str] = (DEFAULT_QUEUE,),
    ) -> list[str]:  # fmt: skip
        """Atomically take the leases of up to ``limit`` runs of ``queues`` a dead driver
        left, by priority then age, passing over the runs in ``skip`` and those whose flow
        has no free slot (see ``storage.run_slots``)."""
        ...

    def claim_scheduled(
        self, owner: str, ttl: float, limit: int = 1, now: datetime | None = None,
        skip: Collection[str] = (), queues: Collection[str] = (DEFAULT_QUEUE,),
    ) -> list[str]:  # fmt: skip
        """Atomically take the leases of up to ``limit`` SCHEDULED runs of ``queues`` nobody
        drives, by priority (higher first) then age, each with a slot of its flow if the
        flow is limited, passing over the runs in ``skip``."""
        ...


@runtime_checkable
class CacheIndex(Protocol):
    """Cached task results by cache key (a read model of ``task.succeeded`` events)."""

    def cache_lookup_many(
        self, cache_keys: Collection[str], now: datetime | None = None
    ) -> dict[str, CacheEntry]:
        """The latest unexpired entries of ``cache_keys`` that exist, by key."""
        ...


@runtime_checkable
class ConcurrencyLimits(Protocol):
    """Slots of limited tags, taken before a task is submitted and given back after."""

    def set_limit(self, tag: str, limit: int, now: datetime | None = None) -> None:
        """Cap the tasks tagged ``tag`` running at once at ``limit`` (0 pauses the tag); a
        ``tag`` named ``flow:NAME`` caps the runs of flow NAME instead."""
        ...

    def limits(self, now: datetime | None = None) -> list[TagUsage]:
        """Every tag with a limit: its limit, slots in use and tasks waiting (flows' limits,
        named ``flow:NAME``, are in ``flow_limits``)."""
        ...

    def flow_limits(
        self, now: datetime | None = None, flows: Collection[str] | None = None
    ) -> list[FlowUsage]:
        """Every flow (of ``flows``, if given) with a stored limit or unfinished runs that
        recorded one, by name: its limits, runs holding a slot and runs waiting."""
        ...

    def try_acquire_many(
        self, run_id: str, tasks: Sequence[tuple[str, Iterable[str]]], owner: str,
        now: datetime | None = None,
    ) -> set[str]:  # fmt: skip
        """Take a slot of every limited tag of each task or none, in order; returns the keys
        of the tasks that may start (the others wait)."""
        ...

    def release(self, run_id: str, *task_keys: str) -> None:
        """Give back these tasks' slots (after their terminal or retrying event is recorded)."""
        ...

    def release_run(self, run_id: str, owner: str | None = None) -> None:
        """Give back every slot the run holds (the drive ended)."""
        ...


@runtime_checkable
class ResultStore(Protocol):
    """Durable storage of encoded task results."""

    def put_many(self, results: Sequence[StoredResult]) -> None:
        """Store results (pickles are signed); committed when this returns."""
        ...

    def read(self, ref: str) -> StoredBytes:
        """A result's bytes as stored, with their signature; raises ``ResultNotFound``."""
        ...

    def decode(self, ref: str, format: str, stored: StoredBytes, compression: str | None = None) -> Any:
        """Decode checked bytes (compressed with ``compression``): a pickle whose signature does
        not match this store's key is refused (``ResultRefused``); one that cannot be loaded
        here raises ``ResultNotLoadable``."""
        ...

    def sign_reference(self, sha256: str) -> str:
        """The signature of a pickle in an object store, over its sha256 (recorded in its event)."""
        ...

    def check_reference(self, ref: ResultRef, signature: str | None) -> None:
        """Refuse (``ResultRefused``) a pickle in an object store whose signature over its
        sha256 does not match."""
        ...

    def decode_referenced(self, ref: ResultRef, data: bytes | memoryview, signature: str | None) -> Any:
        """Decode an object store's checked bytes (a pickle's signature over its sha256 must
        match: ``ResultRefused``)."""
        ...


@runtime_checkable
class LeasedLog(EventLog, Leases, CacheIndex, Protocol):
    """The event log with its runs' leases and its cache index: one store, one transaction."""


@runtime_checkable
class CancelSource(Protocol):
    """Where a driver reads the requests to cancel its run."""

    def get(self, run_id: str) -> CancelRequest | None:
        """The standing request to cancel the run, or None."""
        ...

    def get_many(self, run_ids: Collection[str]) -> dict[str, CancelRequest]:
        """The standing requests to cancel any of ``run_ids``, by run id (one query)."""
        ...

    def discard(self, run_id: str) -> None:
        """Delete the run's request (it has been acted on, or the run has ended)."""
        ...


@runtime_checkable
class CancelRequests(CancelSource, Protocol):
    """Requests to cancel runs, and the leases of undriven runs taken to cancel them."""

    def request(
        self, run_id: str, requested_by: str, reason: str | None = None, now: datetime | None = None
    ) -> CancelRequest:
        """Ask for the run to be cancelled; returns the request that stands (the first one)."""
        ...

    def claim_undriven(self, run_id: str, owner: str, ttl: float, now: datetime | None = None) -> bool:
        """Take the run's lease if no live driver holds it; True if taken."""
        ...


@runtime_checkable
class Schedules(Protocol):
    """Schedules and the fire times claimed from them."""

    def add(self, record: ScheduleRecord) -> None:
        """Store a new schedule; ``ScheduleExists`` if the name is taken."""
        ...

    def get(self, name: str) -> ScheduleRecord:
        """The schedule named ``name``; raises ``ScheduleNotFound``."""
        ...

    def schedules(self) -> list[ScheduleRecord]:
        """Every schedule, by name."""
        ...

    def set_paused(self, name: str, is_paused: bool, now: datetime | None = None) -> None:
        """Pause or resume a schedule (resuming skips the paused time)."""
        ...

    def set_parameters(self, name: str, parameters: dict[str, Any], now: datetime | None = None) -> None:
        """Replace a schedule's parameters (as recorded)."""
        ...

    def remove(self, name: str) -> None:
        """Delete a schedule and its fire records (the runs stay); ``ScheduleNotFound``."""
        ...

    def claim_due(
        self, name: str, decide: DecideFires,
        run_id_for: RunIdFor, now: datetime | None = None,
    ) -> list[FireRecord]:  # fmt: skip
        """With the schedule locked, claim the fire times ``decide`` returns."""
        ...

    def claim(
        self, name: str, fire_times: Iterable[datetime], run_id_for: RunIdFor,
        now: datetime | None = None,
    ) -> list[FireRecord]:  # fmt: skip
        """Claim these fire times (a backfill), skipping those claimed before."""
        ...

    def fires(
        self, name: str | None = None, *, is_pending: bool | None = None, limit: int | None = None
    ) -> list[FireRecord]:
        """Claimed fire times, newest first: of one schedule or all, pending or done."""
        ...

    def last_fires(self) -> dict[str, FireRecord]:
        """The latest claimed fire time of each schedule, by schedule name."""
        ...

    def mark_created(self, fire: FireRecord, now: datetime | None = None) -> None:
        """Record that the run of ``fire`` exists."""
        ...

    def record_error(self, name: str, error: str | None) -> None:
        """Keep the last error of creating a run of the schedule (None clears it)."""
        ...


@runtime_checkable
class TaskLogSink(Protocol):
    """Where a run's driver puts the output its outcomes carried."""

    def put_logs(self, lines: Sequence[TaskLogLine]) -> None:
        """Store a batch of lines in one transaction."""
        ...


@runtime_checkable
class TaskLogs(TaskLogSink, Protocol):
    """Captured task output (prints, log records); not hash-chained."""

    def read_logs(self, run_id: str, task_key: str | None = None) -> list[TaskLogLine]:
        """A run's lines (or one task's), ordered by task key, attempt and seq."""
        ...


@runtime_checkable
class Workers(Protocol):
    """The registry of worker processes and their heartbeats."""

    def register(
        self, name: str, host: str, pid: int, now: datetime | None = None, *,
        max_runs: int | None = None, queues: Sequence[str] = (DEFAULT_QUEUE,),
    ) -> None:  # fmt: skip
        """Record ``name`` as running since ``now``, driving up to ``max_runs`` runs at once
        from ``queues``."""
        ...

    def heartbeat(
        self, name: str, runs_driven: int = 0, now: datetime | None = None, *, in_flight: int | None = None
    ) -> bool:
        """Stamp the heartbeat, add ``runs_driven`` and set the runs ``in_flight`` (if given);
        False if ``name`` is not registered."""
        ...

    def mark_stopped(self, name: str, now: datetime | None = None) -> None:
        """Record that ``name`` exited cleanly."""
        ...

    def workers(self) -> list[WorkerRecord]:
        """Every registered worker, most recently started first."""
        ...
