"""Which hook deliveries a run's log owes.

The log is the outbox: a delivery is owed for each (trigger event, hook) until a
``hook.sent`` or ``hook.failed`` names that trigger's seq and the hook. Triggers: a run's
``run.failed`` / ``run.succeeded`` (the flow's ``on_failure`` / ``on_success``), a task's
``task.failed`` / ``task.succeeded`` / ``task.retrying`` (its ``on_failure`` /
``on_success`` / ``on_retry``, and the flow's ``on_retry`` for every retry).
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .events import HOOK_RECORDS, Event, EventType

T = TypeVar("T")
U = TypeVar("U")


@dataclass(frozen=True, slots=True)
class Hooks(Generic[T]):
    """A flow's or a task's hooks (or their names), by when they fire."""

    on_failure: tuple[T, ...] = ()
    on_success: tuple[T, ...] = ()
    on_retry: tuple[T, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.on_failure or self.on_success or self.on_retry)

    def map(self, fn: Callable[[T], U]) -> "Hooks[U]":
        """The hooks with ``fn`` applied to each."""
        return Hooks(
            tuple(map(fn, self.on_failure)), tuple(map(fn, self.on_success)), tuple(map(fn, self.on_retry))
        )


HookNames = Hooks[str]
"""The names of a flow's or a task's hooks, as the log records them."""


_NO_HOOKS: Hooks[Any] = Hooks()


def hooks_of_task(tasks: Mapping[str, Hooks[T]], task_key: str) -> Hooks[T]:
    """A task's hooks in ``tasks`` (by graph node); a mapped child has its parent's."""
    return tasks.get(task_key) or tasks.get(task_key.rsplit("[", 1)[0]) or _NO_HOOKS


Owed = tuple[Event, str]
"""An owed delivery: the trigger event and the hook's name."""


class HookOutbox:
    """The deliveries a run's log owes, from the events it is given in log order."""

    def __init__(self, flow: HookNames, tasks: Mapping[str, HookNames]) -> None:
        """``flow``: the flow's hooks; ``tasks``: each graph node's (a mapped child uses its
        parent's)."""
        self._flow = flow
        self._tasks = tasks
        self.has_hooks = bool(flow) or any(tasks.values())
        self._owed: dict[tuple[int, str], Owed] = {}

    def add(self, events: Iterable[Event]) -> None:
        """Take in events of the log, in order: triggers owe deliveries, records settle them."""
        if not self.has_hooks:
            return
        for event in events:
            if event.type in HOOK_RECORDS:
                self._owed.pop((int(event.payload["trigger_seq"]), str(event.payload["hook"])), None)
                continue
            for hook in self._hooks_of(event):
                self._owed[(event.seq, hook)] = (event, hook)

    def take(self) -> list[Owed]:
        """The owed deliveries, in log order; the outbox forgets them."""
        owed = [self._owed[key] for key in sorted(self._owed)]
        self._owed.clear()
        return owed

    def __bool__(self) -> bool:
        return bool(self._owed)

    def _hooks_of(self, event: Event) -> tuple[str, ...]:
        flow = self._flow
        if event.task_key is None:
            if event.type == EventType.RUN_FAILED:
                return flow.on_failure
            return flow.on_success if event.type == EventType.RUN_SUCCEEDED else ()
        task = hooks_of_task(self._tasks, event.task_key)
        if event.type == EventType.TASK_FAILED:
            return task.on_failure
        if event.type == EventType.TASK_SUCCEEDED:
            return task.on_success
        return (*task.on_retry, *flow.on_retry) if event.type == EventType.TASK_RETRYING else ()
