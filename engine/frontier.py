"""What to do next: ``frontier(graph, state)`` decides, the scheduler acts.

Pure: no I/O, no clock. Retry due times come from the log (recorded by the scheduler);
the scheduler compares them with its clock.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum, auto

from .fold import RunView, TaskView
from .graph import Graph, TaskNode, Trigger, child_key
from .states import TaskState


class Outlook(Enum):
    """How an upstream task looks to its downstream tasks."""

    WAITING = auto()
    SUCCEEDED = auto()
    SKIPPED = auto()
    FAILED = auto()


@dataclass(frozen=True, slots=True)
class Frontier:
    """The decisions for one step of the scheduler."""

    ready: tuple[str, ...] = ()  # PENDING tasks whose trigger holds: run (or cache) them
    expand: tuple[str, ...] = ()  # dynamic maps whose inputs are known: record their children
    upstream_failed: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    skipped: Mapping[str, str] = field(default_factory=dict)  # task key -> reason
    retry_due: Mapping[str, datetime] = field(default_factory=dict)  # RETRYING -> due time
    running: tuple[str, ...] = ()
    is_finished: bool = False  # nothing left to do: every task has settled

    @property
    def is_idle(self) -> bool:
        """True when no decision needs an append or a submission now."""
        return not (self.ready or self.expand or self.upstream_failed or self.skipped)


def outlook(state: RunView, key: str) -> Outlook:
    """A task's outlook; a mapped parent looks like the combination of its children."""
    task = state.tasks[key]
    if task.state is TaskState.MAPPED:
        return _combined([outlook(state, child.key) for child in state.children(key)])
    return _OUTLOOK_OF_STATE[task.state]


def _combined(outlooks: list[Outlook]) -> Outlook:
    if Outlook.WAITING in outlooks:
        return Outlook.WAITING
    if Outlook.FAILED in outlooks:
        return Outlook.FAILED
    return Outlook.SUCCEEDED


_OUTLOOK_OF_STATE: Mapping[TaskState, Outlook] = {
    TaskState.PENDING: Outlook.WAITING,
    TaskState.RUNNING: Outlook.WAITING,
    TaskState.RETRYING: Outlook.WAITING,
    TaskState.MAPPED: Outlook.WAITING,
    TaskState.SUCCEEDED: Outlook.SUCCEEDED,
    TaskState.CACHED: Outlook.SUCCEEDED,
    TaskState.SKIPPED: Outlook.SKIPPED,
    TaskState.FAILED: Outlook.FAILED,
    TaskState.UPSTREAM_FAILED: Outlook.FAILED,
    TaskState.CANCELLED: Outlook.FAILED,
}


def frontier(graph: Graph, state: RunView) -> Frontier:
    """Decide which tasks to start, expand, skip or mark UPSTREAM_FAILED."""
    ready: list[str] = []
    expand: list[str] = []
    upstream_failed: dict[str, tuple[str, ...]] = {}
    skipped: dict[str, str] = {}
    retry_due: dict[str, datetime] = {}
    running: list[str] = []
    unsettled = 0
    for task in state.tasks.values():
        if task.state is TaskState.MAPPED:
            continue  # settled through its children
        if task.state is TaskState.RETRYING:
            assert task.retry_at is not None
            retry_due[task.key] = task.retry_at
        elif task.state is TaskState.RUNNING:
            running.append(task.key)
        if task.state is not TaskState.PENDING:
            unsettled += not task.state.is_terminal
            continue
        unsettled += 1
        node = _node_of(graph, task)
        decision = _decide(node, [(key, outlook(state, key)) for key in node.upstream])
        if decision is None:
            continue
        if isinstance(decision, tuple):
            upstream_failed[task.key] = decision
        elif decision == "run":
            (expand if node.map_over is not None and task.parent is None else ready).append(task.key)
        else:
            skipped[task.key] = decision
    return Frontier(
        ready=tuple(ready),
        expand=tuple(expand),
        upstream_failed=upstream_failed,
        skipped=skipped,
        retry_due=retry_due,
        running=tuple(running),
        is_finished=unsettled == 0,
    )


def _node_of(graph: Graph, task: TaskView) -> TaskNode:
    """A child of a dynamic map behaves as its parent node, minus the map."""
    if task.parent is None:
        return graph.nodes[task.key]
    parent = graph.nodes[task.parent]
    return TaskNode(key=task.key, task=parent.task, upstream=parent.upstream, trigger=parent.trigger)


def _decide(node: TaskNode, upstream: list[tuple[str, Outlook]]) -> str | tuple[str, ...] | None:
    """None: wait; "run"; a skip reason; or the failed upstream keys (UPSTREAM_FAILED)."""
    if any(look is Outlook.WAITING for _, look in upstream):
        return None
    failed = tuple(key for key, look in upstream if look is Outlook.FAILED)
    if node.trigger is Trigger.ALL_FINISHED:
        return "run"
    if node.trigger is Trigger.ANY_FAILED:
        return "run" if failed else "trigger any_failed: no upstream task failed"
    if failed:
        return failed
    if any(look is Outlook.SKIPPED for _, look in upstream):
        return "an upstream task was skipped"
    return "run"


def children_keys(parent: str, count: int) -> list[str]:
    """The keys of a mapped task's children."""
    return [child_key(parent, index) for index in range(count)]
