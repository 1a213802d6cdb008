"""What to do next: ``frontier(graph, state)`` decides, the run machine acts on it.

Pure: no I/O, no clock. Retry due times come from the log (recorded by the run machine);
the machine compares them with the time it is given.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum, auto

from .fold import RunView
from .graph import Graph, Trigger
from .states import TERMINAL_TASK_STATES, TaskState


class Outlook(Enum):
    """How an upstream task looks to its downstream tasks."""

    WAITING = auto()
    SUCCEEDED = auto()
    SKIPPED = auto()
    FAILED = auto()


@dataclass(frozen=True, slots=True)
class Frontier:
    """The decisions for one step of the run machine."""

    ready: tuple[str, ...] = ()  # PENDING tasks whose trigger holds: run (or cache) them
    expand: tuple[str, ...] = ()  # dynamic maps whose inputs are known: record their children
    upstream_failed: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    skipped: Mapping[str, str] = field(default_factory=dict)  # task key -> reason
    retry_due: Mapping[str, datetime] = field(default_factory=dict)  # RETRYING -> due time
    is_finished: bool = False  # nothing left to do: every task has settled


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


def frontier(graph: Graph, state: RunView, among: Iterable[str] | None = None) -> Frontier:
    """Decide which tasks to start, expand, skip or mark UPSTREAM_FAILED.

    One pass over the tasks (the run machine calls it after every batch of events, and a
    resumed run may have tens of thousands): each upstream outlook is computed once,
    and the children of a dynamic map, which share their parent's upstreams and
    trigger, share one decision. ``among``, if given, holds the keys of every task not in a
    ``SETTLED_STATES`` state, in the run's order: only those are looked at.
    """
    ready: list[str] = []
    expand: list[str] = []
    upstream_failed: dict[str, tuple[str, ...]] = {}
    skipped: dict[str, str] = {}
    retry_due: dict[str, datetime] = {}
    unsettled = 0
    nodes = graph.nodes
    mapped: dict[str, Outlook] = {}  # outlooks of mapped parents, each computed once
    by_parent: dict[str, str | tuple[str, ...] | None] = {}
    tasks = state.tasks.values() if among is None else map(state.tasks.__getitem__, among)
    for task in tasks:
        task_state = task.state
        if task_state is not _PENDING:
            if task_state in _SETTLED:
                continue  # a mapped parent settles through its children
            if task_state is not _RUNNING:
                assert task.retry_at is not None  # RETRYING: the fold refuses one without
                retry_due[task.key] = task.retry_at
            unsettled += 1
            continue
        unsettled += 1
        parent = task.parent
        if parent is None:
            node = nodes[task.key]
            if node.upstream or node.trigger is _ANY_FAILED:
                decision = _decide(node.trigger, node.upstream, state, mapped)
            else:
                decision = "run"  # a root task (what _decide says, without the call)
            if decision == "run" and node.map_over is not None:
                expand.append(task.key)
                continue
        elif parent in by_parent:
            decision = by_parent[parent]
        else:  # a child of a dynamic map behaves as its parent node, minus the map
            node = nodes[parent]
            decision = _decide(node.trigger, node.upstream, state, mapped)
            by_parent[parent] = decision
        if decision == "run":
            ready.append(task.key)
        elif isinstance(decision, tuple):
            upstream_failed[task.key] = decision
        elif decision is not None:
            skipped[task.key] = decision
    return Frontier(
        ready=tuple(ready),
        expand=tuple(expand),
        upstream_failed=upstream_failed,
        skipped=skipped,
        retry_due=retry_due,
        is_finished=unsettled == 0,
    )


# Enum members as module constants: reading TaskState.PENDING costs more than a dict lookup.
_PENDING, _RUNNING, _MAPPED = TaskState.PENDING, TaskState.RUNNING, TaskState.MAPPED
SETTLED_STATES = TERMINAL_TASK_STATES | {TaskState.MAPPED}
"""The states of tasks the frontier passes over (a mapped parent settles through its children)."""
_SETTLED = SETTLED_STATES
_WAITING, _FAILED, _SKIPPED = Outlook.WAITING, Outlook.FAILED, Outlook.SKIPPED
_ALL_FINISHED, _ANY_FAILED = Trigger.ALL_FINISHED, Trigger.ANY_FAILED


def _decide(
    trigger: Trigger, upstream: tuple[str, ...], state: RunView, mapped: dict[str, Outlook]
) -> str | tuple[str, ...] | None:
    """None: wait; "run"; a skip reason; or the failed upstream keys (UPSTREAM_FAILED).

    ``mapped`` keeps the outlooks of mapped parents computed so far in this frontier.
    """
    tasks, is_skipped = state.tasks, False
    failed: list[str] = []
    for key in upstream:  # one pass, stopping at the first upstream still to finish
        task_state = tasks[key].state
        if task_state is not _MAPPED:
            look = _OUTLOOK_OF_STATE[task_state]
        elif (known := mapped.get(key)) is not None:
            look = known
        else:
            look = mapped[key] = outlook(state, key)
        if look is _WAITING:
            return None
        if look is _FAILED:
            failed.append(key)
        elif look is _SKIPPED:
            is_skipped = True
    if trigger is _ALL_FINISHED:
        return "run"
    if trigger is _ANY_FAILED:
        return "run" if failed else "trigger any_failed: no upstream task failed"
    if failed:
        return tuple(failed)
    return "an upstream task was skipped" if is_skipped else "run"
