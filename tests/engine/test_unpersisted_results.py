"""``persist_result=False``: a result lives only in executor memory. Downstream tasks of the
same drive take it from there; the log records its format, size and sha256 and no object is
stored (database or object store); a later drive that needs it runs its task again, saying
why; reading it after the drive raises ``ResultNotPersisted``; caching needs persisted
results. On SQLite and PostgreSQL, threads."""

import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

import ledgerflow as lf
from ledgerflow.cli import app
from ledgerflow.errors import FlowDefinitionError, ResultNotPersisted
from ledgerflow.results.codec import encode_result

from ..crashing import CrashingExecutor

RAN: Counter[str] = Counter()  # how often each task body ran, in this process


@lf.task(persist_result=False)
def numbers(n: int) -> list[int]:
    RAN["numbers"] += 1
    return list(range(n))


@lf.task(persist_result=False)
def members() -> set[str]:
    RAN["members"] += 1
    return {"ann", "bob"}  # not JSON: a pickle


@lf.task
def total(values: list[int], names: set[str]) -> int:
    RAN["total"] += 1
    return sum(values) + len(names)


@lf.flow
def sums(n: int = 1000) -> Any:
    return total(numbers(n), members())


@lf.task
def kept(values: list[int]) -> list[int]:
    return values[:600]


@lf.task(persist_result=True)
def stored_anyway(values: list[int]) -> list[int]:
    return values[:600]


@lf.flow(persist_result=False)
def unpersisted_flow(n: int = 1000) -> Any:
    values = numbers(n)
    return {"kept": kept(values), "stored": stored_anyway(values)}


@lf.task
def head(values: list[int]) -> list[int]:
    return values[:3]


@lf.flow
def returns_unpersisted(n: int = 1000) -> Any:
    values = numbers(n)
    return {"values": values, "head": head(values)}


@lf.task(cache_key=lf.inputs_hash)
def cached_total(values: list[int]) -> int:
    return sum(values)


@lf.flow
def cached_downstream(n: int = 100) -> Any:
    return cached_total(numbers(n))


@pytest.fixture(autouse=True)
def _counted() -> None:
    RAN.clear()


def _database_results(engine: lf.Engine) -> int:
    with engine.storage.sql_engine("counting results").connect() as connection:
        return int(connection.execute(sa.text("SELECT count(*) FROM results")).scalar_one())


def _described(value: Any) -> dict[str, Any]:
    encoded = encode_result(value)
    sha256 = hashlib.sha256(encoded.data).hexdigest()
    return {"persisted": False, "format": encoded.format, "size": len(encoded.data), "sha256": sha256}


def test_downstream_tasks_take_the_value_and_the_log_keeps_only_its_size_and_sha256(
    database_url: str, tmp_path: Path
) -> None:
    with lf.Engine(database_url, home=tmp_path) as engine:
        run = engine.run(sums)
        assert run.state == "SUCCEEDED" and run.result() == sum(range(1000)) + 2
        assert run.tasks["numbers"].result == {**_described(list(range(1000))), "length": 1000}
        assert run.tasks["members"].result == _described({"ann", "bob"})
        assert run.tasks["members"].result["format"] == "pickle"
        assert _database_results(engine) == 0  # 3.9 KB of JSON and a pickle: none stored
        report = engine.verify(run.id, results=True)
        assert report.ok and report.results is not None
        assert (report.results.checked, report.results.unpersisted) == (0, ("numbers", "members"))


