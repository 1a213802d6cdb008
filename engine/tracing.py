"""Tracing a flow body: task calls return placeholders and are recorded as graph nodes."""

from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..executors.invocation import Upstream
from .errors import FlowDefinitionError
from .graph import RESULT_REF, Graph, TaskNode, Trigger

if TYPE_CHECKING:
    from .task import Task


@dataclass(frozen=True, slots=True)
class TaskResult:
    """The future result of one task call (or of a whole dynamic map) inside a flow body."""

    key: str
    is_dynamic_map: bool = False

    def __iter__(self) -> Iterator[Any]:
        raise FlowDefinitionError(
            f"the result of {self.key!r} is not known while the flow is traced; "
            f"pass it to a task or map over it with task.map(...)"
        )

    def __bool__(self) -> bool:
        raise FlowDefinitionError(
            f"the result of {self.key!r} cannot be tested while the flow is traced; "
            "branch inside a task instead (the flow body must be deterministic)"
        )


class MappedResult(list[TaskResult]):
    """The results of a static map: a list of placeholders, one per child."""


@dataclass(frozen=True, slots=True)
class Unmapped:
    """Marks an argument of ``.map`` that every child receives whole."""

    value: Any


def unmapped(value: Any) -> Unmapped:
    """Pass ``value`` whole to every child of a ``.map`` call."""
    return Unmapped(value)


@dataclass(frozen=True, slots=True)
class MapSpec:
    """Which arguments of a dynamic map are mapped over (positions and names)."""

    args: tuple[int, ...]
    kwargs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TaskCall:
    """A traced task call: arguments hold ``Upstream`` placeholders for task results."""

    task: "Task[..., Any]"
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    map_spec: MapSpec | None = None


@dataclass
class Tracer:
    """Collects the task calls of one flow body."""

    nodes: dict[str, TaskNode] = field(default_factory=dict)
    calls: dict[str, TaskCall] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def next_key(self, name: str) -> str:
        """``name`` for the first use of a task, then ``name-1``, ``name-2``..."""
        count = self.counts.get(name, 0)
        self.counts[name] = count + 1
        return name if count == 0 else f"{name}-{count}"

    def add(
        self, key: str, call: TaskCall, trigger: Trigger, map_over: tuple[str, ...] | None = None
    ) -> None:
        """Record a node for ``call`` whose upstreams are the placeholders in its arguments."""
        values = (*call.args, *call.kwargs.values())
        if all(type(value) in _SCALARS for value in values):  # e.g. a mapped child
            upstream: tuple[str, ...] = ()
        else:
            upstream = tuple(dict.fromkeys(_upstream_keys(values)))
        self.nodes[key] = TaskNode(
            key=key, task=call.task.name, upstream=upstream, trigger=trigger, map_over=map_over
        )
        self.calls[key] = call

    def graph(self, returned: Any) -> Graph:
        """The graph of the traced body, with the flow's result structure."""
        return Graph(nodes=dict(self.nodes), result=result_structure(returned))


current_tracer: ContextVar[Tracer | None] = ContextVar("ledgerflow_tracer", default=None)


_SCALARS = frozenset({int, float, str, bool, bytes, type(None)})


def to_arguments(value: Any) -> Any:
    """Replace placeholders by ``Upstream`` markers, recursively in lists, tuples and dicts."""
    if type(value) in _SCALARS:
        return value
    if isinstance(value, TaskResult):
        return Upstream(value.key)
    if isinstance(value, Unmapped):
        raise FlowDefinitionError("lf.unmapped(...) is only meaningful in a .map(...) call")
    if isinstance(value, list):
        return [to_arguments(item) for item in value]
    if isinstance(value, tuple):
        return tuple(to_arguments(item) for item in value)
    if isinstance(value, dict):
        return {key: to_arguments(item) for key, item in value.items()}
    return value


def _upstream_keys(value: Any) -> list[str]:
    """Task keys of the ``Upstream`` markers in a nested structure, in order."""
    found: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Upstream):
            found.append(item.task_key)
        elif isinstance(item, list | tuple):
            stack.extend(reversed(item))
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
    return found


def result_structure(value: Any) -> Any:
    """The flow's return value as JSON-able data with ``{"$task": key}`` references."""
    if isinstance(value, TaskResult):
        return {RESULT_REF: value.key}
    if isinstance(value, list | tuple):
        return [result_structure(item) for item in value]
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise FlowDefinitionError("a flow may return a dict only with string keys")
        return {key: result_structure(item) for key, item in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise FlowDefinitionError(
        f"a flow returns task results, or lists/dicts of them and plain JSON values; "
        f"got {type(value).__name__}"
    )
