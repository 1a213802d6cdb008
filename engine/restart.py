"""Which tasks a restart re-opens: pure, from the graph and the folded state."""

from .fold import RunView
from .graph import Graph
from .states import TaskState

REOPENED_BY_RESTART = frozenset({TaskState.FAILED, TaskState.UPSTREAM_FAILED, TaskState.CANCELLED})


def tasks_to_reopen(graph: Graph, state: RunView, from_task: str | None = None) -> list[str]:
    """The task keys a restart moves back to PENDING, in the state's order.

    Without ``from_task``: every FAILED, UPSTREAM_FAILED or CANCELLED task (successes are
    kept). With it: that task and everything downstream of it, whatever their state.
    """
    if from_task is None:
        return [t.key for t in state.tasks.values() if t.state in REOPENED_BY_RESTART]
    if from_task not in state.tasks:
        raise KeyError(from_task)
    chosen = _downstream_closure(graph, state, from_task)
    return [t.key for t in state.tasks.values() if t.key in chosen and t.state is not TaskState.PENDING]


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
