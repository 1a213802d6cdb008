"""Flows end to end on in-memory storage (``memory://``): retries, caching, limits, cancel,
resume, schedules and a worker in the same process, on threads and on Dask."""

import secrets
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cloudpickle
import distributed
import pytest

import ledgerflow as lf
from ledgerflow.engine.core.events import NewEvent
from ledgerflow.engine.core.fold import fold

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # for the Dask workers

DEADLINE = 60.0  # seconds any wait here may take before the test fails
_started = threading.Event()
_failures: dict[str, int] = {}


@pytest.fixture(autouse=True)
def _fresh() -> None:
    _started.clear()
    _failures.clear()


@lf.task(retries=2, retry_delay=0.01, retry_on=(OSError,))
def fetch(x: int) -> int:
    """Fails its first attempt with a retryable error."""
    if lf.context().attempt == 1:
        raise OSError("flaky source")
    return x * 10


@lf.task(cache_key=lf.inputs_hash, tags=["warehouse"])
def load(value: int) -> dict[str, int]:
    return {"loaded": value}


@lf.flow
def pipeline(x: int = 4) -> Any:
    return load(fetch(x))


@lf.task
def spin(x: int) -> int:
    """Runs until its run is cancelled (sees it at a checkpoint)."""
    _started.set()
    while True:
        lf.checkpoint()
        threading.Event().wait(0.005)


@lf.flow
def spinning(x: int = 1) -> Any:
    return spin(x)


@lf.task
def double(x: int) -> int:
    return 2 * x


@lf.flow
def doubling(x: int = 21) -> Any:
    return double(x)


@pytest.fixture
def url() -> str:
    """A store of its own for each test, shared by the engines and workers that open it."""
    return f"memory://engine-test-{secrets.token_hex(6)}"


@pytest.fixture
def engine(url: str, tmp_path: Path) -> Iterator[lf.Engine]:
    with lf.Engine(url, executor="threads", home=tmp_path) as opened:
        yield opened


def check_pipeline(engine: lf.Engine) -> None:
    engine.set_limit("warehouse", 1)
    run = engine.run(pipeline, x=4)
    assert run.state == "SUCCEEDED" and run.result() == {"loaded": 40}
    assert run.tasks["fetch"].attempts == 2 and run.tasks["load"].state == "SUCCEEDED"
    again = engine.run(pipeline, x=4)
    assert again.tasks["load"].state == "CACHED" and again.result() == {"loaded": 40}
    assert engine.verify(run.id).ok and engine.verify(again.id).ok
    assert [usage.in_use for usage in engine.limits()] == [0]  # every slot given back


def test_a_flow_with_a_retry_a_cached_task_and_a_limit_runs_on_threads(engine: lf.Engine) -> None:
    check_pipeline(engine)


def test_the_same_flow_runs_on_dask(url: str, tmp_path: Path, dask_client: distributed.Client) -> None:
    with lf.Engine(url, lf.DaskExecutor(client=dask_client), home=tmp_path) as engine:
        check_pipeline(engine)


def test_memory_without_a_name_is_private_to_each_open(tmp_path: Path) -> None:
    with lf.Engine("memory://", home=tmp_path) as first, lf.Engine("memory://", home=tmp_path) as second:
        run = first.run(doubling)
        assert run.result() == 42
        assert [summary.id for summary in first.runs()] == [run.id]
        assert second.runs() == []


def test_cancel_from_another_engine_on_the_same_store(url: str, tmp_path: Path, engine: lf.Engine) -> None:
    with ThreadPoolExecutor(1) as pool, lf.Engine(url, home=tmp_path) as other:
        driving = pool.submit(engine.run, spinning)
        assert _started.wait(DEADLINE), "the task never started"
        run_id = engine.runs()[0].id
        report = other.cancel(run_id, reason="enough", wait=True)
        assert report.is_cancelled
        assert driving.result(timeout=DEADLINE).state == "CANCELLED"
    assert other.storage.cancel_requests.get(run_id) is None


def test_a_run_whose_driver_died_is_resumed(engine: lf.Engine) -> None:
    run_id = engine.submit(doubling, x=5)
    log = engine.storage.log
    log.take_over(run_id, "dead-driver", 5.0, now=datetime.now(UTC) - timedelta(minutes=1))
    log.append(run_id, 1, [
        NewEvent(None, "run.running", {"owner": "dead-driver"}),
        NewEvent("double", "task.running", {"attempt": 1}),
    ], owner="dead-driver")  # fmt: skip
    assert engine.get_run(run_id).state == "CRASHED"
    run = engine.resume(run_id)
    assert run.state == "SUCCEEDED" and run.result() == 10
    assert fold(engine.events(run_id)).tasks["double"].attempts == 2


def test_a_worker_drains_a_submitted_run(url: str, tmp_path: Path, engine: lf.Engine) -> None:
    run_id = engine.submit(doubling, x=8)
    with lf.Worker(url, home=tmp_path, schedules=False) as worker:
        assert worker.run_once() == [run_id]
        assert worker.run_once() == []
    run = engine.get_run(run_id)
    assert run.state == "SUCCEEDED" and run.result() == 16


def test_a_worker_creates_and_drives_the_run_of_a_claimed_fire_time(
    url: str, tmp_path: Path, engine: lf.Engine
) -> None:
    engine.schedule("every-minute", doubling, interval=60, parameters={"x": 1}, catchup="latest")
    later = datetime.now(UTC) + timedelta(minutes=3)
    fired = engine.storage.schedules.claim(
        "every-minute", [later - timedelta(minutes=1)], lambda record, at: f"sched-{at:%H%M%S}"
    )
    assert len(fired) == 1 and fired[0].is_pending
    with lf.Worker(url, home=tmp_path) as worker:
        driven = worker.run_once()
    assert driven == [fired[0].run_id]
    assert engine.get_run(driven[0]).result() == 2
    assert not engine.storage.schedules.fires("every-minute")[0].is_pending


def test_what_needs_a_database_says_so(engine: lf.Engine, tmp_path: Path) -> None:
    run = engine.run(doubling)
    with pytest.raises(lf.errors.DatabaseRequired, match="archiving runs is not available on memory://"):
        engine.plan_archive(timedelta(0))
    assert engine.archived_run(run.id) is None and engine.archived_runs() == []
    summary = engine.export(run.id, tmp_path / "run.jsonl")  # export reads through the port
    assert summary.events == len(engine.events(run.id))
