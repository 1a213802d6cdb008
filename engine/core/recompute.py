"""Which succeeded tasks a new drive runs again because their results were not persisted.

A result kept only in executor memory (``persist_result=False``) is gone once the drive that
computed it ends. When a drive starts (start, resume, restart, a worker's claim), each such
task whose result a task that will still run needs, or that the flow returns, runs again:
it is re-opened (``task.pending``, reason ``RESULT_NOT_PERSISTED``), and so, in turn, are
the unpersisted results it needs itself. A task needing one that the log shows RUNNING (its
attempt orphaned by the dead driver) or RETRYING goes back to PENDING (``INPUT_NOT_PERSISTED``)
and waits for it as usual. Pure: decided from the graph and the folded state.
"""

from collections.abc import Iterable, Mapping
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
    """What a new drive re-opens: ``producers`` (task key -> the tasks that need its result,
    in the state's order; empty if only the flow returns it), ``returned`` (those the flow
    returns), and ``waiting`` (RUNNING or RETRYING task -> the re-opened results it needs)."""

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
            (key, {"reason": INPUT_NOT_PERSISTED, "upstream": list(upstream[:MAX_NAMED])})
            for key, upstream in self.waiting.items()
        ]
        return found


def recomputation(graph: Graph, state: RunView) -> Recomputation:
    """The tasks a drive starting on ``state`` re-opens because results it needs are lost."""
    if all(is_persisted(task.result) for task in state.tasks.values()):
        return Recomputation()  # the usual case: one pass, nothing to do
    needs = _NeedsOf(graph, state)
    returned = {key for ref in result_refs(graph.result) for key in needs.lost_in(ref)}
    needed_by: dict[str, list[str]] = {key: [] for key in returned}
    runs = [key for key, task in state.tasks.items() if task.state in _WILL_RUN] + sorted(returned)
    while runs:
        key = runs.pop()
        for upstream in needs.lost_inputs(key):
            if upstream not in needed_by:
                needed_by[upstream] = []
                runs.append(upstream)  # it runs again: what it needs must be there too
            needed_by[upstream].append(key)
    order = list(state.tasks)
    position = {key: index for index, key in enumerate(order)}
    producers = {key: _ordered(needed_by[key], position) for key in order if key in needed_by}
    waiting = {
        key: lost
        for key in order
        if state.tasks[key].state in _WAITS_AGAIN and (lost := _ordered(needs.lost_inputs(key), position))
    }
    return Recomputation(producers, frozenset(returned), waiting)


class _NeedsOf:
    """Which task results each task of the run takes, and which of them are lost."""

    def __init__(self, graph: Graph, state: RunView) -> None:
        self._graph = graph
        self._state = state

    def is_lost(self, key: str) -> bool:
        """A succeeded task whose result lived only in the memory of an earlier drive."""
        task = self._state.tasks[key]
        return task.state is TaskState.SUCCEEDED and not is_persisted(task.result)

    def lost_in(self, key: str) -> list[str]:
        """The lost results among those that make up ``key``'s (a mapped task's: its children's)."""
        task = self._state.tasks[key]
        if task.state is TaskState.MAPPED:
            return [child.key for child in self._state.children(key) if self.is_lost(child.key)]
        return [key] if self.is_lost(key) else []

    def lost_inputs(self, key: str) -> list[str]:
        """The lost results task ``key`` takes (a mapped child: its parent node's inputs)."""
        parent = self._state.tasks[key].parent
        node = self._graph.nodes[parent if parent is not None else key]
        return [lost for upstream in node.upstream for lost in self.lost_in(upstream)]


def _ordered(keys: Iterable[str], position: Mapping[str, int]) -> tuple[str, ...]:
    return tuple(sorted(set(keys), key=position.__getitem__))


def _producer_payload(needed_by: tuple[str, ...], is_returned: bool) -> dict[str, Any]:
    payload: dict[str, Any] = {"reason": RESULT_NOT_PERSISTED, "needed_by": list(needed_by[:MAX_NAMED])}
    if is_returned:
        payload["flow_result"] = True
    return payload
