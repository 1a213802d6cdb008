"""The context of the task attempt running in this thread: ``lf.context()``."""

from contextvars import ContextVar
from dataclasses import dataclass

from ..errors import LedgerflowError


@dataclass(frozen=True, slots=True)
class TaskContext:
    """Who is running: readable by a task body for idempotent side effects."""

    run_id: str
    task_key: str
    attempt: int

    @property
    def idempotency_key(self) -> str:
        """``run_id:task_key:attempt``: unique to this attempt."""
        return f"{self.run_id}:{self.task_key}:{self.attempt}"


current_task: ContextVar[TaskContext | None] = ContextVar("ledgerflow_task", default=None)


class NoTaskContext(LedgerflowError):
    """``lf.context()`` was called outside a running task."""


def context() -> TaskContext:
    """The context of the running task attempt; raises ``NoTaskContext`` outside a task."""
    found = current_task.get()
    if found is None:
        raise NoTaskContext("lf.context() is only available inside a running task")
    return found
