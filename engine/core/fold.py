"""Fold a run's events into its state: ``fold(events)`` and ``apply(state, event)``.

Pure: no I/O, no clock. Each event is checked against the transition table; an event
the table forbids raises ``InvalidTransition`` naming run, seq, task key and both states.
Attempt numbers of a task key only ever grow: a task already RUNNING may only start a
later attempt, and a dynamic map's children keep theirs when a restart re-expands it.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any, NamedTuple

from .bulk import collector_paused
from .errors import InvalidEvent, InvalidTransition
from .events import HOOK_RECORDS, Event, EventType, entered_run_state, enters_run_state
from .graph import Graph, child_key
from .run_terms import NO_TERMS, RunTerms, recorded_terms
from .states import RunState, TaskState
from .transitions import (
    CANCEL_REQUESTABLE,
    HANDBACKABLE,
    HOOK_RECORDABLE,
    NEW_ATTEMPT_ONLY,
    RUN_TRANSITIONS,
    TASK_TRANSITIONS,
)


class TaskView(NamedTuple):
    """A task's state as the log says it is.

    An immutable record compared by value. A named tuple rather than a frozen
    dataclass because the fold makes one per event: it is built in one step, where a
    frozen dataclass sets each field through ``object.__setattr__`` (about ten times
    slower, most of the cost of a fold).

    ``started_at`` and ``finished_at`` are when the last attempt's body started and ended where
    it ran (its ending event records them); while the attempt runs, and for a log written before
    ending events recorded them, they are the times of its ``task.running`` and ending events.
    """

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
    """A run's state as the log says it is.

    ``owner`` is the driver the last run.running named (None once a run.handed_back let go
    of the run); ``started_at`` is the time of the run.running that started this execution (kept
    across resumes, new on a restart); ``timeout`` the seconds the run may take from then
    (from run.created); ``cancel_request`` the payload of its run.cancel_requested.
    ``terms`` are the queue, priority and run limit it was created with (see ``run_terms``).
    ``superseded`` holds the last view of each child of an earlier expansion of a dynamic
    map that the current one does not have (a restart re-opened the map): no longer a task
    of the run, kept for its history and its attempt numbers.
    """

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
    started_at: datetime | None = None
    timeout: float | None = None
    cancel_request: Mapping[str, Any] | None = None
    superseded: Mapping[str, TaskView] = field(default_factory=lambda: MappingProxyType({}))
    terms: RunTerms = NO_TERMS

    def children(self, parent: str) -> list[TaskView]:
        """The children of a mapped task, in index order (empty before it expanded)."""
        count = self.tasks[parent].map_count or 0
        return [self.tasks[child_key(parent, index)] for index in range(count)]


class Folder:
    """Applies events one by one; ``view()`` gives an immutable snapshot.

    Used by ``fold`` and, incrementally, by the run machine (O(1) per event).
    """

    __slots__ = (
        "_cancel", "_head_hash", "_owner", "_run", "_seq", "_started_at", "_state", "_superseded",
        "_tasks", "_updated_at",
    )

    def __init__(self, start: RunView | None = None) -> None:
        self._run = start
        self._tasks: dict[str, TaskView] = dict(start.tasks) if start is not None else {}
        self._superseded: dict[str, TaskView] = dict(start.superseded) if start is not None else {}
        self._seq = 0
        if start is not None:
            self._state, self._seq, self._head_hash = start.state, start.seq, start.head_hash
            self._updated_at, self._owner = start.updated_at, start.owner
            self._started_at, self._cancel = start.started_at, start.cancel_request

    def apply(self, event: Event) -> None:
        """Apply one event, checking seq order and the transition table."""
        self.apply_all((event,))

    def apply_all(self, events: Iterable[Event]) -> "Folder":
        """Apply events in order; returns self.

        An event that does not fit raises, and the folder keeps the events before it.
        """
        remaining = iter(events)
        if self._run is None:
            first = next(remaining, None)
            if first is None:
                return self
            self._start(first)
        run_id, tasks, seq, last = self._run_id(), self._tasks, self._seq, None
        find, next_state = tasks.get, _NEXT_TASK_STATE
        # Enum members as locals: reading TaskState.RUNNING costs more than a dict lookup.
        running, pending, mapped = TaskState.RUNNING, TaskState.PENDING, TaskState.MAPPED
        retrying, new_attempt_only = TaskState.RETRYING, _NEW_ATTEMPT_ONLY
        try:
            for event in remaining:  # the hot loop of every fold: keep it flat
                seq += 1
                if event.seq != seq:
                    raise InvalidEvent(event.run_id, event.seq, f"expected seq {seq}")
                key = event.task_key
                if key is None:
                    self._apply_run(run_id, event)
                elif (current := find(key)) is None:
                    raise InvalidEvent(run_id, event.seq, f"unknown task {key!r}")
                elif (target := next_state[current.state].get(event.type)) is running:
                    attempt = event.payload.get("attempt", current.attempts + 1)
                    if type(attempt) is not int or (
                        current.state in new_attempt_only and attempt <= current.attempts
                    ):
                        raise _attempt_rejection(run_id, current, event)
                    tasks[key] = _new_view(TaskView, (
                        key, running, attempt, None, None, None, None, current.parent,
                        event.ts, None, seq, None,
                    ))
                elif target is None:
                    raise _task_rejection(run_id, current, event)
                elif target is pending or target is mapped:
                    self._reopen_or_map(run_id, current, target, event)
                else:  # the attempt ended: succeeded, failed, retrying, skipped...
                    payload = event.payload
                    if (body_start := payload.get("started_at")) is None:  # an older log
                        started, finished = current.started_at, event.ts
                    else:
                        started, finished = _body_times(run_id, event, body_start)
                    tasks[key] = _new_view(TaskView, (
                        key, target, current.attempts, payload.get("result"), payload.get("error"),
                        _retry_at(run_id, event) if target is retrying else None, None,
                        current.parent, started, finished, seq, payload.get("duration"),
                    ))
                last = event
        finally:
            if last is not None:
                self._seq, self._head_hash, self._updated_at = last.seq, last.hash, last.ts
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

    def _run_id(self) -> str:
        assert self._run is not None
        return self._run.run_id

    def _snapshot(self, tasks: Mapping[str, TaskView]) -> RunView:
        if self._run is None:
            raise ValueError("no events folded yet: a run starts with run.created")
        return replace(
            self._run, state=self._state, seq=self._seq, head_hash=self._head_hash,
            updated_at=self._updated_at, owner=self._owner, tasks=tasks,
            started_at=self._started_at, cancel_request=self._cancel,
            superseded=MappingProxyType(dict(self._superseded)),
        )

    def _start(self, event: Event) -> None:
        if event.seq != 1 or event.type != EventType.RUN_CREATED:
            raise InvalidEvent(
                event.run_id, event.seq, "a run's log must start with run.created at seq 1"
            )
        payload = event.payload
        graph = Graph.from_dict(payload.get("graph") or {})
        self._tasks = {key: _new_view(TaskView, (key, *_FRESH_FIELDS)) for key in graph.nodes}
        self._superseded = {}
        self._state = RunState(payload.get("state", RunState.PENDING.value))
        self._seq, self._head_hash, self._updated_at, self._owner = 1, event.hash, event.ts, None
        self._started_at, self._cancel = None, None
        timeout = payload.get("timeout")
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
            timeout=float(timeout) if timeout is not None else None,
            terms=recorded_terms(payload),
        )

    def _apply_run(self, run_id: str, event: Event) -> None:
        if event.type == EventType.RUN_CANCEL_REQUESTED:
            if self._state not in CANCEL_REQUESTABLE:
                raise InvalidEvent(
                    run_id, event.seq, f"run.cancel_requested on a {self._state} run: "
                    "only a run that has not finished can be asked to cancel",
                )
            self._cancel = MappingProxyType(dict(event.payload))
            return
        if event.type == EventType.RUN_HANDED_BACK:
            if self._state not in HANDBACKABLE:
                raise InvalidEvent(
                    run_id,
                    event.seq,
                    f"run.handed_back on a {self._state} run: only a RUNNING run can be handed back",
                )
            self._owner = None  # nobody drives it until the next run.running
            return
        if event.type in HOOK_RECORDS:
            if self._state not in HOOK_RECORDABLE:
                raise InvalidEvent(run_id, event.seq, f"{event.type} on a {self._state} run")
            return
        target = _NEXT_RUN_STATE[self._state].get(event.type)
        if target is None:
            raise _run_rejection(run_id, self._state, event)
        if target is RunState.RUNNING:
            self._owner = event.payload.get("owner", self._owner)
            if self._state.is_terminal:  # a restart: a new execution, with its own clock
                self._started_at, self._cancel = event.ts, None
            elif self._started_at is None:
                self._started_at = event.ts
        self._state = target

    def _reopen_or_map(
        self, run_id: str, current: TaskView, target: TaskState, event: Event
    ) -> None:
        """A restart re-opens the task, or a dynamic map records its children."""
        if target is TaskState.PENDING:
            if "superseded" in event.payload:
                self._supersede(run_id, current, event)
            self._tasks[current.key] = current._replace(
                state=target, result=None, error=None, retry_at=None, map_count=None,
                finished_at=None, seq=event.seq, runtime=None,
            )
            return
        count = event.payload.get("count")
        if not isinstance(count, int) or count < 0:
            raise InvalidEvent(event.run_id, event.seq, "task.mapped needs a count >= 0")
        self._tasks[current.key] = current._replace(
            state=target, result=None, error=None, retry_at=None, map_count=count,
            finished_at=event.ts, seq=event.seq, runtime=None,
        )
        self._add_children(run_id, event, current.key, count)

    def _supersede(self, run_id: str, current: TaskView, event: Event) -> None:
        """A mapped task re-opened for a new expansion: its children leave the run's tasks."""
        count = event.payload["superseded"]
        if current.state is not TaskState.MAPPED or count != current.map_count:
            raise InvalidEvent(
                run_id, event.seq, f"task.pending supersedes {count!r} children of "
                f"{current.key!r}, which is {current.state} with {current.map_count} children",
            )  # fmt: skip
        for index in range(count):
            key = child_key(current.key, index)
            self._superseded[key] = self._tasks.pop(key)

    def _add_children(self, run_id: str, event: Event, parent: str, count: int) -> None:
        """The children of an expansion; a key an earlier expansion had keeps its attempts."""
        tasks, superseded = self._tasks, self._superseded
        for index in range(count):
            key = child_key(parent, index)
            earlier = tasks.get(key) or (superseded.pop(key, None) if superseded else None)
            if earlier is not None and earlier.parent != parent:
                raise InvalidEvent(run_id, event.seq, f"child {key!r} collides with a task")
            tasks[key] = TaskView(key, attempts=earlier.attempts if earlier else 0, parent=parent)


