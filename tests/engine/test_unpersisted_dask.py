"""``persist_result=False`` on a Dask LocalCluster with worker processes: downstream tasks
take the value from Dask memory, a dynamic map expands over it from its recorded length, the
log records only its size and sha256, no result is stored, and the value the flow returns
reaches ``run.result()`` of the driving process. On SQLite and PostgreSQL."""

import sys
from typing import Any

import cloudpickle
import sqlalchemy as sa

import ledgerflow as lf

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import tests


@lf.task(persist_result=False)
def frame(n: int) -> list[dict[str, int]]:
    return [{"row": i, "value": i * i} for i in range(n)]


@lf.task(persist_result=False)
def value_of(row: dict[str, int]) -> int:
    return row["value"]


@lf.task
def total(values: list[int]) -> int:
    return sum(values)


@lf.flow
def frames(n: int = 200) -> Any:
    rows = frame(n)
    return {"total": total(value_of.map(rows)), "first": value_of.map(rows)}


def test_unpersisted_results_stay_in_dask_memory(dask_engine: lf.Engine) -> None:
    run = dask_engine.run(frames, n=200)
    assert run.state == "SUCCEEDED"
    squares = [i * i for i in range(200)]
    assert run.result() == {"total": sum(squares), "first": squares}  # fetched from the workers
    recorded = run.tasks["frame"].result
    assert recorded is not None and recorded["persisted"] is False
    assert recorded["length"] == 200 and recorded["size"] > 1024 and len(recorded["sha256"]) == 64
    assert all(run.tasks[f"value_of[{i}]"].result["persisted"] is False for i in range(200))
    with dask_engine.storage.sql_engine("counting results").connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM results")).scalar_one() == 0
    assert dask_engine.verify(run.id).ok
