"""Results written where they are produced: with ``result_storage`` set, the executor writes
each result above the inline limit to the object store itself and the event records only its
reference (store URL, key, format, size, sha256); on SQLite and PostgreSQL, file:// and s3://
(moto's S3 server on loopback), on threads."""

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import ledgerflow as lf
from ledgerflow.results.objects import Fetched, ObjectStore

from .conftest import Store

PRODUCED: list[Any] = []  # what ``numbers`` returned, to see its consumer got that very object


@lf.task
def numbers(n: int) -> list[int]:
    value = list(range(n))
    PRODUCED.append(value)
    return value


@lf.task
def is_the_produced_list(values: list[int]) -> bool:
    return values is PRODUCED[-1]


@lf.task
def total(values: list[int]) -> int:
    return sum(values)


@lf.task
def members() -> set[str]:
    return {"ann", "bob"}  # not JSON: a pickle


@lf.task
def count(names: set[str]) -> int:
    return len(names)


@lf.flow
def sums(n: int = 1000) -> dict[str, Any]:
    values = numbers(n)
    return {"same": is_the_produced_list(values), "total": total(values), "team": count(members())}


def engine_on(database_url: str, home: Path, store: Store, **settings: Any) -> lf.Engine:
    return lf.Engine(
        database_url, home=home, result_storage=store.url, result_storage_options=store.options, **settings
    )


def database_results(engine: lf.Engine) -> int:
    with engine.storage.sql_engine("counting results").connect() as connection:
        return int(connection.execute(sa.text("SELECT count(*) FROM results")).scalar_one())


def test_results_above_the_inline_limit_are_written_to_the_store_by_the_executor(
    database_url: str, tmp_path: Path, store: Store
) -> None:
    with engine_on(database_url, tmp_path, store) as engine:
        run = engine.run(sums)
        assert run.state == "SUCCEEDED"
        assert run.result() == {"same": True, "total": sum(range(1000)), "team": 2}
        produced = run.tasks["numbers"].result
        public = store.url.split("?")[0]
        assert produced["store"] == public and produced["format"] == "json"
        assert produced["ref"].startswith(f"{run.id}/numbers/1-")
        data = store.objects().read(produced["ref"]).data
        assert json.loads(data) == list(range(1000))
        assert (len(data), produced["size"]) == (produced["size"], len(data))
        team = run.tasks["members"].result
        assert team["format"] == "pickle" and "signature" in team and team["store"] == public
        assert run.tasks["total"].result == {"inline": sum(range(1000))}  # small JSON: inline
        assert database_results(engine) == 0  # no result bytes in the database
        for task in ("numbers", "members"):
            recorded = json.dumps(run.tasks[task].result)
            assert "secret" not in recorded and "testing" not in recorded  # no credentials
        if store.url.startswith("file://"):  # verify opens stores with no options
            assert engine.verify(run.id, results=True).ok


def test_inline_limit_zero_keeps_every_value_out_of_the_log(
    database_url: str, tmp_path: Path, store: Store
) -> None:
    with engine_on(database_url, tmp_path, store, inline_limit=0) as engine:
        run = engine.run(sums, n=3)
        assert run.result() == {"same": True, "total": 3, "team": 2}
        for task in run.tasks.values():
            assert "inline" not in (task.result or {}) and task.result["store"]


def test_a_resumed_run_loads_an_upstream_from_the_store_checked(
    database_url: str, tmp_path: Path, store: Store
) -> None:
    with engine_on(database_url, tmp_path, store) as engine:
        run = engine.run(sums)
        again = engine.restart(run.id, from_task="total")
        assert again.state == "SUCCEEDED" and again.tasks["total"].attempts == 2
        assert again.result()["total"] == sum(range(1000))
        team = engine.restart(run.id, from_task="count")
        assert team.state == "SUCCEEDED" and team.result()["team"] == 2  # the signed pickle loads
        produced = run.tasks["numbers"].result
        store.objects().delete(produced["ref"])
        store.objects().put(produced["ref"], json.dumps([*range(999), 0]).encode())
        broken = engine.restart(run.id, from_task="total")
        assert broken.state == "FAILED"
        error = broken.tasks["total"].error
        assert error is not None and error["type"] == "ledgerflow.results.errors.ResultCorrupted"
        assert produced["sha256"] in error["message"]


