"""The tables of an in-memory store, behind one lock, and the stores named in ``memory://`` URLs.

``memory://`` opens a fresh private store; ``memory://NAME`` the store of that name, shared by
every open of it in this process (an engine and a worker in one test see the same runs). A
named store lives as long as the process. Every read and write of the tables holds ``lock``:
the scheduler, a worker's heartbeat thread and hook threads call the stores concurrently.
"""

import threading
from dataclasses import dataclass, field, replace
from datetime import datetime

from ..protocols import CacheEntry, RunSummary
from ..records import CancelRequest, FireRecord, ScheduleRecord, TaskLogLine, WorkerRecord

SCHEME = "memory://"


def is_memory_url(url: str) -> bool:
    """True for a ``memory://`` URL (in-process storage, no database)."""
    return url.startswith(SCHEME)


EventTuple = tuple[int, str | None, str, str, datetime, str, str]
"""A stored event: seq, task_key, type, payload (its canonical text), ts, prev_hash, hash (an
``EventRow`` as the SQL stores give it)."""


@dataclass(frozen=True, slots=True)
class Slot:
    """A slot of a limited tag that a task holds, or waits for (``at``: since when)."""

    tag: str
    run_id: str
    task_key: str
    owner: str
    at: datetime


@dataclass(frozen=True, slots=True)
class StoredResultRow:
    """An encoded result as stored, with its signature (pickles only)."""

    run_id: str
    task_key: str
    format: str
    data: bytes
    signature: str | None


@dataclass(slots=True)
class MemoryTables:
    """Everything one in-memory store holds; hold ``lock`` to read or write any of it."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    runs: dict[str, RunSummary] = field(default_factory=dict)  # the runs read model
    events: dict[str, list[EventTuple]] = field(default_factory=dict)
    cache: dict[str, CacheEntry] = field(default_factory=dict)
    results: dict[str, StoredResultRow] = field(default_factory=dict)
    limits: dict[str, int] = field(default_factory=dict)
    slots: list[Slot] = field(default_factory=list)
    waiting: list[Slot] = field(default_factory=list)
    cancel_requests: dict[str, CancelRequest] = field(default_factory=dict)
    schedules: dict[str, ScheduleRecord] = field(default_factory=dict)
    fires: dict[tuple[str, datetime], FireRecord] = field(default_factory=dict)
    task_logs: list[TaskLogLine] = field(default_factory=list)
    workers: dict[str, WorkerRecord] = field(default_factory=dict)

    def lease(self, run: RunSummary, owner: str | None, expires: datetime | None) -> None:
        """Give the run's lease to ``owner`` until ``expires`` (None and None: to nobody)."""
        self.runs[run.run_id] = replace(run, owner=owner, lease_expires_at=expires)

    def is_held(self, run_id: str, owner: str, now: datetime) -> bool:
        """True while ``owner`` holds the run's lease at ``now`` (its slots count)."""
        run = self.runs.get(run_id)
        return (
            run is not None
            and run.owner == owner
            and run.lease_expires_at is not None
            and run.lease_expires_at > now
        )


_NAMED: dict[str, MemoryTables] = {}
_NAMED_LOCK = threading.Lock()


def open_tables(url: str) -> MemoryTables:
    """The tables of a ``memory://`` URL: fresh for ``memory://``, shared for ``memory://NAME``."""
    if not is_memory_url(url):
        raise ValueError(f"{url!r} is not a memory:// URL")
    name = url[len(SCHEME) :]
    if not name:
        return MemoryTables()
    with _NAMED_LOCK:
        return _NAMED.setdefault(name, MemoryTables())
