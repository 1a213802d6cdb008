"""Which succeeded tasks a new drive runs again because their results were not persisted.

A result kept only in executor memory (``persist_result=False``) is gone once the drive that
computed it ends. When a drive starts (start, resume, restart, a worker's claim), each such
task whose result a task that will still run needs, or that the flow returns, runs again:
it is re-opened (``task.pending``, reason ``RESULT_NOT_PERSISTED``), and so, in turn, are
the unpersisted results it needs itself. A task needing one that the log shows RUNNING (its
attempt orphaned by the dead driver) or RETRYING goes back to PENDING (``INPUT_NOT_PERSISTED``)
and waits for it as usual. Pure: decided from the graph and the folded state.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .events import is_persisted
from .fold import RunView
from .graph import Graph, result_refs
from .states import TaskState

RESULT_NOT_PERSISTED = "result not persisted"
"""The reason of the ``task.pending`` that runs a task again for its unpersisted result."""
INPUT_NOT_PERSISTED = "input not persisted"
"""The reason of the ``task.pending`` of a task that waits again for such a result."""
MAX_NAMED = 10
"""At most this many task keys are named in one payload (a map may have thousands)."""

_WILL_RUN = frozenset({TaskState.PENDING, TaskState.RUNNING, TaskState.RETRYING})
_WAITS_AGAIN = frozenset({TaskState.RUNNING, TaskState.RETRYING})


@dataclass(frozen=True, slots=True)
class Recomputation:
    """What a new drive re-opens: ``producers`` (task key -> the first tasks, in the state's
    order, that need its result; none if only the flow returns it), ``returned`` (those the
    flow returns), and ``waiting`` (RUNNING or RETRYING task -> the re-opened results it takes).
    At most ``MAX_NAMED`` keys each: a map may have thousands."""

    producers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    returned: frozenset[str] = frozenset()
    waiting: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def events(self) -> list[tuple[str, dict[str, Any]]]:
        """The ``task.pending`` payloads to record, by task key: producers, then the waiting."""
        found = [
            (key, _producer_payload(needed_by, key in self.returned))
            for key, needed_by in self.producers.items()
        ]
        found += [
            (key, {"reason": INPUT_NOT_PERSISTED, "upstream": list(upstream)})
            for key, upstream in self.waiting.items()
        ]
        return found


def recomputation(graph: Graph, state: RunView) -> Recomputation:
    """The tasks a drive starting on ``state`` re-opens because results it needs are lost.

    Tasks of one node (a dynamic map's children) take the same inputs: each node is looked at
    once, so a map over a map of thousands of lost results stays linear.
    """
    if all(is_persisted(task.result) for task in state.tasks.values()):
        return Recomputation()  # the usual case: one pass, nothing to do
    needs = _NeedsOf(graph, state)
    returned = dict.fromkeys(key for ref in result_refs(graph.result) for key in needs.lost_in(ref))
    reopened = set(returned)
    consumers: dict[str, list[str]] = {}  # node -> its tasks that will run (again)
    stack = list(returned)
    for key, task in state.tasks.items():
        if task.state in _WILL_RUN:
            consumers.setdefault(needs.node_of(key), []).append(key)
    for node in list(consumers):
        stack += needs.reopen(node, reopened)
    while stack:  # a re-opened task needs its own inputs too
        key = stack.pop()
        node = needs.node_of(key)
        if node not in consumers:
            stack += needs.reopen(node, reopened)
        consumers.setdefault(node, []).append(key)
    position = {key: index for index, key in enumerate(state.tasks)}
    needed_by: dict[str, list[str]] = {}
    for node, keys in consumers.items():
        first = sorted(keys, key=position.__getitem__)[:MAX_NAMED]
        for lost in needs.lost_inputs(node):
            needed_by.setdefault(lost, []).extend(first)
    producers = {
        key: tuple(sorted(set(needed_by.get(key, ())), key=position.__getitem__)[:MAX_NAMED])
        for key in state.tasks
        if key in reopened
    }
    waiting = {
        key: taken[:MAX_NAMED]
        for key, task in state.tasks.items()
        if task.state in _WAITS_AGAIN and (taken := needs.lost_inputs(needs.node_of(key)))
    }
    return Recomputation(producers, frozenset(returned), waiting)


class _NeedsOf:
    """Which lost results each node of the run takes (computed once per node)."""

    def __init__(self, graph: Graph, state: RunView) -> None:
        self._graph = graph
        self._state = state
        self._lost_in: dict[str, tuple[str, ...]] = {}
        self._inputs: dict[str, tuple[str, ...]] = {}

    def node_of(self, key: str) -> str:
        """The graph node of a task (a mapped child's: its parent's)."""
        parent = self._state.tasks[key].parent
        return parent if parent is not None else key

    def lost_in(self, key: str) -> tuple[str, ...]:
        """The lost results among those that make up ``key``'s (a mapped task's: its children's):
        succeeded tasks whose results lived only in the memory of an earlier drive."""
        found = self._lost_in.get(key)
        if found is None:
            task = self._state.tasks[key]
            values = self._state.children(key) if task.state is TaskState.MAPPED else [task]
            found = self._lost_in[key] = tuple(
                value.key
                for value in values
                if value.state is TaskState.SUCCEEDED and not is_persisted(value.result)
            )
        return found

    def lost_inputs(self, node: str) -> tuple[str, ...]:
        """The lost results the tasks of ``node`` take, in the order of its upstreams."""
        found = self._inputs.get(node)
        if found is None:
            upstream = self._graph.nodes[node].upstream
            found = self._inputs[node] = tuple(dict.fromkeys(k for up in upstream for k in self.lost_in(up)))
        return found

    def reopen(self, node: str, reopened: set[str]) -> list[str]:
        """The lost inputs of ``node`` not re-opened yet; adds them to ``reopened``."""
        new = [key for key in self.lost_inputs(node) if key not in reopened]
        reopened.update(new)
        return new


def _producer_payload(needed_by: tuple[str, ...], is_returned: bool) -> dict[str, Any]:
    payload: dict[str, Any] = {"reason": RESULT_NOT_PERSISTED, "needed_by": list(needed_by)}
    if is_returned:
        payload["flow_result"] = True
    return payload
