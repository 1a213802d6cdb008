"""Arguments of a task attempt: a dynamic map child's share, and mapped parents' results."""

from collections.abc import Callable
from typing import Any

from ..executors.invocation import Upstream
from ..executors.structure import WALK, instances, rebuilt
from .core.events import is_persisted
from .core.fold import RunView
from .core.graph import child_key
from .core.states import TaskState
from .tracing import MapSpec, TaskCall

Loader = Callable[[str], Any]  # loads a task result by task key


def child_arguments(call: TaskCall, index: int) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The arguments of child ``index`` of a dynamic map: element ``index`` of each mapped one."""
    spec = call.map_spec
    assert spec is not None
    args = tuple(
        _element(arg, index) if position in spec.args else arg
        for position, arg in enumerate(call.args)
    )
    kwargs = {
        name: _element(value, index) if name in spec.kwargs else value
        for name, value in call.kwargs.items()
    }
    return args, kwargs


def _element(value: Any, index: int) -> Any:
    if isinstance(value, Upstream):
        return Upstream(value.task_key, index)
    return value[index]


def mapped_lengths(call: TaskCall, state: RunView, load: Loader) -> dict[str, int]:
    """The length of each mapped argument of a dynamic map (loading upstream results, unless
    their events record it)."""
    spec: MapSpec | None = call.map_spec
    assert spec is not None
    named = {**{f"#{i}": call.args[i] for i in spec.args}, **{k: call.kwargs[k] for k in spec.kwargs}}
    lengths: dict[str, int] = {}
    for name, value in named.items():
        if isinstance(value, Upstream):
            task = state.tasks[value.task_key]
            if task.state is TaskState.MAPPED:
                lengths[value.task_key] = task.map_count or 0
                continue
            if task.result is not None and "length" in task.result:  # a stored list's, recorded
                lengths[value.task_key] = task.result["length"]
                continue
            if not is_persisted(task.result):  # a list or tuple not persisted records its length
                raise TypeError(f"cannot map over the result of {task.key!r}: it is not a list")
            name, value = f"result of {task.key!r}", load(value.task_key)
        if not isinstance(value, list | tuple):
            raise TypeError(f"cannot map over {name}: it is a {type(value).__name__}, not a list")
        lengths[name] = len(value)
    return lengths


def expand_parents(value: Any, state: RunView) -> Any:
    """Replace references to mapped parents by references to their children."""

    def expanded(item: Any) -> Any:
        if not isinstance(item, Upstream):
            return WALK
        task = state.tasks.get(item.task_key)
        if task is None or task.state is not TaskState.MAPPED:
            return item
        if item.index is not None:
            return Upstream(child_key(item.task_key, item.index))
        return [expanded(Upstream(child.key)) for child in state.children(task.key)]

    return rebuilt(value, expanded)


def upstream_keys(value: Any) -> set[str]:
    """Task keys referenced by ``Upstream`` markers in a (nested) argument structure."""
    return {marker.task_key for marker in instances(value, Upstream)}
