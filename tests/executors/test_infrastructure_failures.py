"""One list of infrastructure failures: what the Dask executor reports as one is what the
engine retries beyond a task's own retries, and nothing else is."""

import asyncio
from concurrent.futures import CancelledError
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from distributed.client import FutureCancelledError
from distributed.comm.core import CommClosedError
from distributed.scheduler import KilledWorker

import ledgerflow as lf
from ledgerflow.engine.core.attempt_endings import INFRASTRUCTURE_RETRIES, ending_event
from ledgerflow.engine.core.events import EventType
from ledgerflow.engine.core.policy import TaskPolicy
from ledgerflow.engine.runtime.outcomes import attempt_ended
from ledgerflow.engine.task import Task
from ledgerflow.executors.body import error_info, failed_outcome
from ledgerflow.executors.dask_failures import dask_failure
from ledgerflow.executors.invocation import Outcome
from ledgerflow.results.sinks import INLINE_LIMIT

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


def recorded(task: Task[..., int], outcome: Outcome) -> tuple[EventType, dict[str, Any]]:
    """The event the engine records for the outcome of an attempt of ``task``."""
    return ending_event(
        attempt_ended("r", outcome, INLINE_LIMIT, str)[0], TaskPolicy(task.retry), NOW, cancel_reason=None
    )


@pytest.mark.parametrize("exc", LOST, ids=lambda exc: type(exc).__name__)
@pytest.mark.parametrize("retries", [0, 2])
def test_a_dask_level_failure_gets_bounded_infrastructure_retries(exc: BaseException, retries: int) -> None:
    task: Task[..., int] = lf.task(retries=retries)(lambda: 1)
    last = retries + INFRASTRUCTURE_RETRIES + 1
    for attempt in range(1, last):
        type_, payload = recorded(task, dask_failure("t", attempt, exc, NOW))
        assert type_ == "task.retrying"
        assert payload.get("infrastructure", False) is (attempt > retries)
    assert recorded(task, dask_failure("t", last, exc, NOW))[0] == "task.failed"


def test_a_failure_of_dask_that_is_no_infrastructure_failure_is_not_retried() -> None:
    outcome = dask_failure("t", 1, RuntimeError("unexpected Dask result"), NOW)
    assert not outcome.is_retryable and not outcome.infrastructure
    assert recorded(lf.task(lambda: 1), outcome)[0] == "task.failed"


@pytest.mark.parametrize("exc", [OSError("disk full"), KILLED], ids=["OSError", "KilledWorker"])
def test_a_task_body_raising_the_same_type_is_no_infrastructure_failure(exc: BaseException) -> None:
    outcome = failed_outcome("t", 1, error_info(exc), is_retryable=True, started_at=NOW, worker="tcp://w:1")
    assert recorded(lf.task(lambda: 1), outcome)[0] == "task.failed"


def test_an_ending_records_the_bodys_times_only_if_it_ran_and_a_lost_worker_by_name() -> None:
    ran = failed_outcome(
        "t", 1, error_info(ValueError()), is_retryable=False, started_at=NOW, worker="w", has_run=True
    )
    _, payload = recorded(lf.task(lambda: 1), ran)
    assert payload["started_at"] == "2026-05-01T00:00:00.000000+00:00"
    assert payload["finished_at"] == ran.finished_at.isoformat(timespec="microseconds")
    _, lost = recorded(lf.task(lambda: 1), dask_failure("t", 1, KILLED, NOW))
    assert "started_at" not in lost and "finished_at" not in lost  # no body time is known
    assert lost["worker"] == "tcp://w:1" and lost["infrastructure"] is True
    assert "the Dask worker running it died (tcp://w:1)" in lost["error"]["message"]
