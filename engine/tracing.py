"""Tracing a flow body: task calls return placeholders and are recorded as graph nodes."""

from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..executors.invocation import Upstream
from ..executors.structure import WALK, instances, rebuilt
from .core.graph import RESULT_REF, Graph, TaskNode, Trigger
from .errors import FlowDefinitionError

if TYPE_CHECKING:
    from .task import Task


@dataclass(frozen=True, slots=True)
class TaskResult:
    """The future result of one task call (or of a whole dynamic map) inside a flow body.

    Using it as a value (arithmetic, comparison, ``if``, ``len``, indexing, iteration,
    attributes) raises ``FlowDefinitionError``: the value is not known while tracing.
    """

    key: str
    is_dynamic_map: bool = False

    def __iter__(self) -> Iterator[Any]:
        raise _used_as_value(self, "iteration")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # protocols probe for these: answer as any object does
            raise AttributeError(name)
        raise _used_as_value(self, f"attribute .{name}")

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TaskResult):
            return self.key == other.key and self.is_dynamic_map == other.is_dynamic_map
        raise _used_as_value(self, "comparison")

    def __ne__(self, other: object) -> bool:
        if isinstance(other, TaskResult):
            return not self == other
        raise _used_as_value(self, "comparison")

    def __hash__(self) -> int:
        return hash((self.key, self.is_dynamic_map))


class TaskResultUsedAsValue(FlowDefinitionError, AttributeError):
    """A flow body used a task call's placeholder as if it were the task's result."""


def _used_as_value(result: TaskResult, use: str) -> TaskResultUsedAsValue:
    """The error for a flow body that used a task result as a value (e.g. ``a + 1``)."""
    hint = ", or map over it with task.map(...)" if result.is_dynamic_map else ""
    return TaskResultUsedAsValue(
        f"the result of task {result.key!r} is used as a value in the flow body ({use}): "
        "task calls return placeholders while the flow is traced; do this work in a task "
        f"that takes the result as an argument{hint}"
    )


def _refuse(use: str) -> Callable[..., Any]:
    def refused(self: TaskResult, *args: Any) -> Any:
        raise _used_as_value(self, use)

    return refused


_OPERATORS = {
    "add": "+", "sub": "-", "mul": "*", "matmul": "@", "truediv": "/", "floordiv": "//",
    "mod": "%", "pow": "**", "lshift": "<<", "rshift": ">>", "and": "&", "xor": "^", "or": "|",
}  # fmt: skip
_OTHER_USES = {
    "__lt__": "comparison", "__le__": "comparison", "__gt__": "comparison",
    "__ge__": "comparison", "__neg__": "operator -", "__pos__": "operator +",
    "__invert__": "operator ~", "__abs__": "abs()", "__divmod__": "divmod()",
    "__rdivmod__": "divmod()", "__bool__": "truth test: if, and, or, not", "__len__": "len()",
    "__getitem__": "indexing", "__setitem__": "item assignment", "__delitem__": "item deletion",
    "__contains__": "membership test: in", "__reversed__": "reversed()", "__int__": "int()",
    "__float__": "float()", "__complex__": "complex()", "__index__": "use as an integer",
    "__round__": "round()", "__trunc__": "math.trunc()", "__floor__": "math.floor()",
    "__ceil__": "math.ceil()",
}  # fmt: skip
for _name, _symbol in _OPERATORS.items():
    for _form in (f"__{_name}__", f"__r{_name}__", f"__i{_name}__"):
        setattr(TaskResult, _form, _refuse(f"operator {_symbol}"))
for _form, _use in _OTHER_USES.items():
    setattr(TaskResult, _form, _refuse(_use))


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
            upstream = tuple(dict.fromkeys(marker.task_key for marker in instances(values, Upstream)))
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
    """Replace placeholders by ``Upstream`` markers, at any depth (see ``executors.structure``)."""
    kind = type(value)
    if (kind is tuple and all(type(item) in _SCALARS for item in value)) or (
        kind is dict and all(type(item) in _SCALARS for item in value.values())
    ):  # e.g. a mapped child's: nothing to replace (a dict is rebuilt as a dict of its own)
        return value if kind is tuple else dict(value)
    return rebuilt(value, _as_marker)


def _as_marker(value: Any) -> Any:
    if isinstance(value, TaskResult):
        return Upstream(value.key)
    if isinstance(value, Unmapped):
        raise FlowDefinitionError("lf.unmapped(...) is only meaningful in a .map(...) call")
    if isinstance(value, MappedResult):  # the children's results reach a task as a plain list
        return [to_arguments(item) for item in value]
    return WALK


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
