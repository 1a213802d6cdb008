"""What a run's machine is told: the stimuli it handles (``RunMachine.handle``).

Plain data. The runtime makes them from what happened outside the machine: the drive
started, an attempt ended, the cache or the limits answered a question, time passed.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Started:
    """The drive begins: the run is (re)started by ``owner`` for ``reason``; ``reopen`` are the
    tasks a restart runs again; ``trace``: the drive's span context, to record (None: untraced)."""

    owner: str
    reason: str
    reopen: tuple[str, ...] = ()
    trace: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class TimePassed:
    """The machine's wake-up time came (or the runtime looked again): decide anew."""


@dataclass(frozen=True, slots=True)
class AttemptEnded:
    """An attempt this driver submitted ended.

    ``status`` is SUCCEEDED, FAILED or SKIPPED; ``payload`` the event payload the runtime
    made of it (attempt, duration, worker, and the result reference, the skip reason or the
    error); ``is_retryable``: the error matched the task's ``retry_on``; ``infrastructure``:
    the executor, not the task, failed; ``was_cancelled``: the body stopped because its run
    was cancelled.
    """

    task_key: str
    attempt: int
    status: str
    payload: Mapping[str, Any]
    is_retryable: bool = False
    infrastructure: bool = False
    was_cancelled: bool = False


@dataclass(frozen=True, slots=True)
class NotSubmitted:
    """A task could not be submitted: its inputs cannot be loaded (``error`` says why)."""

    task_key: str
    error: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class CacheHit:
    """The cache holds a result for the task's key."""

    cache_key: str
    result: Mapping[str, Any]
    source_run: str
    source_task: str


@dataclass(frozen=True, slots=True)
class CacheMiss:
    """The task has a cache key and the cache holds nothing for it: run it, then record it."""

    cache_key: str


@dataclass(frozen=True, slots=True)
class NotCached:
    """The task has no cache key for these inputs (``reason``), or was not looked up (None:
    its inputs cannot be loaded; its attempt meets that and fails saying why)."""

    reason: str | None = None


CacheAnswer = CacheHit | CacheMiss | NotCached


@dataclass(frozen=True, slots=True)
class CacheAnswered:
    """The answers to a ``LookUpCache``, by task key."""

    answers: Mapping[str, CacheAnswer]


@dataclass(frozen=True, slots=True)
class SlotsAnswered:
    """The answer to an ``AcquireSlots``: the tasks that got all of their slots."""

    granted: frozenset[str]


@dataclass(frozen=True, slots=True)
class MapMeasured:
    """The length of a dynamic map's inputs (``count``), or why they cannot be mapped."""

    task_key: str
    count: int | None = None
    error: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class CancelRequested:
    """Someone asked for the run to be cancelled (``request``: the run.cancel_requested payload)."""

    request: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class HandBack:
    """The driver stops driving the run for another to continue it (its worker is stopping):
    ``reason`` says why. Attempts in flight are abandoned: the next driver runs them again."""

    reason: str


@dataclass(frozen=True, slots=True)
class WorkStopped:
    """The executor stopped the run's work (or the grace for it passed)."""


@dataclass(frozen=True, slots=True)
class HookDelivered:
    """A hook's delivery ended: record it (``type`` is hook.sent or hook.failed; ``payload``
    names the hook and its trigger's seq)."""

    type: str
    payload: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Written:
    """The events handed out so far are in the log; ``head_hash`` is the last one's hash."""

    head_hash: str


Stimulus = (
    Started | TimePassed | AttemptEnded | NotSubmitted | CacheAnswered | SlotsAnswered
    | MapMeasured | CancelRequested | HandBack | WorkStopped | HookDelivered | Written
)  # fmt: skip
