"""A run's tasks as an audit reads them: the fold's view plus what only the events keep.

The fold keeps states, attempts, times and results; an audit also needs each task's code
hash (recorded in ``run.created``), the worker of its last attempt, where a cached result
came from, each result's hash, and the inputs each task was called with.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..engine.core.events import Event, EventType
from ..engine.core.fold import RunView, TaskView, fold
from ..engine.core.graph import TaskNode, child_key
from ..engine.core.states import TaskState
from .result_hash import combined_hash, element_hash, result_hash


@dataclass(frozen=True, slots=True)
class CacheSource:
    """The run and task whose result a CACHED task reused."""

    run_id: str
    task_key: str


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """One task as recorded: identity, code, last attempt, and the hash of its result.

    ``code_hash`` is None for a log written before code hashes were recorded; the
    ``result_hash`` of a mapped parent combines its children's (see ``combined_hash``).
    """

    key: str
    task: str
    state: TaskState
    attempt: int
    code_hash: str | None
    worker: str | None
    started_at: datetime | None
    finished_at: datetime | None
    duration: float | None
    result_hash: str | None
    parent: str | None = None
    map_count: int | None = None
    cached_from: CacheSource | None = None


@dataclass(frozen=True, slots=True)
class TaskInput:
    """An upstream task a task was called with; ``index`` when it took one element of it."""

    task_key: str
    index: int | None = None


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A run's view, its code hashes by task name, its task records in topological order,
    and the digests of the arguments each task call was traced with, by task key."""

    view: RunView
    code: Mapping[str, str]
    tasks: Mapping[str, TaskRecord]
    arguments: Mapping[str, str] = field(default_factory=dict)

    def argument_digest(self, key: str) -> str | None:
        """The digest of the arguments ``key`` was called with (a dynamic map's child: its
        parent's); None where the log recorded none."""
        parent = self.view.tasks[key].parent
        return self.arguments.get(parent if parent is not None else key)

    def node(self, key: str) -> TaskNode:
        """The graph node of a task (a dynamic map's child shares its parent's)."""
        parent = self.view.tasks[key].parent
        return self.view.graph.nodes[parent if parent is not None else key]

    def inputs(self, key: str) -> list[TaskInput]:
        """The upstream tasks ``key`` was called with.

        A dynamic map's child ``name[i]`` took element ``i`` of each source its parent maps
        over (the child ``source[i]`` itself when that source is a mapped task) and the
        other upstreams whole.
        """
        view = self.view.tasks[key]
        node = self.node(key)
        if view.parent is None:
            return [TaskInput(upstream) for upstream in node.upstream]
        index = int(key.removeprefix(view.parent)[1:-1])
        found = []
        for upstream in node.upstream:
            if upstream not in (node.map_over or ()):
                found.append(TaskInput(upstream))
            elif self.view.tasks[upstream].state is TaskState.MAPPED:
                found.append(TaskInput(child_key(upstream, index)))
            else:
                found.append(TaskInput(upstream, index))
        return found

    def input_hash(self, given: TaskInput) -> str | None:
        """The hash of what a task took from an input: the element's own hash when it took
        one element of an inline list, else the hash of the whole upstream result."""
        upstream = self.tasks.get(given.task_key)
        if upstream is None:
            return None
        if given.index is not None:
            element = element_hash(self.view.tasks[given.task_key].result, given.index)
            if element is not None:
                return element
        return upstream.result_hash


def record_run(events: Sequence[Event]) -> RunRecord:
    """Fold a run's events and read each task's audit record from them."""
    view = fold(events)
    recorded = events[0].payload.get("code")  # absent from logs written before code hashes
    code = {str(k): str(v) for k, v in recorded.items()} if isinstance(recorded, Mapping) else {}
    given = events[0].payload.get("arguments")  # absent from logs written before argument digests
    arguments = {str(k): str(v) for k, v in given.items()} if isinstance(given, Mapping) else {}
    workers, sources = _last_attempts(events)
    hashes: dict[str, str | None] = {}
    order = topological_keys(view)
    for key in order:  # a mapped task's hash combines its children's: hash the others first
        task = view.tasks[key]
        if task.state is not TaskState.MAPPED:
            hashes[key] = result_hash(task.result)
    for key in order:
        task = view.tasks[key]
        if task.state is TaskState.MAPPED:
            hashes[key] = combined_hash(hashes[child.key] for child in view.children(key))
    tasks = {}
    for key in order:
        task = view.tasks[key]
        name = view.graph.nodes[task.parent if task.parent is not None else key].task
        tasks[key] = _record(task, name, code.get(name), workers.get(key), hashes[key], sources.get(key))
    return RunRecord(view=view, code=code, tasks=tasks, arguments=arguments)


def topological_keys(view: RunView) -> list[str]:
    """Every task key of the run: graph order, each dynamic map's children after their parent."""
    children: dict[str, list[str]] = {}
    for task in view.tasks.values():
        if task.parent is not None:
            children.setdefault(task.parent, []).append(task.key)
    order = []
    for key in view.graph.nodes:
        order.append(key)
        order.extend(children.get(key, ()))
    return order


def _last_attempts(events: Sequence[Event]) -> tuple[dict[str, str | None], dict[str, CacheSource]]:
    """The worker of each task's last attempt and, for cached tasks, the source of the result."""
    workers: dict[str, str | None] = {}
    sources: dict[str, CacheSource] = {}
    for event in events:
        key = event.task_key
        if key is None:
            continue
        if event.type in (EventType.TASK_RUNNING, EventType.TASK_PENDING):
            workers[key] = None
            sources.pop(key, None)
        elif event.type == EventType.TASK_CACHED:
            sources[key] = CacheSource(
                str(event.payload.get("source_run")), str(event.payload.get("source_task"))
            )
        elif "worker" in event.payload:
            workers[key] = str(event.payload["worker"])
    return workers, sources


def _record(
    task: TaskView,
    name: str,
    code_hash: str | None,
    worker: str | None,
    hashed: str | None,
    source: CacheSource | None,
) -> TaskRecord:
    return TaskRecord(
        key=task.key,
        task=name,
        state=task.state,
        attempt=task.attempts,
        code_hash=code_hash,
        worker=worker,
        started_at=task.started_at,
        finished_at=task.finished_at,
        duration=task.duration,
        result_hash=hashed,
        parent=task.parent,
        map_count=task.map_count,
        cached_from=source,
    )


def record_json(record: TaskRecord) -> dict[str, Any]:
    """A task record as a JSON object (times as ISO-8601 UTC)."""
    return {
        "key": record.key,
        "task": record.task,
        "state": record.state.value,
        "attempt": record.attempt,
        "code_hash": record.code_hash,
        "worker": record.worker,
        "started_at": _iso(record.started_at),
        "finished_at": _iso(record.finished_at),
        "duration": record.duration,
        "result_hash": record.result_hash,
        "parent": record.parent,
        "map_count": record.map_count,
        "cached_from": None
        if record.cached_from is None
        else {
            "run_id": record.cached_from.run_id,
            "task_key": record.cached_from.task_key,
        },
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
