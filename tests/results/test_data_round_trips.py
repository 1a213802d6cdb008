"""Numpy arrays, pandas frames and mixed objects through whole runs: encoded where they are
produced (a pool thread, or a Dask worker process), taken by the downstream task, loaded by the
driver, and after a restart loaded again from where they are stored (by the worker, for an
object store); in a file:// store and in the database, compressed or not, on SQLite and
PostgreSQL."""

import pickle
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import pytest
from dask.sizeof import sizeof

import ledgerflow as lf
import ledgerflow.executors.dask_worker  # registers how Dask counts an outcome
from ledgerflow.engine.result_values import load_result
from ledgerflow.executors.invocation import Outcome, OutcomeStatus
from ledgerflow.results import DATABASE, ResultRef, object_key, sha256_of
from ledgerflow.results.objects import ObjectStore
from ledgerflow.storage.protocols import StoredResult

from . import samples
from .samples import SAMPLES, same

# pytest imports the tests under names the workers cannot import: send them by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])
cloudpickle.register_pickle_by_value(samples)

KINDS = ["random float64", "int32 steps", "non-contiguous", "0-d", "structured", "DataFrame", "mixed"]


@lf.task
def make(kind: str) -> Any:
    return SAMPLES[kind]()


@lf.task
def matches(values: list[Any], kinds: list[str]) -> list[bool]:
    return [same(value, SAMPLES[kind]()) for value, kind in zip(values, kinds, strict=True)]


@lf.flow
def round_trip(kinds: list[str]) -> dict[str, Any]:
    values = make.map(kinds)
    return {"matches": matches(values, kinds), "values": values}


@pytest.fixture(params=["threads", "dask"])
def executor(request: pytest.FixtureRequest) -> Iterator[lf.ThreadExecutor | lf.DaskExecutor]:
    if request.param == "threads":
        with lf.ThreadExecutor() as threads:
            yield threads
    else:
        yield lf.DaskExecutor(client=request.getfixturevalue("dask_client"))


@pytest.mark.parametrize(
    ("stored_in", "compression"), [("file", None), ("file", "zstd"), ("database", None), ("database", "zstd")]
)
def test_arrays_frames_and_mixed_objects_round_trip(
    database_url: str,
    tmp_path: Path,
    executor: lf.ThreadExecutor | lf.DaskExecutor,
    stored_in: str,
    compression: str | None,
) -> None:
    storage = f"file://{tmp_path}/results" if stored_in == "file" else None
    with lf.Engine(
        database_url, executor, home=tmp_path, result_storage=storage, result_compression=compression
    ) as engine:
        run = engine.run(round_trip, kinds=KINDS)
        assert run.state == "SUCCEEDED", run.tasks
        result = run.result()
        assert result["matches"] == [True] * len(KINDS)  # the downstream task got them whole
        assert all(same(value, SAMPLES[kind]()) for value, kind in zip(result["values"], KINDS, strict=True))
        recorded = {kind: run.tasks[f"make[{i}]"].result for i, kind in enumerate(KINDS)}
        assert recorded["DataFrame"]["format"] == "pickle-buffers"
        assert recorded["0-d"]["format"] == "pickle"
        assert "compression" not in recorded["random float64"]  # does not compress: stored as it is
        assert recorded["int32 steps"].get("compression") == compression
        assert ("store" in recorded["DataFrame"]) == (stored_in == "file")
        again = engine.restart(run.id, from_task="matches")  # loads them again from where they are
        assert again.state == "SUCCEEDED" and again.result()["matches"] == [True] * len(KINDS)
        assert engine.verify(run.id, results=True).ok


def test_dask_counts_the_value_an_outcome_holds() -> None:
    now = datetime.now(UTC)
    value = np.ones(1_000_000)
    held = Outcome("make[0]", 1, OutcomeStatus.SUCCEEDED, now, now, value=value)
    light = held.light()
    assert sizeof([held]) >= value.nbytes > 1_000 * sizeof([light])  # the scheduler keeps readers near it


def test_results_stored_before_load_unchanged(database_url: str, tmp_path: Path) -> None:
    value = {"weights": np.arange(100_000.0), "name": "model"}
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)  # how a pickle was stored
    sha256 = sha256_of(data)
    with lf.Engine(database_url, home=tmp_path) as engine:
        results = engine.storage.results
        results.put_many([StoredResult("old-run/train/1", "old-run", "train", "pickle", data)])
        in_database = ResultRef(DATABASE, "old-run/train/1", "pickle", len(data), sha256)
        assert same(load_result(in_database.to_payload(), results), value)
        store = ObjectStore(f"file://{tmp_path}/results")
        store.put(object_key("old-run", "train", 1, sha256), data)
        ref = ResultRef(store.url, object_key("old-run", "train", 1, sha256), "pickle", len(data), sha256)
        payload = {**ref.to_payload(), "signature": results.sign_reference(sha256)}
        assert same(load_result(payload, results), value)
        assert store.read(ref.key).data == data  # its bytes and hash are the ones recorded