# Building the tuple directly skips NamedTuple's generated __new__ (a Python call).
_new_view = tuple.__new__
_FRESH_FIELDS = tuple(TaskView(""))[1:]  # a fresh task's fields after its key


def _task_rejection(run_id: str, current: TaskView, event: Event) -> InvalidEvent | InvalidTransition:
    """The error for a task event the table does not allow from the task's state."""
    target = _TASK_TARGETS.get(event.type)
    if target is None:
        return InvalidEvent(run_id, event.seq, f"unknown task event type {event.type!r}")
    return InvalidTransition(run_id, event.seq, current.key, current.state, target)


def _attempt_rejection(run_id: str, current: TaskView, event: Event) -> InvalidEvent | InvalidTransition:
    """The error for a task.running whose attempt number is not a new one."""
    attempt = event.payload.get("attempt")
    if type(attempt) is not int:
        return InvalidEvent(run_id, event.seq, f"task.running needs an integer attempt, not {attempt!r}")
    return InvalidTransition(
        run_id, event.seq, current.key, current.state, TaskState.RUNNING,
        f"attempt {attempt} is not after attempt {current.attempts}: only a new attempt may start",
    )  # fmt: skip


def _retry_at(run_id: str, event: Event) -> datetime:
    """The due time a task.retrying records: required, ISO-8601 with a UTC offset."""
    value = event.payload.get("retry_at")
    try:
        due = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        due = None
    if due is None or due.utcoffset() is None:
        raise InvalidEvent(
            run_id, event.seq, f"task.retrying of {event.task_key!r} needs retry_at, an ISO-8601 "
            f"time with a UTC offset (when the next attempt is due), not {value!r}",
        )  # fmt: skip
    return due


