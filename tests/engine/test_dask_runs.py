"""Runs on a Dask LocalCluster with worker processes, on SQLite and PostgreSQL."""

import sys
from pathlib import Path
from typing import Any

import cloudpickle
import distributed

import ledgerflow as lf
from ledgerflow.engine.core.fold import fold

from . import flows

# pytest imports the tests under a name the workers cannot import: send them by value.
cloudpickle.register_pickle_by_value(flows)
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def test_maps_and_results_on_dask(dask_engine: lf.Engine) -> None:
    run = dask_engine.run(flows.mapped_twice, n=5, offset=1)
    assert run.result() == {"again": [2, 3, 4, 5, 6], "sum": 20}
    assert fold(dask_engine.events(run.id)).tasks == run.view.tasks
    assert dask_engine.verify(run.id).ok


def test_failures_retries_and_result_store_on_dask(dask_engine: lf.Engine) -> None:
    failed = dask_engine.run(flows.failing)
    assert failed.state == "FAILED" and failed.tasks["cleanup"].state == "SUCCEEDED"
    retried = dask_engine.run(flows.retrying, x=3)
    assert retried.result() == 3 and retried.tasks["flaky"].attempts == 3
    stored = dask_engine.run(flows.results_of_every_kind)
    assert stored.result()["pickled"] == {(1, 2): {"a set", "of strings"}}


def test_tasks_run_on_the_workers(dask_engine: lf.Engine, dask_client: distributed.Client) -> None:
    run = dask_engine.run(where)
    worker_addresses = set(dask_client.scheduler_info()["workers"])
    assert run.tasks["worker_pid"].state == "SUCCEEDED"
    succeeded = [e for e in dask_engine.events(run.id) if e.type == "task.succeeded"]
    assert {e.payload["worker"] for e in succeeded} <= worker_addresses


@lf.task
def worker_pid() -> int:
    import os

    return os.getpid()


@lf.task(resources={"MEMORY": 10})
def heavy(x: int) -> str:
    return distributed.get_worker().address


@lf.task(resources={"GPU": 1})
def needs_gpu() -> str:
    return "never"


@lf.flow
def where() -> Any:
    return {"pid": worker_pid()}


@lf.flow
def routed() -> Any:
    return heavy(1)


@lf.flow
def unroutable() -> Any:
    return needs_gpu()


def test_resources_become_dask_worker_resources(tmp_path: Path) -> None:
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0",
            resources={"MEMORY": 100},
        ) as cluster,
        distributed.Client(cluster) as client,
        lf.Engine(None, lf.DaskExecutor(client=client, resource_timeout=2), home=tmp_path) as engine,
    ):
        run = engine.run(routed)
        assert run.result() in set(client.scheduler_info()["workers"])
        missing = engine.run(unroutable)
        error = missing.tasks["needs_gpu"].error
        assert missing.state == "FAILED" and error is not None
        assert error["type"] == "ledgerflow.NoWorkerForResources" and "GPU" in error["message"]
