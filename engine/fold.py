"""Fold a run's events into its state: ``fold(events)`` and ``apply(state, event)``.

Pure: no I/O, no clock. Each event is checked against the transition table; an event
the table forbids raises ``InvalidTransition`` naming run, seq, task key and both states.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any

from .errors import InvalidEvent, InvalidTransition
from .events import Event, EventType
from .graph import Graph, child_key
from .states import RunState, TaskState
from .transitions import RUN_TRANSITIONS, TASK_TRANSITIONS


@dataclass(frozen=True, slots=True)
class TaskView:
    """A task's state as the log says it is."""

    key: str
    state: TaskState = TaskState.PENDING
    attempts: int = 0
    result: Mapping[str, Any] | None = None
    error: Mapping[str, Any] | None = None
    retry_at: datetime | None = None
    map_count: int | None = None
    parent: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    seq: int = 0
    runtime: float | None = None  # seconds the last attempt's body ran, as measured where it ran

    @property
    def duration(self) -> float | None:
        """Seconds the last attempt ran: its measured runtime, else the span of its events."""
        if self.runtime is not None:
            return self.runtime
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True, slots=True)
class RunView:
    """A run's state as the log says it is."""

    run_id: str
    state: RunState
    seq: int
    head_hash: str
    flow: str
    flow_ref: str | None
    parameters: Mapping[str, Any]
    graph: Graph
    graph_hash: str | None
    tasks: Mapping[str, TaskView]
    created_at: datetime
    updated_at: datetime
    owner: str | None = None

    def children(self, parent: str) -> list[TaskView]:
        """The children of a mapped task, in index order (empty before it expanded)."""
        count = self.tasks[parent].map_count or 0
        return [self.tasks[child_key(parent, index)] for index in range(count)]


class Folder:
    """Applies events one by one; ``view()`` gives an immutable snapshot.

    Used by ``fold`` and, incrementally, by the scheduler (O(1) per event).
    """

    __slots__ = ("_head_hash", "_owner", "_run", "_seq", "_state", "_tasks", "_updated_at")

    def __init__(self, start: RunView | None = None) -> None:
        self._run = start
        self._tasks: dict[str, TaskView] = dict(start.tasks) if start is not None else {}
        if start is not None:
            self._state, self._seq, self._head_hash = start.state, start.seq, start.head_hash
            self._updated_at, self._owner = start.updated_at, start.owner

    def apply(self, event: Event) -> None:
        """Apply one event, checking seq order and the transition table."""
        run = self._run
        if run is None:
            self._start(event)
            return
        if event.seq != self._seq + 1:
            raise InvalidEvent(event.run_id, event.seq, f"expected seq {self._seq + 1}")
        if event.task_key is None:
            self._state = _run_state_after(run.run_id, self._state, event)
            if self._state is RunState.RUNNING:
                self._owner = event.payload.get("owner", self._owner)
        else:
            self._apply_task(run, event)
        self._seq, self._head_hash, self._updated_at = event.seq, event.hash, event.ts

    def apply_all(self, events: Iterable[Event]) -> "Folder":
        """Apply events in order; returns self."""
        for event in events:
            self.apply(event)
        return self

    def view(self) -> RunView:
        """An immutable snapshot of the state so far."""
        return self._snapshot(MappingProxyType(dict(self._tasks)))

    def live_view(self) -> RunView:
        """A read-only view over the folder's current tasks, without copying them.

        Unlike ``view()`` it changes as more events are applied: use it only for a
        decision taken before the next ``apply``.
        """
        return self._snapshot(MappingProxyType(self._tasks))

    def set_head_hash(self, head_hash: str) -> None:
        """Record the hash the log gave the last applied event (applied before its append)."""
        self._head_hash = head_hash

    def task(self, key: str) -> TaskView:
        """The current view of one task (cheap: no snapshot)."""
        return self._tasks[key]

    def _snapshot(self, tasks: Mapping[str, TaskView]) -> RunView:
        if self._run is None:
            raise ValueError("no events folded yet: a run starts with run.created")
        return replace(
            self._run, state=self._state, seq=self._seq, head_hash=self._head_hash,
            updated_at=self._updated_at, owner=self._owner, tasks=tasks,
        )

    def _start(self, event: Event) -> None:
        if event.seq != 1 or event.type != EventType.RUN_CREATED:
            raise InvalidEvent(
                event.run_id, event.seq, "a run's log must start with run.created at seq 1"
            )
        payload = event.payload
        graph = Graph.from_dict(payload.get("graph") or {})
        self._tasks = {key: TaskView(key=key) for key in graph.nodes}
        self._state = RunState(payload.get("state", RunState.PENDING.value))
        self._seq, self._head_hash, self._updated_at, self._owner = 1, event.hash, event.ts, None
        self._run = RunView(
            run_id=event.run_id,
            state=self._state,
            seq=1,
            head_hash=event.hash,
            flow=payload.get("flow", ""),
            flow_ref=payload.get("flow_ref"),
            parameters=MappingProxyType(dict(payload.get("parameters") or {})),
            graph=graph,
            graph_hash=payload.get("graph_hash"),
            tasks=MappingProxyType({}),
            created_at=event.ts,
            updated_at=event.ts,
        )

    def _apply_task(self, run: RunView, event: Event) -> None:
        key = event.task_key
        assert key is not None
        current = self._tasks.get(key)
        if current is None:
            raise InvalidEvent(run.run_id, event.seq, f"unknown task {key!r}")
        target = _TASK_TARGETS.get(event.type)
        if target is None:
            raise InvalidEvent(run.run_id, event.seq, f"unknown task event type {event.type!r}")
        if target not in TASK_TRANSITIONS[current.state]:
            raise InvalidTransition(run.run_id, event.seq, key, current.state, target)
        updated = _task_after(current, target, event)
        self._tasks[key] = updated
        if target is TaskState.MAPPED:
            self._add_children(run, event, key, updated.map_count or 0)

    def _add_children(self, run: RunView, event: Event, parent: str, count: int) -> None:
        for index in range(count):
            key = child_key(parent, index)
            if key in self._tasks and self._tasks[key].parent != parent:
                raise InvalidEvent(run.run_id, event.seq, f"child {key!r} collides with a task")
            self._tasks[key] = TaskView(key=key, parent=parent)