def _body_times(run_id: str, event: Event, started_at: object) -> tuple[datetime, datetime]:
    """When the ended attempt's body started and finished where it ran, as recorded: ISO-8601
    times with a UTC offset."""
    finished_at = event.payload.get("finished_at")
    if isinstance(started_at, str) and isinstance(finished_at, str):
        try:
            started, finished = fromisoformat(started_at), fromisoformat(finished_at)
        except ValueError:
            pass
        else:
            if started.tzinfo is not None and finished.tzinfo is not None:
                return started, finished
    raise InvalidEvent(
        run_id, event.seq, f"{event.type} of {event.task_key!r} records started_at {started_at!r} "
        f"and finished_at {finished_at!r}: the body's times must be ISO-8601 with a UTC offset",
    )  # fmt: skip


fromisoformat = datetime.fromisoformat


def _run_rejection(run_id: str, current: RunState, event: Event) -> InvalidEvent | InvalidTransition:
    """The error for a run event the table does not allow from the run's state."""
    if event.type == EventType.RUN_CREATED:
        return InvalidEvent(run_id, event.seq, "run.created may only be the first event")
    target = _RUN_TARGETS.get(event.type)
    if target is None:
        return InvalidEvent(run_id, event.seq, f"unknown run event type {event.type!r}")
    return InvalidTransition(run_id, event.seq, None, current, target)


