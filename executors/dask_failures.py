"""The FAILED outcomes the Dask executor gives when Dask, not the task body, failed."""

from concurrent.futures import CancelledError
from datetime import datetime

from distributed.scheduler import KilledWorker

from .body import error_info, failed_outcome, qualified_name
from .invocation import ErrorInfo, Outcome

# Dask-level failures that say nothing about the task itself: worth another attempt.
RETRYABLE_FAILURES = (KilledWorker, CancelledError, OSError, TimeoutError)


def not_serializable(task_key: str, attempt: int, exc: Exception, started_at: datetime) -> Outcome:
    info = error_info(exc)
    message = (
        f"task {task_key!r} cannot be sent to the Dask workers: its function "
        f"or arguments cannot be pickled ({info.message})"
    )
    error = ErrorInfo("ledgerflow.InvocationNotSerializable", message, info.traceback)
    return failed_outcome(
        task_key, attempt, error, is_retryable=False, started_at=started_at, worker=None
    )


def dask_failure(task_key: str, attempt: int, exc: BaseException, started_at: datetime) -> Outcome:
    """A FAILED outcome for a Dask-level failure (worker died, cancelled, comm error)."""
    if isinstance(exc, KilledWorker):
        reason = "the Dask workers running it died (KilledWorker)"
    elif isinstance(exc, CancelledError):
        reason = "its Dask task was cancelled"
    else:
        reason = "Dask could not run it"
    info = error_info(exc)
    message = f"task {task_key!r}: {reason}: {info.message}"
    return failed_outcome(
        task_key,
        attempt,
        ErrorInfo(qualified_name(type(exc)), message, info.traceback),
        is_retryable=isinstance(exc, RETRYABLE_FAILURES),
        started_at=started_at,
        worker=None,
    )