def _task_after(current: TaskView, target: TaskState, event: Event) -> TaskView:
    # Positional construction: this runs once per event and must stay cheap.
    payload, key, parent = event.payload, current.key, current.parent
    if target is TaskState.RUNNING:
        attempt = int(payload.get("attempt", current.attempts + 1))
        return TaskView(key, target, attempt, None, None, None, None, parent, event.ts, None, event.seq)
    if target is TaskState.PENDING:
        return TaskView(
            key, target, current.attempts, None, None, None, None, parent,
            current.started_at, None, event.seq,
        )
    if target is TaskState.MAPPED:
        count = payload.get("count")
        if not isinstance(count, int) or count < 0:
            raise InvalidEvent(event.run_id, event.seq, "task.mapped needs a count >= 0")
        return TaskView(key, target, current.attempts, None, None, None, count, parent,
                        current.started_at, event.ts, event.seq)  # fmt: skip
    retry_at = payload.get("retry_at")
    return TaskView(
        key, target, current.attempts, payload.get("result"), payload.get("error"),
        datetime.fromisoformat(retry_at) if retry_at else None, None, parent,
        current.started_at, event.ts, event.seq, payload.get("duration"),
    )


def _run_state_after(run_id: str, current: RunState, event: Event) -> RunState:
    if event.type == EventType.RUN_CREATED:
        raise InvalidEvent(run_id, event.seq, "run.created may only be the first event")
    target = _RUN_TARGETS.get(event.type)
    if target is None:
        raise InvalidEvent(run_id, event.seq, f"unknown run event type {event.type!r}")
    if target not in RUN_TRANSITIONS[current]:
        raise InvalidTransition(run_id, event.seq, None, current, target)
    return target


_TASK_TARGETS: Mapping[str, TaskState] = {
    f"task.{state.value.lower()}": state for state in TaskState
}
_RUN_TARGETS: Mapping[str, RunState] = {
    f"run.{state.value.lower()}": state for state in RunState if state is not RunState.SCHEDULED
}


def fold(events: Iterable[Event]) -> RunView:
    """The state of a run after its events, checked against the transition table."""
    return Folder().apply_all(events).view()


def apply(state: RunView, event: Event) -> RunView:
    """The state after one more event."""
    folder = Folder(state)
    folder.apply(event)
    return folder.view()
