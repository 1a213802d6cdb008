"""On Dask worker processes with a file:// store: the workers write results to the store, the
driver fetches only light outcomes (references, never the bytes: reported through the
scheduler's guard, or stripped by follower tasks where the guard cannot report them),
downstream tasks take the values from Dask memory, and after a restart the workers read
upstream results from the store themselves, checked. On SQLite and PostgreSQL."""

import pickle
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import distributed
import pytest

import ledgerflow as lf
from ledgerflow.executors import dask_guard
from ledgerflow.executors.dask_executor import DaskExecutor
from ledgerflow.results.objects import Fetched, ObjectStore

from .conftest import Store

# pytest imports the tests under a name the workers cannot import: send them by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

BLOB = 4_000_000  # bytes each producer returns


@lf.task
def blob(i: int) -> bytes:
    return bytes([i]) * BLOB  # a pickle: stored by the worker


@lf.task
def size(data: bytes) -> int:
    return len(data) + data[0]


@lf.flow
def blobs(n: int = 4) -> list[int]:
    return size.map(blob.map(list(range(n))))


class Received:
    """The bytes of what the driver's collector received from Dask (the light outcomes)."""

    def __init__(self) -> None:
        self.total = 0
        self.keys: list[str] = []  # the Dask keys whose results the driver received


@pytest.fixture
def received(monkeypatch: pytest.MonkeyPatch) -> Received:
    counter = Received()
    deliver = DaskExecutor._deliver

    def counting(self: DaskExecutor, dask_future: distributed.Future[Any], result: Any) -> None:
        counter.total += len(pickle.dumps(result))
        counter.keys.append(str(dask_future.key))
        deliver(self, dask_future, result)

    monkeypatch.setattr(DaskExecutor, "_deliver", counting)
    return counter


@pytest.fixture
def engine(
    database_url: str, tmp_path: Path, dask_client: distributed.Client, store: Store
) -> Iterator[lf.Engine]:
    with lf.Engine(
        database_url, lf.DaskExecutor(client=dask_client), home=tmp_path,
        result_storage=store.url, result_storage_options=store.options,
    ) as made:  # fmt: skip
        yield made


def test_workers_write_results_and_the_driver_never_receives_them(
    engine: lf.Engine, received: Received, store: Store
) -> None:
    run = engine.run(blobs, n=4)
    assert run.state == "SUCCEEDED" and run.result() == [BLOB + i for i in range(4)]
    produced = run.tasks["blob[2]"].result
    assert produced["store"] == store.url and produced["size"] > BLOB
    assert store.objects().read(produced["ref"]).data == pickle.dumps(
        bytes([2]) * BLOB, protocol=pickle.HIGHEST_PROTOCOL
    )
    assert received.total < 200_000  # 16 MB of results, a few KB of outcomes
    assert not [key for key in received.keys if key.endswith("-light")]  # reported: no follower tasks
    if store.url.startswith("file://"):  # verify opens stores with no options
        assert engine.verify(run.id, results=True).ok


def test_where_the_guard_cannot_report_follower_tasks_strip_the_outcomes(
    database_url: str, tmp_path: Path, dask_client: distributed.Client, store: Store,
    received: Received, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    install = dask_guard.install
    monkeypatch.setattr(dask_guard, "install", lambda client: (install(client)[0], False))
    with lf.Engine(
        database_url, lf.DaskExecutor(client=dask_client), home=tmp_path,
        result_storage=store.url, result_storage_options=store.options,
    ) as engine:  # fmt: skip
        run = engine.run(blobs, n=4)
    assert run.state == "SUCCEEDED" and run.result() == [BLOB + i for i in range(4)]
    assert received.total < 200_000 and received.keys
    assert all(key.endswith("-light") for key in received.keys)


def test_after_a_restart_the_workers_read_the_upstreams_from_the_store(
    engine: lf.Engine, received: Received, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = engine.run(blobs, n=3)
    read_here: list[str] = []
    read = ObjectStore.read

    def reading(self: ObjectStore, key: str) -> Fetched:
        read_here.append(key)
        return read(self, key)

    monkeypatch.setattr(ObjectStore, "read", reading)  # in this process only, not the workers
    received.total = 0
    again = engine.restart(run.id, from_task="size[1]")
    assert again.state == "SUCCEEDED" and again.tasks["size[1]"].attempts == 2
    assert again.result() == [BLOB, BLOB + 1, BLOB + 2]
    assert read_here == [] and received.total < 50_000


def test_a_tampered_upstream_fails_the_task_on_the_worker(engine: lf.Engine, store: Store) -> None:
    run = engine.run(blobs, n=2)
    produced = run.tasks["blob[0]"].result
    objects = store.objects()
    data = bytes(objects.read(produced["ref"]).data)
    objects.delete(produced["ref"])
    objects.put(produced["ref"], data[:-1] + b"\x07")
    again = engine.restart(run.id, from_task="size[0]")
    assert again.state == "FAILED" and again.tasks["size[1]"].state == "SUCCEEDED"
    error = again.tasks["size[0]"].error
    assert error is not None and error["type"] == "ledgerflow.results.errors.ResultCorrupted"
    assert produced["sha256"] in error["message"]
