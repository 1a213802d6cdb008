"""The storage contracts the scheduler and replay depend on."""

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from ..engine.events import Event, NewEvent


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
    format: str  # "json" or "pickle"
    data: bytes


@dataclass(frozen=True, slots=True)
class WaitingTask:
    """A task waiting for a slot of a limited tag, since ``since``."""

    run_id: str
    task_key: str
    since: datetime


@dataclass(frozen=True, slots=True)
class TagUsage:
    """A tag's concurrency limit, the slots its tasks hold now and the tasks waiting for one."""

    tag: str
    limit: int
    in_use: int
    waiting: tuple[WaitingTask, ...]


class EventLog(Protocol):
    """An append-only, hash-chained log of run events."""

    def append(
        self, run_id: str, expected_seq: int, events: Sequence[NewEvent], owner: str | None = None
    ) -> list[Event]:
        """Append ``events`` after ``expected_seq`` in one transaction.

        ``expected_seq`` is the seq of the last event the caller has seen (0 for a new
        run, whose first event must be ``run.created``). Raises ``AppendConflict`` if
        another writer appended first, or, with ``owner``, if ``owner`` no longer holds
        the run's lease (fencing a driver whose run was taken over).
        """
        ...

    def read(self, run_id: str, after_seq: int = 0, upto_seq: int | None = None) -> list[Event]:
        """The events of a run with after_seq < seq <= upto_seq, in seq order."""
        ...

    def runs(self, limit: int | None = None) -> list[RunSummary]:
        """Summaries of runs, newest first."""
        ...

    def run(self, run_id: str) -> RunSummary:
        """The summary of one run; raises ``RunNotFound``."""
        ...


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

    def release(self, run_id: str, owner: str) -> None:
        """Give the lease up if ``owner`` holds it (another owner's lease stays); ``RunNotFound``."""
        ...

    def claim_crashed(
        self, owner: str, ttl: float, limit: int = 1, now: datetime | None = None,
        skip: Collection[str] = (),
    ) -> list[str]:  # fmt: skip
        """Atomically take the leases of up to ``limit`` runs a dead driver left, oldest
        first, passing over the runs in ``skip``."""
        ...

    def claim_scheduled(
        self, owner: str, ttl: float, limit: int = 1, now: datetime | None = None,
        skip: Collection[str] = (),
    ) -> list[str]:  # fmt: skip
        """Atomically take the leases of up to ``limit`` SCHEDULED runs nobody drives,
        oldest first, passing over the runs in ``skip``."""
        ...


class CacheIndex(Protocol):
    """Cached task results by cache key (a read model of ``task.succeeded`` events)."""

    def cache_lookup_many(
        self, cache_keys: Collection[str], now: datetime | None = None
    ) -> dict[str, CacheEntry]:
        """The latest unexpired entries of ``cache_keys`` that exist, by key."""
        ...


class ConcurrencyLimits(Protocol):
    """Slots of limited tags, taken before a task is submitted and given back after."""

    def try_acquire_many(
        self, run_id: str, tasks: Sequence[tuple[str, Iterable[str]]], owner: str
    ) -> set[str]:
        """Take a slot of every limited tag of each task or none, in order; returns the keys
        of the tasks that may start (the others wait)."""
        ...

    def release(self, run_id: str, *task_keys: str) -> None:
        """Give back these tasks' slots (after their terminal or retrying event is recorded)."""
        ...

    def release_run(self, run_id: str, owner: str | None = None) -> None:
        """Give back every slot the run holds (the drive ended)."""
        ...


class ResultStore(Protocol):
    """Durable storage of encoded task results."""

    def put_many(self, results: Sequence[StoredResult]) -> None:
        """Store results (pickles are signed); committed when this returns."""
        ...

    def get(self, ref: str) -> Any:
        """Load and decode a result; a pickle whose signature does not match is refused."""
        ...
