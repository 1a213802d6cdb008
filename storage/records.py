"""The records the storage ports take and return, whichever backend stores them."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..engine.core.events import NewEvent


@dataclass(frozen=True, slots=True)
class RunAppend:
    """One run's batch of an ``append_many``: ``events`` after ``expected_seq``, fenced by
    ``owner`` (as ``EventLog.append`` takes them). ``head``, if the writer knows it, is the
    hash and ts of the event at ``expected_seq``: a backend may then chain the batch without
    reading the head first (if the head is not so, it reads it, as for a batch without).
    With ``release``, ``owner`` gives the run's lease up once the batch is appended, in the
    same transaction (as ``Leases.release_many``: the driver's last batch of an ended run)."""

    run_id: str
    expected_seq: int
    events: Sequence[NewEvent]
    owner: str | None = None
    head: tuple[str, datetime] | None = None
    release: bool = False


@dataclass(frozen=True, slots=True)
class CancelRequest:
    """Who asked to cancel a run, when, and why."""

    run_id: str
    requested_at: datetime
    requested_by: str
    reason: str | None


@dataclass(frozen=True, slots=True)
class ScheduleRecord:
    """One schedule as stored."""

    name: str
    flow_ref: str
    parameters: dict[str, Any]
    cron: str | None
    interval_seconds: int | None
    tz: str
    fire_time_param: str | None
    catchup: str
    is_paused: bool
    created_at: datetime
    updated_at: datetime
    considered_until: datetime
    last_error: str | None = None
    queue: str | None = None  # of its runs (None: the flow's own)
    priority: int | None = None


@dataclass(frozen=True, slots=True)
class FireRecord:
    """One claimed fire time of a schedule and the run it gets."""

    schedule: str
    fire_time: datetime
    run_id: str
    claimed_at: datetime
    run_created_at: datetime | None

    @property
    def is_pending(self) -> bool:
        """True while the run of this fire time is still to be created."""
        return self.run_created_at is None


DecideFires = Callable[[ScheduleRecord], Sequence[datetime]]
"""Given the locked schedule, the fire times to claim now."""
RunIdFor = Callable[[ScheduleRecord, datetime], str]
"""The run id of a schedule's fire time."""
MAX_ERROR_LENGTH = 2000
"""The characters of a schedule's last error that are kept."""


@dataclass(frozen=True, slots=True)
class TaskLogLine:
    """One stored line of a task attempt's output; ``seq`` orders it within the attempt."""

    run_id: str
    task_key: str
    attempt: int
    seq: int
    ts: datetime
    stream: str  # "stdout", "stderr" or "log"
    message: str
    level: str | None = None  # the record's level name, for "log" lines
    logger: str | None = None  # the record's logger name, for "log" lines


def stored_message(message: str) -> str:
    """A task log message as every backend stores it: PostgreSQL text cannot hold NUL
    characters, so they are shown instead of failing the batch."""
    return message.replace("\x00", "\\x00")


RUNNING, STOPPED = "running", "stopped"
MIN_HEALTHY_AGE = 60.0
"""A running worker whose heartbeat is younger than this is healthy, whatever its poll."""


@dataclass(frozen=True, slots=True)
class WorkerRecord:
    """One worker of the registry."""

    name: str
    host: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    runs_driven: int
    state: str  # "running" or "stopped"
    max_runs: int | None = None  # how many runs it drives at once (None: not recorded)
    queues: tuple[str, ...] | None = None  # the queues it takes runs from (None: not recorded)
    in_flight: int = 0  # the runs it drove at its last heartbeat

    def heartbeat_age(self, now: datetime) -> float:
        """Seconds since the last heartbeat."""
        return max(0.0, (now - self.heartbeat_at).total_seconds())

    def is_healthy(self, now: datetime, poll_interval: float = 5.0) -> bool:
        """Running, and beat within ``max(3 * poll_interval, 60 s)``."""
        limit = max(3 * poll_interval, MIN_HEALTHY_AGE)
        return self.state == RUNNING and self.heartbeat_age(now) <= limit


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


@dataclass(frozen=True, slots=True)
class FlowUsage:
    """A flow whose runs are limited: the stored ``setting`` (``flow:NAME``, which wins) and
    the smallest limit its unfinished runs recorded, the runs holding a slot now and those
    waiting for one: SCHEDULED, RUNNING or PENDING runs nobody holds (submitted, left by a
    driver that died, or handed back; see ``storage.run_slots``)."""

    flow: str
    setting: int | None
    recorded: int | None
    in_use: int
    waiting: int

    @property
    def limit(self) -> int | None:
        """The cap in force: the setting, else the recorded limit."""
        return self.setting if self.setting is not None else self.recorded