def test_a_stored_pickle_whose_signature_does_not_match_is_refused(
    database_url: str, tmp_path: Path, store: Store
) -> None:
    with engine_on(database_url, tmp_path, store) as engine:
        run = engine.run(sums, n=3)
    with lf.Engine(database_url, home=tmp_path / "other-key", result_storage=store.url,
                   result_storage_options=store.options) as other:  # fmt: skip
        refused = other.restart(run.id, from_task="count")
        assert refused.tasks["count"].state == "FAILED"
        error = refused.tasks["count"].error
        assert error is not None and error["type"].endswith("ResultRefused")


@lf.task(result_storage="database")
def kept_in_the_database() -> str:
    return "d" * 2000


@lf.task
def long_text() -> str:
    return "x" * 2000


@lf.flow(result_storage="memory://ledgerflow-flow-results")
def placed_by_the_flow() -> tuple[str, str]:
    return kept_in_the_database(), long_text()


def test_a_task_setting_overrides_the_flow_which_overrides_the_engine(tmp_path: Path) -> None:
    with lf.Engine(f"sqlite:///{tmp_path}/db.sqlite", home=tmp_path) as engine:
        run = engine.run(placed_by_the_flow)
        assert run.state == "SUCCEEDED"
        assert "store" not in run.tasks["kept_in_the_database"].result  # the database
        assert run.tasks["long_text"].result["store"] == "memory://ledgerflow-flow-results"
        assert database_results(engine) == 1


def test_bad_settings_name_the_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path}/db.sqlite"
    with pytest.raises(lf.errors.ResultStorageInvalid, match="unknown protocol 'nope'"):
        lf.Engine(url, home=tmp_path, result_storage="nope://somewhere")
    with pytest.raises(lf.errors.ResultStorageInvalid, match=r"pip install ledgerflow\[gcs\]"):
        lf.Engine(url, home=tmp_path, result_storage="gs://bucket/results")
    with pytest.raises(lf.errors.ResultStorageInvalid, match="expected a URL"):
        lf.task(result_storage="/shared/results")(long_text.fn)
    with pytest.raises(ValueError, match="inline_limit must be a whole number"):
        lf.Engine(url, home=tmp_path, inline_limit=-1)
    monkeypatch.setenv("LEDGERFLOW_RESULT_STORAGE", f"file://{tmp_path}/from-env")
    monkeypatch.setenv("LEDGERFLOW_INLINE_LIMIT", "0")
    with lf.Engine(url, home=tmp_path) as engine:
        run = engine.run(sums, n=2)
        assert run.tasks["total"].result["store"] == f"file://{tmp_path}/from-env"


@lf.task
def double(x: int) -> int:
    return 2 * x


@lf.flow
def doubled(n: int = 500) -> list[int]:
    return double.map(numbers(n))


def test_a_map_over_a_stored_list_is_measured_without_loading_it(
    database_url: str, tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_here: list[str] = []
    read = ObjectStore.read

    def reading(self: ObjectStore, key: str) -> Fetched:
        read_here.append(key)
        return read(self, key)

    monkeypatch.setattr(ObjectStore, "read", reading)
    with engine_on(database_url, tmp_path, store) as engine:
        run = engine.run(doubled, n=500)
        assert run.state == "SUCCEEDED" and run.tasks["double"].map_count == 500
        assert run.tasks["numbers"].result["length"] == 500
        assert read_here == []  # the children took the list from memory, the map its length
        assert run.result() == [2 * i for i in range(500)]


@lf.task(retries=1)
def large() -> str:
    return "x" * 2000


@lf.flow
def one_large() -> str:
    return large()


def test_a_store_that_cannot_be_written_fails_the_task_after_its_retries(
    database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    store = Store(f"file://{tmp_path}/a-file/results", {})
    with engine_on(database_url, tmp_path, store) as engine:
        run = engine.run(one_large)
        assert run.state == "FAILED" and run.tasks["large"].attempts == 2
        error = run.tasks["large"].error
        assert error is not None and error["type"] == "ledgerflow.ResultNotWritten"
        assert f"could not be written to file://{tmp_path}/a-file/results" in error["message"]
