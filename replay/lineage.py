"""The lineage of a task's result: the task, the upstream results it was called with,
recursively, back to the run's parameters.

Read-only, from a run's event list. Each node names the task key, task name, code hash,
attempt, worker, times, state and result hash; an input a dynamic map's child took one
element of carries that index. A task reached twice (a diamond) is expanded once.
"""

import difflib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..engine.core.events import Event
from .errors import UnknownTaskKey
from .records import RunRecord, TaskInput, TaskRecord, record_json, record_run

NEAR_MATCHES = 3
NEAR_MATCH_CANDIDATES = 5_000
"""Above this many tasks, near matches of an unknown key are looked for among graph nodes only."""


@dataclass(frozen=True, slots=True)
class LineageNode:
    """A task in a lineage tree and the nodes of its inputs.

    ``index`` is the element of this task's result the downstream task took (a dynamic
    map's child), ``parameters`` the run's parameters at a task with no upstream task, and
    ``is_repeat`` marks a task already expanded earlier in the tree (its inputs omitted).
    """

    task: TaskRecord
    index: int | None
    inputs: tuple["LineageNode", ...]
    parameters: Mapping[str, Any] | None
    is_repeat: bool = False


@dataclass(frozen=True, slots=True)
class Lineage:
    """Where one task's result came from: a tree rooted at the task."""

    run_id: str
    flow: str
    parameters: Mapping[str, Any]
    root: LineageNode

    def nodes(self) -> Iterator[LineageNode]:
        """Every node of the tree in pre-order (a task before its inputs)."""
        stack = [self.root]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.inputs))

    def to_json(self) -> dict[str, Any]:
        """The lineage as a JSON object for programs: the tasks of the tree in pre-order,
        each expanded once with its inputs by task key (flat, so deep chains nest nothing)."""
        tasks = [
            {
                **record_json(node.task),
                "inputs": [{"task_key": given.task.key, "index": given.index} for given in node.inputs],
                "from_parameters": node.parameters is not None,
            }
            for node in self.nodes()
            if not node.is_repeat
        ]
        return {
            "run_id": self.run_id,
            "flow": self.flow,
            "task_key": self.root.task.key,
            "parameters": dict(self.parameters),
            "tasks": tasks,
        }


@dataclass(slots=True)
class _Frame:
    """A node being built: its inputs still to visit and the nodes built for the others."""

    given: TaskInput
    pending: Iterator[TaskInput]
    built: list[LineageNode] = field(default_factory=list)


def lineage(events: Sequence[Event], task_key: str) -> Lineage:
    """The lineage of ``task_key`` in the run whose events these are.

    Raises ``UnknownTaskKey`` (naming near matches) if the run has no such task.
    """
    record = record_run(events)
    view = record.view
    if task_key not in record.tasks:
        raise UnknownTaskKey(view.run_id, task_key, _near(record, task_key))
    return Lineage(view.run_id, view.flow, view.parameters, _tree(record, task_key))


def _tree(record: RunRecord, task_key: str) -> LineageNode:
    """Build the tree depth first without recursion (a long chain must not hit the limit)."""
    parameters = record.view.parameters
    seen = {task_key}
    stack = [_Frame(TaskInput(task_key), iter(record.inputs(task_key)))]
    while True:
        frame = stack[-1]
        given = next(frame.pending, None)
        if given is None:
            stack.pop()
            node = LineageNode(
                task=record.tasks[frame.given.task_key],
                index=frame.given.index,
                inputs=tuple(frame.built),
                parameters=None if frame.built else parameters,
            )
            if not stack:
                return node
            stack[-1].built.append(node)
        elif given.task_key in seen:
            repeat = LineageNode(record.tasks[given.task_key], given.index, (), None, is_repeat=True)
            frame.built.append(repeat)
        else:
            seen.add(given.task_key)
            stack.append(_Frame(given, iter(record.inputs(given.task_key))))


def _near(record: RunRecord, task_key: str) -> list[str]:
    keys = list(record.tasks)
    if len(keys) > NEAR_MATCH_CANDIDATES:
        keys = list(record.view.graph.nodes)
    return difflib.get_close_matches(task_key, keys, n=NEAR_MATCHES)
