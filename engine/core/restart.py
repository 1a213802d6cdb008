"""Which tasks a restart re-opens: pure, from the graph and the folded state."""

from typing import Any

from .fold import RunView, TaskView
from .graph import Graph
from .states import TERMINAL_TASK_STATES, TaskState

REOPENED_BY_RESTART = frozenset({TaskState.FAILED, TaskState.UPSTREAM_FAILED, TaskState.CANCELLED})
_SETTLED = TERMINAL_TASK_STATES | {TaskState.MAPPED}


def tasks_to_reopen(graph: Graph, state: RunView, from_task: str | None = None) -> list[str]:
    """The task keys a restart moves back to PENDING, in the state's order.

    Without ``from_task``: every FAILED, UPSTREAM_FAILED or CANCELLED task (successes are
    kept). With it: that task and everything downstream of it, whatever their state. A
    dynamic map re-opened this way expands again: its children are superseded, not re-opened.
    """
    if from_task is None:
        return [t.key for t in state.tasks.values() if t.state in REOPENED_BY_RESTART]
    if from_task not in state.tasks:
        raise KeyError(from_task)
    chosen = _downstream_closure(graph, state, from_task)
    return [
        t.key
        for t in state.tasks.values()
        if t.key in chosen
        and t.state is not TaskState.PENDING
        and (t.parent is None or t.parent not in chosen)
    ]


def has_nothing_to_restart(graph: Graph, state: RunView, from_task: str | None = None) -> bool:
    """True if a restart would re-open no task and find none left to run (every task
    succeeded, was cached or skipped): it then changes nothing and appends nothing."""
    if tasks_to_reopen(graph, state, from_task):
        return False
    return all(task.state in _SETTLED for task in state.tasks.values())


def reopening(task: TaskView, reason: str) -> dict[str, Any]:
    """The payload of the ``task.pending`` that re-opens ``task``; a mapped task's names the
    children its new expansion supersedes."""
    if task.state is TaskState.MAPPED:
        return {"reason": reason, "superseded": task.map_count or 0}
    return {"reason": reason}


def _downstream_closure(graph: Graph, state: RunView, start: str) -> set[str]:
    downstream = graph.downstream()
    node_of = {key: (task.parent or key) for key, task in state.tasks.items()}
    children: dict[str, list[str]] = {}
    for key, task in state.tasks.items():
        if task.parent is not None:
            children.setdefault(task.parent, []).append(key)
    found = {start}
    stack = [start]
    while stack:
        key = stack.pop()
        node = node_of[key]
        follow = list(downstream.get(node, ())) + (children.get(key, []) if key == node else [])
        for next_key in follow:
            if next_key not in found:
                found.add(next_key)
                stack.append(next_key)
    return found
