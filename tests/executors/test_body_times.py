"""The log records when each body really started and ended where it ran, and each completion
soon after its body ended: on one Dask worker thread and on one pool thread."""

import sys
import time
from collections.abc import Iterator
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import cloudpickle
import distributed
import pytest

import ledgerflow as lf
from ledgerflow.executors import DaskExecutor, Executor, ThreadExecutor

from ..conftest import local_cluster

# pytest imports the tests under a name the workers cannot import: send them by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

NAP = 0.3  # seconds each body takes
PROMPT = 0.25  # seconds within which a completion is recorded after its body ended (tens of ms
# expected: a wide margin, yet less than a body, which a batch of two would wait for)


@lf.task
def nap(index: int) -> int:
    time.sleep(NAP)
    return index


@lf.flow(name="naps")
def naps(n: int) -> list[int]:
    return nap.map(list(range(n)))


@pytest.fixture(scope="module")
def one_thread() -> Iterator[distributed.Client]:
    """A LocalCluster of one worker process with one thread."""
    with local_cluster(1) as client:
        yield client


def assert_bodies_one_after_another_recorded_promptly(engine: lf.Engine) -> None:
    run = engine.run(naps, n=6)
    assert run.result() == list(range(6))
    tasks = [run.tasks[f"nap[{index}]"] for index in range(6)]
    starts = sorted(task.started_at for task in tasks if task.started_at is not None)
    gaps = [(later - earlier).total_seconds() for earlier, later in pairwise(starts)]
    assert len(gaps) == 5 and all(NAP * 0.9 < gap < NAP * 3 for gap in gaps), gaps  # one thread
    for task in tasks:
        assert task.finished_at is not None and task.started_at is not None
        assert NAP * 0.9 < (task.finished_at - task.started_at).total_seconds() < NAP * 3
    endings = [event for event in engine.events(run.id) if event.type == "task.succeeded"]
    for event in endings:
        lag = (event.ts - datetime.fromisoformat(event.payload["finished_at"])).total_seconds()
        assert 0 <= lag < PROMPT, (event.task_key, lag)


@pytest.mark.slow
def test_bodies_on_one_dask_thread_are_recorded_as_they_ran(
    postgres_url: str, tmp_path: Path, one_thread: distributed.Client
) -> None:
    with lf.Engine(postgres_url, DaskExecutor(client=one_thread), home=tmp_path) as engine:
        assert_bodies_one_after_another_recorded_promptly(engine)


@pytest.mark.slow
def test_bodies_on_one_pool_thread_are_recorded_as_they_ran(database_url: str, tmp_path: Path) -> None:
    executor: Executor = ThreadExecutor(max_workers=1)
    with lf.Engine(database_url, executor, home=tmp_path) as engine:
        assert_bodies_one_after_another_recorded_promptly(engine)
