"""One list of infrastructure failures: what the Dask executor reports as one is what the
engine retries beyond a task's own retries, and nothing else is."""

import asyncio
from concurrent.futures import CancelledError
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from distributed.client import FutureCancelledError
from distributed.comm.core import CommClosedError
from distributed.scheduler import KilledWorker

import ledgerflow as lf
from ledgerflow.engine.outcomes import INFRASTRUCTURE_RETRIES, record_outcome
from ledgerflow.engine.task import Task
from ledgerflow.executors.body import error_info, failed_outcome
from ledgerflow.executors.dask_failures import dask_failure

NOW = datetime(2026, 5, 1, tzinfo=UTC)
KILLED = KilledWorker("t", SimpleNamespace(address="tcp://w:1"), 3)
LOST: list[BaseException] = [
    KILLED,
    CommClosedError("in <TCP>: Stream is closed"),
    FutureCancelledError("lf-t", "cancelled"),
    CancelledError(),
    asyncio.CancelledError(),
    OSError("the client lost its scheduler"),
    ConnectionRefusedError("connect"),
    TimeoutError("no answer"),
]


@pytest.mark.parametrize("exc", LOST, ids=lambda exc: type(exc).__name__)
@pytest.mark.parametrize("retries", [0, 2])
def test_a_dask_level_failure_gets_bounded_infrastructure_retries(exc: BaseException, retries: int) -> None:
    task: Task[..., int] = lf.task(retries=retries)(lambda: 1)
    last = retries + INFRASTRUCTURE_RETRIES + 1
    for attempt in range(1, last):
        recording = record_outcome("r", task, dask_failure("t", attempt, exc, NOW), NOW)
        assert recording.type == "task.retrying"
        assert recording.payload.get("infrastructure", False) is (attempt > retries)
    assert record_outcome("r", task, dask_failure("t", last, exc, NOW), NOW).type == "task.failed"


def test_a_failure_of_dask_that_is_no_infrastructure_failure_is_not_retried() -> None:
    outcome = dask_failure("t", 1, RuntimeError("unexpected Dask result"), NOW)
    assert not outcome.is_retryable and not outcome.infrastructure
    assert record_outcome("r", lf.task(lambda: 1), outcome, NOW).type == "task.failed"


@pytest.mark.parametrize("exc", [OSError("disk full"), KILLED], ids=["OSError", "KilledWorker"])
def test_a_task_body_raising_the_same_type_is_no_infrastructure_failure(exc: BaseException) -> None:
    outcome = failed_outcome("t", 1, error_info(exc), is_retryable=True, started_at=NOW, worker="tcp://w:1")
    assert record_outcome("r", lf.task(lambda: 1), outcome, NOW).type == "task.failed"
