"""The context of the task attempt running in this thread: ``lf.context()``, and the
cancellation checkpoint ``lf.checkpoint()``."""

from contextvars import ContextVar
from dataclasses import dataclass

from ..engine.core.errors import LedgerflowError

# Runs cancelled in this process whose bodies may still run here (see ``ThreadExecutor``).
_cancelled_runs: set[str] = set()


class Cancelled(BaseException):
    """Raised by ``lf.checkpoint()`` in a task whose run was cancelled: the attempt ends
    CANCELLED, not FAILED, and is not retried.

    A ``BaseException`` (like ``asyncio.CancelledError``), so ``except Exception`` in a
    task body does not swallow it.
    """


CANCELLED_ERROR = f"{Cancelled.__module__}.{Cancelled.__qualname__}"
"""The ``ErrorInfo.type`` of an attempt that ended because its run was cancelled."""


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

    @property
    def cancelled(self) -> bool:
        """True once the run was cancelled (seen by bodies running in the driver's process,
        i.e. on the thread executor): the body should stop, e.g. by ``lf.checkpoint()``."""
        return self.run_id in _cancelled_runs


current_task: ContextVar[TaskContext | None] = ContextVar("ledgerflow_task", default=None)


class NoTaskContext(LedgerflowError):
    """``lf.context()`` was called outside a running task."""


def context() -> TaskContext:
    """The context of the running task attempt; raises ``NoTaskContext`` outside a task."""
    found = current_task.get()
    if found is None:
        raise NoTaskContext("lf.context() is only available inside a running task")
    return found


def checkpoint() -> None:
    """Raise ``Cancelled`` if the running task's run was cancelled; call it between steps
    of a long task body. Raises ``NoTaskContext`` outside a task."""
    found = current_task.get()
    if found is None:
        raise NoTaskContext("lf.checkpoint() is only available inside a running task")
    if found.run_id in _cancelled_runs:
        raise Cancelled(f"run {found.run_id} was cancelled (task {found.task_key!r})")


def mark_cancelled(run_id: str) -> None:
    """Let the run's bodies in this process see their run cancelled at their next checkpoint."""
    _cancelled_runs.add(run_id)


def forget_cancelled(run_id: str) -> None:
    """The run is no longer driven here: its next execution (a restart) starts uncancelled."""
    _cancelled_runs.discard(run_id)


def is_cancelled(run_id: str) -> bool:
    """True if the run was cancelled in this process and is still driven here."""
    return run_id in _cancelled_runs