def test_nothing_is_written_to_the_object_store_and_a_task_may_persist_under_its_flow(
    database_url: str, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    with lf.Engine(database_url, home=tmp_path, result_storage=store.as_uri()) as engine:
        run = engine.run(unpersisted_flow)
        assert run.result() == {"kept": list(range(600)), "stored": list(range(600))}
        assert run.tasks["numbers"].result["persisted"] is False
        assert run.tasks["kept"].result["persisted"] is False  # the flow's setting
        stored = run.tasks["stored_anyway"].result  # its own setting wins
        assert stored["store"] == store.as_uri() and "persisted" not in stored
        objects = sorted(path.relative_to(store).as_posix() for path in store.rglob("*") if path.is_file())
        assert len(objects) == 1 and objects[0].startswith(f"{run.id}/stored_anyway/1-")
        assert engine.verify(run.id, results=True).ok


def test_the_result_is_read_in_the_driving_process_and_raises_later(
    database_url: str, tmp_path: Path
) -> None:
    with lf.Engine(database_url, home=tmp_path) as engine:
        run = engine.run(returns_unpersisted, n=5)
        assert run.result() == {"values": [0, 1, 2, 3, 4], "head": [0, 1, 2]}
        with pytest.raises(ResultNotPersisted) as raised:
            engine.get_run(run.id).result()
        assert raised.value.task_key == "numbers" and raised.value.run_id == run.id
        assert "'numbers'" in str(raised.value) and "not persisted" in str(raised.value)
        shown = CliRunner().invoke(app, ["show", run.id, "--database", database_url])
        assert shown.exit_code == 0, shown.output
        assert "result: not available: run" in shown.output and "not persisted" in shown.output
        asked = CliRunner().invoke(app, ["show", run.id, "--value", "--database", database_url])
        assert asked.exit_code == 1 and "result: not shown:" in asked.output


def test_a_restart_from_a_downstream_task_runs_the_unpersisted_upstream_again(
    database_url: str, tmp_path: Path
) -> None:
    with lf.Engine(database_url, home=tmp_path) as engine:
        run = engine.run(sums, n=10)
        again = engine.restart(run.id, from_task="total")
        assert again.state == "SUCCEEDED" and again.result() == sum(range(10)) + 2
        assert RAN == {"numbers": 2, "members": 2, "total": 2}
        reopened = [(e.task_key, dict(e.payload)) for e in engine.events(run.id) if e.type == "task.pending"]
        assert reopened == [
            ("total", {"reason": "restart"}),
            ("numbers", {"reason": "result not persisted", "needed_by": ["total"]}),
            ("members", {"reason": "result not persisted", "needed_by": ["total"]}),
        ]
        assert again.tasks["numbers"].attempts == 2


def test_a_resume_after_the_driver_died_runs_the_producer_again(database_url: str, tmp_path: Path) -> None:
    with lf.Engine(database_url, CrashingExecutor("total"), home=tmp_path) as dying:
        with pytest.raises(SystemExit):
            dying.run(sums, n=10)
        run_id = dying.runs()[0].id
    assert RAN == {"numbers": 1, "members": 1}
    with lf.Engine(database_url, home=tmp_path) as engine:
        run = engine.resume(run_id)
        assert run.state == "SUCCEEDED" and run.result() == sum(range(10)) + 2
        assert RAN == {"numbers": 2, "members": 2, "total": 1}
        pending = {e.task_key: e.payload["reason"] for e in engine.events(run_id) if e.type == "task.pending"}
        assert pending == {
            "numbers": "result not persisted",
            "members": "result not persisted",
            "total": "input not persisted",  # its orphaned attempt waits for them again
        }
        assert [run.tasks[key].attempts for key in ("numbers", "members", "total")] == [2, 2, 2]


def test_a_cached_task_s_result_must_be_persisted() -> None:
    with pytest.raises(FlowDefinitionError, match="task 'cached_unpersisted' has a cache_key"):

        @lf.task(cache_key=lf.inputs_hash, persist_result=False)
        def cached_unpersisted(x: int) -> int:
            return x

    @lf.flow(persist_result=False)
    def inherits(x: int = 1) -> Any:
        return cached_total([x])

    refused = r"task 'cached_total' has a cache_key.*its flow 'inherits'"
    with pytest.raises(FlowDefinitionError, match=refused):
        inherits.trace({"x": 1})


def test_a_task_taking_an_unpersisted_result_is_not_looked_up_in_the_cache(
    database_url: str, tmp_path: Path
) -> None:
    with lf.Engine(database_url, home=tmp_path) as engine:
        run = engine.run(cached_downstream)
        assert run.result() == sum(range(100))
        (running,) = [
            e for e in engine.events(run.id) if e.type == "task.running" and e.task_key == "cached_total"
        ]
        assert running.payload["cache"] == "not cached: it takes the result of 'numbers', not persisted"


def test_a_persisted_result_is_recorded_as_before(database_url: str, tmp_path: Path) -> None:
    with lf.Engine(database_url, home=tmp_path) as engine:
        run = engine.run(unpersisted_flow, n=10)
        assert run.tasks["stored_anyway"].result == {"inline": list(range(10))}
        assert orjson.dumps(run.tasks["stored_anyway"].result) == b'{"inline":[0,1,2,3,4,5,6,7,8,9]}'
