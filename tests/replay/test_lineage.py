"""The lineage of task results, from real runs on SQLite and PostgreSQL with threads."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

import ledgerflow as lf
from ledgerflow.engine.errors import UnknownTask
from ledgerflow.replay import Lineage, LineageNode, lineage, result_hash
from ledgerflow.storage import RunNotFound


@lf.task
def numbers(n: int) -> list[int]:
    return list(range(n))


@lf.task
def offset_of(base: int) -> int:
    return base * 10


@lf.task
def add(x: int, y: int) -> int:
    return x + y


@lf.task
def inc(x: int) -> int:
    return x + 1


@lf.task
def total(xs: list[int]) -> int:
    return sum(xs)


@lf.task
def both(xs: list[int], n: int) -> list[int]:
    return [*xs, n]


@lf.flow
def mapped(n: int = 3, base: int = 1) -> Any:
    shifted = add.map(numbers(n), y=lf.unmapped(offset_of(base)))
    return total(inc.map(shifted))


@lf.flow
def diamond(n: int = 3) -> Any:
    xs = numbers(n)
    return both(xs, total(xs))


@lf.flow
def chain(length: int = 200) -> Any:
    value = inc(0)
    for _ in range(length - 1):
        value = inc(value)
    return value


@pytest.fixture
def engine(database_url: str, tmp_path: Path) -> Iterator[lf.Engine]:
    with lf.Engine(database_url, executor="threads", home=tmp_path) as opened:
        yield opened


def recorded_result(engine: lf.Engine, run_id: str, key: str) -> Any:
    return engine.get_run(run_id).tasks[key].result


def test_lineage_of_a_mapped_child_reaches_its_parents_source_and_the_parameters(
    engine: lf.Engine,
) -> None:
    run = engine.run(mapped, n=3, base=2)
    found = engine.lineage(run.id, "add[1]")
    assert (found.run_id, found.flow, dict(found.parameters)) == (run.id, "mapped", {"n": 3, "base": 2})
    root = found.root
    task = root.task
    assert (task.key, task.task, task.parent, task.state, task.attempt) == (
        "add[1]",
        "add",
        "add",
        "SUCCEEDED",
        1,
    )
    assert task.code_hash == add.code_hash
    assert task.worker and task.started_at is not None and task.finished_at is not None
    assert task.started_at <= task.finished_at
    assert task.result_hash == result_hash({"inline": 21})
    assert root.parameters is None
    source, offset = root.inputs
    assert (source.task.key, source.index) == ("numbers", 1)
    assert source.task.result_hash == result_hash(recorded_result(engine, run.id, "numbers"))
    assert source.task.code_hash == numbers.code_hash
    assert (offset.task.key, offset.index) == ("offset_of", None)
    assert dict(source.parameters or {}) == {"n": 3, "base": 2}
    assert dict(offset.parameters or {}) == {"n": 3, "base": 2}
    assert source.inputs == () and offset.inputs == ()


def test_a_child_of_a_map_over_a_mapped_task_takes_the_matching_child(engine: lf.Engine) -> None:
    run = engine.run(mapped, n=3)
    root = engine.lineage(run.id, "inc[2]").root
    (upstream,) = root.inputs
    assert (upstream.task.key, upstream.index) == ("add[2]", None)
    assert [given.task.key for given in upstream.inputs] == ["numbers", "offset_of"]


def test_a_mapped_parent_is_traced_to_its_sources_not_its_children(engine: lf.Engine) -> None:
    run = engine.run(mapped, n=3)
    root = engine.lineage(run.id, "total").root
    (parent,) = root.inputs
    assert (parent.task.key, parent.task.state, parent.task.map_count) == ("inc", "MAPPED", 3)
    (child_parent,) = parent.inputs
    assert child_parent.task.key == "add" and child_parent.task.map_count == 3


def test_a_task_reached_twice_is_expanded_once(engine: lf.Engine) -> None:
    run = engine.run(diamond, n=2)
    found = engine.lineage(run.id, "both")
    xs, summed = found.root.inputs
    assert xs.task.key == "numbers" and not xs.is_repeat and xs.parameters is not None
    (again,) = summed.inputs
    assert again.task.key == "numbers" and again.is_repeat and again.parameters is None
    assert [node.task.key for node in found.nodes()] == ["both", "numbers", "total", "numbers"]


def test_json_lists_each_task_once_with_its_inputs(engine: lf.Engine) -> None:
    run = engine.run(mapped, n=2)
    data = orjson.loads(orjson.dumps(engine.lineage(run.id, "inc[0]").to_json()))
    assert data["task_key"] == "inc[0]" and data["parameters"] == {"n": 2, "base": 1}
    by_key = {task["key"]: task for task in data["tasks"]}
    assert list(by_key) == ["inc[0]", "add[0]", "numbers", "offset_of"]
    assert by_key["add[0]"]["inputs"] == [
        {"task_key": "numbers", "index": 0},
        {"task_key": "offset_of", "index": None},
    ]
    assert by_key["numbers"]["from_parameters"] and not by_key["inc[0]"]["from_parameters"]
    assert by_key["inc[0]"]["code_hash"] == inc.code_hash


def test_a_long_chain_has_no_depth_limit(engine: lf.Engine) -> None:
    run = engine.run(chain, length=200)
    found = engine.lineage(run.id, "inc-199")
    assert len(list(found.nodes())) == 200
    assert len(orjson.loads(orjson.dumps(found.to_json()))["tasks"]) == 200
    assert deepest(found).task.key == "inc"


def test_an_unknown_task_key_names_the_key_and_near_matches(engine: lf.Engine) -> None:
    run = engine.run(mapped, n=3)
    with pytest.raises(UnknownTask) as raised:
        engine.lineage(run.id, "ad[1]")
    message = str(raised.value)
    assert "'ad[1]'" in message and run.id in message
    assert "did you mean 'add[1]'" in message
    with pytest.raises(UnknownTask, match="'nothing-like-it'") as far:
        lineage(engine.events(run.id), "nothing-like-it")
    assert "did you mean" not in str(far.value)


def test_an_unknown_run_is_not_found(engine: lf.Engine) -> None:
    with pytest.raises(RunNotFound):
        engine.lineage("no-such-run", "add[1]")


def deepest(found: Lineage) -> LineageNode:
    node = found.root
    while node.inputs:
        (node,) = node.inputs
    return node