_TASK_TARGETS: Mapping[str, TaskState] = {
    f"task.{state.value.lower()}": state for state in TaskState
}
_RUN_TARGETS: Mapping[str, RunState] = {
    type_.value: entered_run_state(type_)
    for type_ in EventType
    if type_.startswith("run.") and enters_run_state(type_)
}
# The transition table by event type: state -> {event type -> state it enters}, for the
# events the table allows from that state (one lookup per event instead of three).
_NEXT_TASK_STATE: Mapping[TaskState, Mapping[str, TaskState]] = {
    source: {type_: target for type_, target in _TASK_TARGETS.items() if target in allowed}
    for source, allowed in TASK_TRANSITIONS.items()
}
# The states from which a task may start running only as a new attempt.
_NEW_ATTEMPT_ONLY = frozenset(source for source, target in NEW_ATTEMPT_ONLY if target is TaskState.RUNNING)
_NEXT_RUN_STATE: Mapping[RunState, Mapping[str, RunState]] = {
    source: {type_: target for type_, target in _RUN_TARGETS.items() if target in allowed}
    for source, allowed in RUN_TRANSITIONS.items()
}


def fold(events: Iterable[Event]) -> RunView:
    """The state of a run after its events, checked against the transition table."""
    with collector_paused():  # a view per event: many small acyclic objects at once
        return Folder().apply_all(events).view()


def apply(state: RunView, event: Event) -> RunView:
    """The state after one more event."""
    folder = Folder(state)
    folder.apply(event)
    return folder.view()
