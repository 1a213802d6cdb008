"""What only the Dask executor does: data on the workers, resources, unimportable code."""

import importlib.util
import os
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cloudpickle
import distributed
import pytest

from ledgerflow.executors import DaskExecutor, Invocation, OutcomeStatus, Upstream
from ledgerflow.executors.body import outcome_value
from ledgerflow.executors.dask_failures import dask_failure
from ledgerflow.executors.dask_results import OutcomeLost, taken_outcomes

cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture
def dask_executor(dask_client: distributed.Client) -> Iterator[DaskExecutor]:
    with DaskExecutor(client=dask_client, resource_timeout=1) as executor:
        yield executor


def pid() -> int:
    return os.getpid()


def same(value: Any) -> Any:
    return value


def dependencies(dask_scheduler: distributed.Scheduler) -> dict[str, list[str]]:
    return {
        str(key): [str(dep.key) for dep in task.dependencies] for key, task in dask_scheduler.tasks.items()
    }


def test_upstream_data_moves_worker_to_worker(
    dask_executor: DaskExecutor, dask_client: distributed.Client
) -> None:
    (upstream,) = dask_executor.submit_many([Invocation("run-d", "where", 1, pid, (), {})])
    inputs = {"where": upstream}
    downstream = Invocation("run-d", "echo", 1, same, (Upstream("where"),), {}, inputs=inputs)

    outcome = dask_executor.submit_many([downstream])[0].result(timeout=30)

    assert outcome_value(outcome) in set(dask_client.run(os.getpid).values())
    graph = dask_client.run_on_scheduler(dependencies)
    (echo_key,) = [key for key in graph if key.startswith("lf-echo-")]
    (where_key,) = graph[echo_key]
    assert where_key.startswith("lf-where-")  # the Dask task read the upstream future
    assert f"{echo_key}-light" not in graph  # no object store: no follower stripping values
    dask_executor.release("run-d")


def test_a_released_upstream_still_feeds_its_downstream(dask_executor: DaskExecutor) -> None:
    (upstream,) = dask_executor.submit_many([Invocation("run-r", "v", 1, same, (5,), {})])
    upstream.result(timeout=30)
    dask_executor.release("run-r")
    inputs = {"v": upstream}
    downstream = Invocation("run-r", "w", 1, same, ([Upstream("v")],), {}, inputs=inputs)

    assert outcome_value(dask_executor.submit_many([downstream])[0].result(timeout=30)) == [5]


def test_unknown_resource_fails_after_the_bounded_wait(dask_executor: DaskExecutor) -> None:
    invocations = [Invocation("run-g", f"gpu[{i}]", 1, pid, (), {}, resources={"GPU": 2}) for i in range(5)]

    # Two go first (a function not measured yet probes singly); the others wait for a probe
    # to end, given up for lack of resources here, and then wait for resources themselves.
    outcomes = [future.result(timeout=20) for future in dask_executor.submit_many(invocations)]

    for outcome in outcomes:
        assert outcome.status is OutcomeStatus.FAILED
        assert outcome.error is not None
        assert outcome.error.type == "ledgerflow.NoWorkerForResources"
        assert "GPU=2" in outcome.error.message and "workers offer" in outcome.error.message


def test_a_function_the_workers_cannot_import_fails_cleanly(
    dask_executor: DaskExecutor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "lf_driver_only.py"
    path.write_text("def triple(x):\n    return 3 * x\n")
    spec = importlib.util.spec_from_file_location("lf_driver_only", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "lf_driver_only", module)  # in the driver only
    spec.loader.exec_module(module)
    invocations = [Invocation("run-i", f"t[{i}]", 1, module.triple, (i,), {}) for i in (1, 2)]

    outcomes = [future.result(timeout=30) for future in dask_executor.submit_many(invocations)]

    for outcome, key in zip(outcomes, ["t[1]", "t[2]"], strict=True):
        assert outcome.status is OutcomeStatus.FAILED and outcome.task_key == key
        assert outcome.error is not None
        assert outcome.error.type == "ledgerflow.FunctionNotImportable"
        assert "lf_driver_only" in outcome.error.message
        assert not outcome.is_retryable and not outcome.has_run  # no body ran: no body times
    dask_executor.release("run-i")


def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def test_a_small_run_overtakes_the_tasks_a_big_run_queued_before(dask_executor: DaskExecutor) -> None:
    naps = [Invocation("run-big", f"nap[{i}]", 1, nap, (0.025,), {}) for i in range(80)]
    big = dask_executor.submit_many(naps)
    big[0].result(timeout=60)  # the map is under way (and older than Dask's FIFO window)
    (small,) = dask_executor.submit_many([Invocation("run-small", "nap", 1, nap, (0.0,), {})])
    assert small.result(timeout=60).status is OutcomeStatus.SUCCEEDED
    done_first = sum(future.done() for future in big)
    # In Dask's order (first come, first served) the small task would wait for 6 of the 8
    # chunks of 10 (60 tasks); ahead of them, it waits only for those the workers hold.
    assert done_first <= 50, f"{done_first} of the big run's 80 tasks ended before the small run's one"
    assert all(future.result(timeout=60).status is OutcomeStatus.SUCCEEDED for future in big)


def test_a_finished_task_whose_reported_outcomes_are_gone_is_an_infrastructure_failure(
    dask_client: distributed.Client,
) -> None:
    taken = taken_outcomes(dask_client, ["lf-gone-0"])  # the scheduler has no such task
    assert isinstance(taken["lf-gone-0"], OutcomeLost)
    failure = dask_failure("gone", 1, taken["lf-gone-0"], datetime.now(UTC))
    assert failure.infrastructure and failure.is_retryable and failure.status is OutcomeStatus.FAILED
