"""Events: the facts appended to a run's log, and the closed set of their types.

Payloads are JSON objects. What each type carries (all keys optional unless noted):

- ``run.created``: flow, flow_ref, parameters, graph, graph_hash, state ("PENDING" or
  "SCHEDULED"), engine_version, timeout, queue, priority, max_concurrent_runs (see
  ``run_terms``: an older log without them reads as queue "default", priority 0, no limit);
  trace (as in ``run.running``: the span the run's drives nest under, when tracing was on)
- ``run.running``: owner (the driver that took the run), reason; trace (the drive's
  OpenTelemetry span, ``{"trace_id": 32 hex, "span_id": 16 hex}``, when tracing was on)
- ``run.cancel_requested``: reason, requested_by, requested_at (UTC ISO-8601); changes no
  state: the driver then cancels the run's tasks and records ``run.cancelled``
- ``run.handed_back``: reason, owner (the driver that let go of the run); only while RUNNING,
  changes no state and leaves the run without a driver: the next one records ``run.running``
  and starts a new attempt of each task still RUNNING
- ``run.succeeded`` / ``run.failed`` / ``run.cancelled`` / ``run.crashed``: reason
- ``task.running``: attempt (required: greater than the task's last, even across restarts)
- ``task.succeeded``: attempt, result (a result payload), duration (seconds)
- ``task.cached``: result, cache_key, source_run, source_task
- ``task.retrying``: attempt, error, retry_at (required: when the next attempt is due, ISO-8601
  with a UTC offset), delay (seconds); infrastructure (true: the executor lost the attempt, e.g.
  its Dask worker died while the body ran; worker names it)
- ``task.failed``: attempt, error ({"type", "message", "traceback"})
- ``task.upstream_failed``: upstream (list of task keys)
- ``task.skipped``: reason
- ``task.mapped``: count (required: the number of children ``key[0]..key[count-1]``)
- ``task.cancelled``: reason

An attempt's ending event (succeeded, failed, retrying, skipped, cancelled) also records where
it ran (worker) and, if its body ran, when: started_at (ISO-8601 with a UTC offset, on the
clock where it ran) and duration (seconds).
- ``task.pending``: reason (a restart re-opening the task: "restart"; a new drive running
  again a task whose result was not persisted: "result not persisted", with needed_by, the
  tasks that need it, and flow_result when the flow returns it; a task that waited for such a
  result, moved back from RUNNING or RETRYING: "input not persisted", with upstream);
  superseded (a mapped task re-opened to expand again: its number of children, which leave
  the run's tasks and keep their attempt numbers for the new expansion)
- ``hook.sent`` / ``hook.failed``: hook (its name), trigger_seq (the seq of the event that
  called it), attempts, reason (hook.failed: why); change no state, and may follow the
  run's terminal event (see ``engine.hooks``)

A result payload is ``{"inline": value}`` for a small JSON value, or
``{"ref": id, "format": "json" | "pickle" | "pickle-buffers", "size": n, "sha256": hex}``
for one kept in the result store (with ``"compression": "zstd"`` if it is compressed: size
and sha256 are those of the stored bytes; with ``"store"``: an object store's URL), or
``{"persisted": false, "format": ..., "size": n, "sha256": hex}`` for one that lived only in
executor memory (``persist_result=False``: no object was stored).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

from .states import RunState, TaskState


class EventType(StrEnum):
    """Every event type ledgerflow writes; a stored type outside this set is corrupt."""

    RUN_CREATED = "run.created"
    RUN_RUNNING = "run.running"
    RUN_SUCCEEDED = "run.succeeded"
    RUN_FAILED = "run.failed"
    RUN_CANCELLED = "run.cancelled"
    RUN_CRASHED = "run.crashed"
    RUN_CANCEL_REQUESTED = "run.cancel_requested"
    RUN_HANDED_BACK = "run.handed_back"
    TASK_PENDING = "task.pending"
    TASK_RUNNING = "task.running"
    TASK_RETRYING = "task.retrying"
    TASK_SUCCEEDED = "task.succeeded"
    TASK_CACHED = "task.cached"
    TASK_FAILED = "task.failed"
    TASK_UPSTREAM_FAILED = "task.upstream_failed"
    TASK_SKIPPED = "task.skipped"
    TASK_CANCELLED = "task.cancelled"
    TASK_MAPPED = "task.mapped"
    HOOK_SENT = "hook.sent"
    HOOK_FAILED = "hook.failed"


HOOK_RECORDS: frozenset[str] = frozenset({EventType.HOOK_SENT, EventType.HOOK_FAILED})
"""The events that record a hook's delivery."""
_STATELESS = frozenset(
    {EventType.RUN_CREATED, EventType.RUN_CANCEL_REQUESTED, EventType.RUN_HANDED_BACK, *HOOK_RECORDS}
)


def enters_run_state(event_type: str) -> bool:
    """Whether a run event of this type moves the run to a state (see ``entered_run_state``)."""
    return event_type not in _STATELESS


def entered_task_state(event_type: str) -> TaskState:
    """The task state an event of this type enters."""
    return TaskState(event_type[5:].upper())


def entered_run_state(event_type: str) -> RunState:
    """The run state an event of this type enters (not for run.created,
    run.cancel_requested or run.handed_back, which enter none)."""
    return RunState(event_type[4:].upper())


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event about to be appended: the log assigns seq and the hash chain.

    ``ts`` is set by the run machine's time (so its own fold sees what is recorded);
    when None the log stamps the current UTC time.
    """

    task_key: str | None
    type: str
    payload: Mapping[str, Any]
    ts: datetime | None = None


class Event(NamedTuple):
    """One recorded fact of a run's log.

    An immutable record compared by value; a named tuple because reading a log builds
    one per row, and a frozen dataclass costs ten times as much to build.
    """

    run_id: str
    seq: int
    task_key: str | None
    type: str
    payload: Mapping[str, Any]
    ts: datetime
    prev_hash: str
    hash: str


def unpersisted_result(format: str, size: int, sha256: str) -> dict[str, Any]:
    """The result payload of a value kept only in executor memory: its encoding's format,
    size and sha256, and no stored object."""
    return {"persisted": False, "format": format, "size": size, "sha256": sha256}


def is_persisted(result: Mapping[str, Any] | None) -> bool:
    """Whether a recorded result payload can be read back (inline or stored); None (no
    result) counts as persisted: there is nothing to lose."""
    return result is None or result.get("persisted") is not False
