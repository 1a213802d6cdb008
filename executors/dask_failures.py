"""The FAILED outcomes the Dask executor gives when Dask, not the task body, failed."""

import asyncio
import dataclasses
from concurrent.futures import CancelledError
from datetime import datetime

from distributed.scheduler import KilledWorker

from .body import error_info, failed_outcome, qualified_name
from .invocation import ErrorInfo, Outcome

INFRASTRUCTURE_FAILURES: tuple[type[BaseException], ...] = (
    KilledWorker,  # the workers running it died
    CancelledError,  # its future was cancelled (also distributed's FutureCancelledError)
    asyncio.CancelledError,
    OSError,  # a lost connection (distributed's CommClosedError), the scheduler unreachable
    TimeoutError,
)
"""The Dask-level failures that say nothing about the task itself: the one list of what
counts as an infrastructure failure. Such an attempt is retryable, and gets extra attempts
beyond the task's own retries (``engine.core.attempt_endings.INFRASTRUCTURE_RETRIES``)."""


def not_serializable(task_key: str, attempt: int, exc: Exception, started_at: datetime) -> Outcome:
    info = error_info(exc)
    message = (
        f"task {task_key!r} cannot be sent to the Dask workers: its function "
        f"or arguments cannot be pickled ({info.message})"
    )
    error = ErrorInfo("ledgerflow.InvocationNotSerializable", message, info.traceback)
    return failed_outcome(task_key, attempt, error, is_retryable=False, started_at=started_at, worker=None)


def dask_failure(
    task_key: str, attempt: int, exc: BaseException, started_at: datetime, batch: int = 1
) -> Outcome:
    """A FAILED outcome for a Dask-level failure (worker died, cancelled, comm error). A
    ``KilledWorker`` names the worker that died under it (the outcome's ``worker``); in a
    ``batch`` of bodies (one Dask task), which of them had run is not known."""
    info = error_info(exc)
    worker = None
    if isinstance(exc, KilledWorker):
        worker = str(getattr(exc.last_worker, "address", exc.last_worker))
        message = f"task {task_key!r} (attempt {attempt}): the Dask worker running it died ({worker})"
        if batch > 1:
            message += f", while it ran a batch of {batch} bodies of which this one may or may not have run"
    else:
        reason = "its Dask task was cancelled" if isinstance(exc, CancelledError) else "Dask could not run it"
        message = f"task {task_key!r}: {reason}: {info.message}"
    lost = isinstance(exc, INFRASTRUCTURE_FAILURES)
    outcome = failed_outcome(
        task_key,
        attempt,
        ErrorInfo(qualified_name(type(exc)), message, info.traceback),
        is_retryable=lost,
        started_at=started_at,
        worker=worker,
    )
    return dataclasses.replace(outcome, infrastructure=lost)
