"""A Dask worker lost under a body is an attempt in the log, and Dask never runs a body again
under the attempt it ran with: on a LocalCluster of its own (its workers get killed)."""

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import cloudpickle
import distributed
import pytest

import ledgerflow as lf
from ledgerflow.executors import DaskExecutor, Invocation, OutcomeStatus, Upstream, dask_chunks

from ..conftest import local_cluster

# pytest imports the tests under a name the workers cannot import: send them by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

pytestmark = pytest.mark.slow  # worker processes are killed and restarted by their nannies


@pytest.fixture(scope="module")
def client() -> Iterator[distributed.Client]:
    """A cluster of its own: its workers get killed."""
    with local_cluster(2) as connected:
        yield connected


def ran(folder: Path) -> list[list[str]]:
    """The (idempotency key, worker) of each execution of a body, in order."""
    path = folder / "runs"
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def note_run(folder: str) -> None:
    with open(os.path.join(folder, "runs"), "a") as runs:
        runs.write(f"{lf.context().idempotency_key} {distributed.get_worker().address}\n")


@lf.task
def dies_once(folder: str) -> int:
    """Kills its own worker process on its first execution only."""
    note_run(folder)
    marker = os.path.join(folder, "died")
    if not os.path.exists(marker):
        open(marker, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return lf.context().attempt


@lf.flow(name="dies_once")
def dies_once_flow(folder: str) -> int:
    return dies_once(folder)


def test_a_worker_lost_under_a_body_is_an_infrastructure_retry_with_a_new_key(
    postgres_url: str, tmp_path: Path, client: distributed.Client
) -> None:
    with lf.Engine(postgres_url, DaskExecutor(client=client), home=tmp_path) as engine:
        run = engine.run(dies_once_flow, folder=str(tmp_path))
        events = [event for event in engine.events(run.id) if event.task_key == "dies_once"]
    assert run.state == "SUCCEEDED" and run.result() == 2
    assert [(event.type, event.payload["attempt"]) for event in events] == [
        ("task.running", 1), ("task.retrying", 1), ("task.running", 2), ("task.succeeded", 2),
    ]  # fmt: skip
    (first_key, lost_worker), (second_key, _) = ran(tmp_path)
    retrying = events[1].payload
    assert retrying["infrastructure"] is True and retrying["worker"] == lost_worker
    assert retrying["error"]["type"] == "distributed.scheduler.KilledWorker"
    assert lost_worker in retrying["error"]["message"]
    assert (first_key, second_key) == (f"{run.id}:dies_once:1", f"{run.id}:dies_once:2")
    assert len(ran(tmp_path)) == run.tasks["dies_once"].attempts  # one execution per attempt
    client.wait_for_workers(2, timeout=60)  # the nanny restarted it


@lf.task
def tiny(index: int, folder: str) -> int:
    """Tiny bodies (batched); the sixth kills its worker on its first execution."""
    note_run(folder)
    marker = os.path.join(folder, "died")
    if index == 5 and not os.path.exists(marker):
        open(marker, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return index


@lf.flow(name="tiny_map")
def tiny_map(n: int, folder: str) -> list[int]:
    return tiny.map(list(range(n)), folder=lf.unmapped(folder))


@pytest.mark.parametrize("in_a_store", [False, True], ids=["database", "file-store"])
def test_a_worker_lost_under_a_batch_gives_each_unreported_body_a_new_attempt(
    postgres_url: str, tmp_path: Path, client: distributed.Client, in_a_store: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # In a store, the outcomes reach the driver through the scheduler's guard (see dask_guard).
    # The bodies are batched however long a busy machine makes them take (their files' writes).
    monkeypatch.setattr(dask_chunks, "CHUNK_SECONDS", 10.0)
    storage = f"file://{tmp_path / 'results'}" if in_a_store else None
    executor = DaskExecutor(client=client)
    with lf.Engine(postgres_url, executor, home=tmp_path, result_storage=storage) as engine:
        run = engine.run(tiny_map, n=20, folder=str(tmp_path))
        retried = [event for event in engine.events(run.id) if event.type == "task.retrying"]
    assert run.state == "SUCCEEDED" and run.result() == list(range(20))
    for event in retried:  # its batch, and any batch whose outcome was lost with the worker
        assert event.payload["infrastructure"] is True and event.payload["attempt"] == 1
        assert run.tasks[str(event.task_key)].attempts == 2
    [killer] = [event for event in retried if event.task_key == "tiny[5]"]
    assert killer.payload["error"]["type"] == "distributed.scheduler.KilledWorker"
    assert "while it ran a batch of" in killer.payload["error"]["message"]  # not the first two: probes
    assert len(retried) > 1  # its batch-mates too
    for event in retried:  # KilledWorker, or StartRefused: it had run there, its outcome not yet fetched
        assert event.payload["error"]["type"] in (
            "distributed.scheduler.KilledWorker",
            "ledgerflow.StartRefused",
        )
        assert event.payload["worker"] == killer.payload["worker"]
    keys = [key for key, _ in ran(tmp_path)]
    assert len(keys) == len(set(keys))  # no idempotency key was used twice
    assert f"{run.id}:tiny[5]:1" in keys and f"{run.id}:tiny[5]:2" in keys
    client.wait_for_workers(2, timeout=60)


def counted(folder: str, value: int) -> int:
    note_run(folder)
    return value


def test_a_result_lost_with_its_worker_is_not_computed_again(
    tmp_path: Path, client: distributed.Client
) -> None:
    with DaskExecutor(client=client) as executor:
        [upstream] = executor.submit_many([Invocation("r", "a", 1, counted, (str(tmp_path), 5), {})])
        assert upstream.result(timeout=60).status is OutcomeStatus.SUCCEEDED
        [(_, holder)] = ran(tmp_path)
        os.kill(client.run(os.getpid, workers=[holder])[holder], signal.SIGKILL)
        downstream = Invocation(
            "r", "b", 1, counted, (str(tmp_path), Upstream("a")), {}, inputs={"a": upstream}
        )
        [lost] = executor.submit_many([downstream])
        outcome = lost.result(timeout=60)
        assert outcome.status is OutcomeStatus.FAILED and outcome.infrastructure and not outcome.has_run
        assert outcome.error is not None and outcome.error.type == "ledgerflow.UpstreamLost"
        [again] = executor.submit_many([Invocation("r", "b", 2, counted, (str(tmp_path), Upstream("a")), {},
                                                   inputs={"a": upstream})])  # fmt: skip
        assert again.result(timeout=60).status is OutcomeStatus.SUCCEEDED
    assert [key for key, _ in ran(tmp_path)] == ["r:a:1", "r:b:2"]  # Dask recomputed "a": no body ran
    client.wait_for_workers(2, timeout=60)
