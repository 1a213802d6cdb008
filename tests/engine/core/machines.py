"""Machines built from event logs, and the commands they are expected to hand out.

The machine stamps every event it hands out with the ``now`` of its ``handle`` call, so
an expected event is built with that time too (``NOW`` unless a test says otherwise).
"""

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from ledgerflow.engine.core.cache_notes import recorded_cache_notes
from ledgerflow.engine.core.commands import Append
from ledgerflow.engine.core.events import Event, NewEvent
from ledgerflow.engine.core.fold import fold
from ledgerflow.engine.core.graph import Graph, TaskNode, Trigger
from ledgerflow.engine.core.machine import RunMachine
from ledgerflow.engine.core.policy import TaskPolicy
from ledgerflow.engine.core.stimuli import AttemptEnded, Started
from ledgerflow.engine.retry import RetryPolicy

from ..builders import LogBuilder

NOW = datetime(2026, 1, 1, 1, tzinfo=UTC)
"""When the tests' machines handle their stimuli (after every event a ``LogBuilder`` stamps)."""
OWNER = "driver-1"
START = Started(OWNER, "start")
PLAIN = TaskPolicy(retry=RetryPolicy())


def later(seconds: float) -> datetime:
    """``NOW`` plus some seconds."""
    return NOW + timedelta(seconds=seconds)


def iso(when: datetime) -> str:
    """A time as the machine records it in a payload."""
    return when.isoformat(timespec="microseconds")


def graph_of(*nodes: TaskNode) -> Graph:
    """A graph of these nodes, in this order."""
    return Graph(nodes={node.key: node for node in nodes})


def node(
    key: str,
    *upstream: str,
    trigger: Trigger = Trigger.ALL_SUCCESSFUL,
    map_over: tuple[str, ...] | None = None,
) -> TaskNode:
    """A node whose task is named as its key."""
    return TaskNode(key, key, tuple(upstream), trigger, map_over)


def machine_from(events: Sequence[Event], policies: Mapping[str, TaskPolicy], **options: Any) -> RunMachine:
    """A new driver's machine for the run ``events`` record, built as the runtime builds it
    (the fold of the log; with a cache, the cache notes of its open attempts); every task
    the ``PLAIN`` policy unless ``policies`` says otherwise; ``options`` as ``RunMachine``
    takes them."""
    view = fold(events)
    chosen = {key: PLAIN for key in view.graph.nodes}
    chosen.update(policies)
    if options.get("has_cache"):
        options.setdefault("cache_notes", recorded_cache_notes(events))
    return RunMachine(view, chosen, **options)


def machine_of(
    log: LogBuilder | Graph,
    policies: Mapping[str, TaskPolicy] | None = None,
    **options: Any,
) -> RunMachine:
    """A machine for the run a log (or a fresh run of a graph) records (see ``machine_from``)."""
    events = (log if isinstance(log, LogBuilder) else LogBuilder(log)).events
    return machine_from(events, policies or {}, **options)


def started(
    log: LogBuilder | Graph, policies: Mapping[str, TaskPolicy] | None = None, **options: Any
) -> RunMachine:
    """A machine that has handled ``START`` at ``NOW`` (its commands dropped)."""
    machine = machine_of(log, policies, **options)
    machine.handle([START], NOW)
    return machine


def event(
    task_key: str | None, type_: str, payload: Mapping[str, Any] | None = None, at: datetime = NOW
) -> NewEvent:
    """An event as the machine hands it out at ``at``."""
    return NewEvent(task_key, type_, payload or {}, at)


def appended(*events: NewEvent) -> Append:
    """The ``Append`` of these events."""
    return Append(tuple(events))


def running_run(at: datetime = NOW) -> NewEvent:
    """The run.running a ``START`` records."""
    return event(None, "run.running", {"owner": OWNER, "reason": "start"}, at)


def running(key: str, attempt: int = 1, at: datetime = NOW, **extra: Any) -> NewEvent:
    """A task.running of ``attempt``."""
    return event(key, "task.running", {"attempt": attempt, **extra}, at)


def succeeded_payload(attempt: int = 1, value: Any = None) -> dict[str, Any]:
    """What the runtime reports of a successful attempt."""
    return {"attempt": attempt, "duration": 0.5, "result": {"inline": value}}


def failed_payload(attempt: int = 1, kind: str = "builtins.OSError") -> dict[str, Any]:
    """What the runtime reports of a failed attempt."""
    return {"attempt": attempt, "duration": 0.5, "error": {"type": kind, "message": "down", "traceback": ""}}


def success(key: str, attempt: int = 1, value: Any = None) -> AttemptEnded:
    """A successful attempt."""
    return AttemptEnded(key, attempt, "SUCCEEDED", succeeded_payload(attempt, value))


def failure(key: str, attempt: int = 1, **flags: bool) -> AttemptEnded:
    """A failed attempt (``is_retryable``, ``infrastructure``, ``was_cancelled`` as given)."""
    return AttemptEnded(key, attempt, "FAILED", failed_payload(attempt), **flags)


def skip(key: str, attempt: int = 1, reason: str = "nothing to do") -> AttemptEnded:
    """An attempt that skipped its task."""
    return AttemptEnded(key, attempt, "SKIPPED", {"attempt": attempt, "duration": 0.5, "reason": reason})
