"""Counting what the log says as this process appends it: the events it wrote move the
process's metrics, so they say exactly what the log says.

- an event that ends a task's attempt (``task.succeeded``, ``task.retrying``, ``task.failed``,
  ``task.skipped``, ``task.cancelled`` whose payload carries an ``attempt``) and a
  ``task.cached`` count one attempt of the task's name, by the task state entered; the
  ``duration`` the ending event records is observed;
- ``run.succeeded`` / ``run.failed`` / ``run.cancelled`` / ``run.crashed`` count a finished run;
- a run's first ``run.running`` observes its wait since ``run.created``;
- ``hook.sent`` / ``hook.failed`` count a hook delivery.

Labels name the flow and the task's name (never a mapped key such as ``train[3]``, so that
the number of series stays bounded). Both come from the run's ``run.created``: the one this
process appended or read (a worker reads the logs of the runs it claims), else read once.
"""

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .core.events import Event, EventType

if TYPE_CHECKING:
    from .metrics import ProcessMetrics

MAX_RUNS_KNOWN = 10_000
"""Runs whose names are kept at once; an ended run is forgotten, the oldest first past this."""

_ATTEMPT_ENDINGS = {
    EventType.TASK_SUCCEEDED.value: "SUCCEEDED",
    EventType.TASK_RETRYING.value: "RETRYING",
    EventType.TASK_FAILED.value: "FAILED",
    EventType.TASK_SKIPPED.value: "SKIPPED",
    EventType.TASK_CANCELLED.value: "CANCELLED",
}
_RUN_ENDINGS = {
    EventType.RUN_SUCCEEDED.value: "SUCCEEDED",
    EventType.RUN_FAILED.value: "FAILED",
    EventType.RUN_CANCELLED.value: "CANCELLED",
    EventType.RUN_CRASHED.value: "CRASHED",
}
_HOOKS = {EventType.HOOK_SENT.value: "sent", EventType.HOOK_FAILED.value: "failed"}
_CREATED = EventType.RUN_CREATED.value
_RUNNING = EventType.RUN_RUNNING.value
_CACHED = EventType.TASK_CACHED.value
_COUNTED = frozenset({*_ATTEMPT_ENDINGS, *_RUN_ENDINGS, *_HOOKS, _RUNNING, _CACHED})

LogReader = Callable[[str, int], list[Event]]
"""Reads a run's events up to a seq (``EventLog.read(run_id, upto_seq=...)``)."""


@dataclass(slots=True)
class RunNames:
    """What the labels of a run's events need: its flow, its tasks' names, its creation time and
    whether it has started (None: not known)."""

    flow: str
    created_at: datetime
    nodes: Sequence[Mapping[str, Any]]  # the graph's nodes as run.created recorded them
    has_started: bool | None
    _tasks: dict[str, str] | None = field(default=None, repr=False)

    @classmethod
    def of(cls, events: Sequence[Event]) -> "RunNames | None":
        """The names of the run whose log starts with ``events`` (None unless it starts with
        its run.created)."""
        if not events or events[0].type != _CREATED:
            return None
        created = events[0]
        graph = created.payload.get("graph") or {}
        started = any(event.type == _RUNNING for event in events)
        return cls(str(created.payload.get("flow")), created.ts, graph.get("nodes") or (), started)

    def task(self, key: str) -> str:
        """The name of the task of ``key``: its node's, or its mapped parent's (``train[3]``:
        ``train``'s)."""
        if self._tasks is None:
            self._tasks = {node["key"]: node["task"] for node in self.nodes}
        found = self._tasks.get(key)
        while found is None and key.endswith("]") and "[" in key:
            key = key[: key.rindex("[")]
            found = self._tasks.get(key)
        return found if found is not None else key


class EventMeter:
    """Moves ``metrics`` by the events appended (``appended``), learning runs' names from the
    logs read (``read``); thread-safe."""

    def __init__(self, metrics: "ProcessMetrics") -> None:
        self.metrics = metrics
        self._runs: dict[str, RunNames] = {}
        self._lock = threading.Lock()

    def read(self, events: Sequence[Event]) -> None:
        """A log was read: learn its run's names if it is read from its start."""
        if events and events[0].seq == 1 and (names := RunNames.of(events)) is not None:
            self._remember(events[0].run_id, names, replace=True)

    def appended(self, run_id: str, events: Sequence[Event], read_before: LogReader) -> None:
        """``events`` were appended to the run's log (``read_before`` reads what came before,
        for a run this process has not seen)."""
        if not events:
            return
        self.metrics.log_events.inc(len(events))
        counted = [event for event in events if event.type in _COUNTED]
        if not counted and events[0].seq != 1:
            return
        names = self._names(run_id, events, counted, read_before)
        has_ended = self._count(names, counted)
        if has_ended:
            with self._lock:
                self._runs.pop(run_id, None)  # its hooks, still to come, need no names

    def _count(self, names: RunNames | None, counted: Sequence[Event]) -> bool:
        """Tally ``counted``, events of one run; whether one of them ended the run."""
        flow = names.flow if names is not None else ""
        tallies = self.metrics.tallies
        has_ended = False
        with tallies.lock:
            for event in counted:
                kind, key = event.type, event.task_key
                if (outcome := _ATTEMPT_ENDINGS.get(kind)) is not None:
                    if key is not None and "attempt" in event.payload:
                        duration = event.payload.get("duration")
                        seconds = duration if isinstance(duration, int | float) else None
                        tallies.attempt(flow, _task(names, key), outcome, seconds)
                elif kind == _CACHED:
                    if key is not None:
                        tallies.attempt(flow, _task(names, key), "CACHED", None)
                elif (hook := _HOOKS.get(kind)) is not None:
                    tallies.hooks[hook] = tallies.hooks.get(hook, 0) + 1
                elif kind == _RUNNING:
                    if names is not None and names.has_started is False:
                        tallies.start_delays.add(max(0.0, (event.ts - names.created_at).total_seconds()))
                    if names is not None:
                        names.has_started = True
                else:
                    ending = (flow, _RUN_ENDINGS[kind])
                    tallies.finished[ending] = tallies.finished.get(ending, 0) + 1
                    has_ended = True
        return has_ended

    def _names(
        self, run_id: str, events: Sequence[Event], counted: Sequence[Event], read_before: LogReader
    ) -> RunNames | None:
        """The run's names: known, or from ``events`` (its first), or read from its log when
        ``counted`` needs them (hook records alone do not)."""
        with self._lock:
            names = self._runs.get(run_id)
        if names is not None:
            return names
        if events[0].seq == 1:
            names = RunNames.of(events)
            if names is not None:
                names.has_started = False  # its run.running events are in this batch, if any
        elif any(event.type not in _HOOKS for event in counted):
            names = RunNames.of(read_before(run_id, events[0].seq - 1))
        if names is not None:
            self._remember(run_id, names, replace=False)
        return names

    def _remember(self, run_id: str, names: RunNames, replace: bool) -> None:
        with self._lock:
            if not replace and run_id in self._runs:
                return
            self._runs.pop(run_id, None)
            self._runs[run_id] = names
            while len(self._runs) > MAX_RUNS_KNOWN:
                del self._runs[next(iter(self._runs))]


def _task(names: RunNames | None, key: str) -> str:
    return names.task(key) if names is not None else key
