"""Whether a task's result is persisted: the task's ``persist_result``, else its flow's.

A result that is not persisted lives only in executor memory: the log records its format,
size and sha256, downstream tasks of the same drive take it from memory, and a later drive
that needs it runs its task again (``engine/core/recompute.py``). Caching needs persisted
results (a cache hit hands out a stored result), so a task with a ``cache_key`` whose result
is not persisted is a flow definition error.
"""

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .errors import FlowDefinitionError

if TYPE_CHECKING:
    from .task import Task


def check_persistence(task: str, persist_result: bool | None, cache_key: Callable[..., Any] | None) -> None:
    """Refuse a task's own settings that cannot work together (raises ``FlowDefinitionError``);
    with ``persist_result=False``, a ``result_storage`` is simply unused."""
    if persist_result is not None and not isinstance(persist_result, bool):
        raise FlowDefinitionError(f"task {task!r}: persist_result must be True, False or None")
    if persist_result is False and cache_key is not None:
        raise FlowDefinitionError(_uncacheable(task, "it sets persist_result=False"))


def persists(task_setting: bool | None, flow_setting: bool) -> bool:
    """A task's effective setting: its own, else its flow's."""
    return flow_setting if task_setting is None else task_setting


def check_flow_tasks(flow: str, flow_setting: bool, tasks: Iterable["Task[..., Any]"]) -> None:
    """Refuse a cached task that inherits ``persist_result=False`` from its flow."""
    if flow_setting:
        return
    for task in tasks:
        if task.cache_key is not None and task.persist_result is None:
            raise FlowDefinitionError(_uncacheable(task.name, f"its flow {flow!r} sets persist_result=False"))


def _uncacheable(task: str, why: str) -> str:
    return (
        f"task {task!r} has a cache_key, but {why}: caching needs persisted results (a cache "
        "hit hands out the stored result); give the task persist_result=True or drop its cache_key"
    )
