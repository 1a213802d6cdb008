"""What an executor is asked to run (an invocation) and what it gives back (an outcome)."""

from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from ..results.codec import EncodedResult
from ..results.refs import ResultRef
from ..results.sinks import IN_DATABASE, ResultSink


@dataclass(frozen=True, slots=True)
class Upstream:
    """A placeholder, inside an invocation's arguments, for an upstream task's result.

    ``index`` selects one element of a list result (a child of a dynamic map).
    Placeholders may appear as arguments or nested in any container ``executors.structure``
    walks (lists, tuples, dicts, sets, named tuples, dataclasses...).
    """

    task_key: str
    index: int | None = None


@dataclass(frozen=True, slots=True)
class Value:
    """An input whose value the driver already holds (e.g. loaded from the result store)."""

    value: Any


@dataclass(frozen=True, slots=True)
class Stored:
    """An input the executor reads from an object store itself, where the task runs (e.g. a
    resumed run's upstream), checked against its ``reference`` (size and sha256)."""

    reference: ResultRef
    options: Mapping[str, Any] = field(default_factory=dict, repr=False)  # fsspec's, never shown


# For each upstream task key named by an ``Upstream`` placeholder: a future this executor
# returned earlier (its data stays where it is), a ``Value``, or a ``Stored`` result.
Input = Future["Outcome"] | Value | Stored


@dataclass(frozen=True, slots=True)
class Invocation:
    """One attempt of one task, ready to run."""

    run_id: str
    task_key: str
    attempt: int
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    inputs: Mapping[str, Input] = field(default_factory=dict)
    timeout: float | None = None
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    resources: Mapping[str, float] = field(default_factory=dict)
    masked: tuple[str, ...] = ()  # texts (the run's secrets) shown as *** where output is echoed
    sink: ResultSink = IN_DATABASE  # where the result goes (the database: back to the driver)
    trace: Mapping[str, str] | None = None  # the attempt's span context (W3C carrier); None: untraced

    @property
    def idempotency_key(self) -> str:
        """A key unique to this attempt, for making side effects idempotent."""
        return f"{self.run_id}:{self.task_key}:{self.attempt}"


class OutcomeStatus(StrEnum):
    """How an attempt ended."""

    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """A failure, described in plain data so it can cross processes and enter the log."""

    type: str  # qualified exception class name, e.g. "builtins.ValueError"
    message: str
    traceback: str

    def to_payload(self) -> dict[str, str]:
        """The error as an event payload fragment."""
        return {"type": self.type, "message": self.message, "traceback": self.traceback}


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line a task attempt printed or logged, captured where it ran.

    ``stream`` is "stdout", "stderr" or "log" (a ``logging`` record, with its ``level``
    name and ``logger`` name); ``ts`` is timezone-aware UTC.
    """

    ts: datetime
    stream: str
    message: str
    level: str | None = None
    logger: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one attempt. Executors never raise: every ending is an outcome.

    ``started_at`` and ``finished_at`` are when the body started and ended, on the clock
    where it ran, if ``has_run``; else (the body never started: its inputs or function could
    not be had, it was cancelled first, its worker was lost) when the executor sent and gave
    up the attempt.
    """

    task_key: str
    attempt: int
    status: OutcomeStatus
    started_at: datetime
    finished_at: datetime
    result: EncodedResult | None = None  # the encoded result, when it travels to the driver
    reference: ResultRef | None = None  # or where the executor stored it (or that it did not)
    value: Any = field(default=None, repr=False, compare=False)  # a kept result's value, in memory
    length: int | None = None  # a kept list or tuple's length (a dynamic map's, over it)
    error: ErrorInfo | None = None
    is_retryable: bool = False  # the error matched the invocation's retry_on
    infrastructure: bool = False  # the executor, not the task, failed (see INFRASTRUCTURE_FAILURES)
    skip_reason: str | None = None
    worker: str | None = None  # where the attempt ran (host:pid or a Dask worker address)
    logs: tuple[LogLine, ...] = ()  # what the body printed and logged, in order (bounded)
    has_run: bool = False  # the body started (its times were measured where it ran)

    def light(self) -> "Outcome":
        """This outcome without the in-memory value of a stored result (what the driver needs)."""
        return self if self.value is None else replace(self, value=None)

    @property
    def duration(self) -> float:
        """Seconds the attempt ran (its body, if ``has_run``)."""
        return (self.finished_at - self.started_at).total_seconds()
