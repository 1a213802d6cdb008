"""Task and run states: one enum each, values equal to their names."""

from enum import StrEnum


class TaskState(StrEnum):
    """The state of one task in one run."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    RETRYING = "RETRYING"
    SUCCEEDED = "SUCCEEDED"
    CACHED = "CACHED"
    FAILED = "FAILED"
    UPSTREAM_FAILED = "UPSTREAM_FAILED"
    SKIPPED = "SKIPPED"
    CANCELLED = "CANCELLED"
    MAPPED = "MAPPED"

    @property
    def is_terminal(self) -> bool:
        """True for states a task stays in unless the run is restarted."""
        return self in TERMINAL_TASK_STATES

    @property
    def is_success(self) -> bool:
        """True for states whose result downstream tasks may consume."""
        return self in (TaskState.SUCCEEDED, TaskState.CACHED)


class RunState(StrEnum):
    """The state of a run."""

    SCHEDULED = "SCHEDULED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    CRASHED = "CRASHED"

    @property
    def is_terminal(self) -> bool:
        """True once the run has finished (it may still be restarted)."""
        return self in (RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED)


TERMINAL_TASK_STATES = frozenset(
    {
        TaskState.SUCCEEDED,
        TaskState.CACHED,
        TaskState.FAILED,
        TaskState.UPSTREAM_FAILED,
        TaskState.SKIPPED,
        TaskState.CANCELLED,
    }
)
