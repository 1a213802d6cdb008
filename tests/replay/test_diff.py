"""The diff of two runs, from real runs on SQLite and PostgreSQL with threads."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

import ledgerflow as lf
from ledgerflow.engine.core.events import Event
from ledgerflow.replay import Change, ChangeKind, RunDiff, diff_runs, result_hash


@lf.task
def numbers(n: int) -> list[int]:
    return list(range(n))


@lf.task
def times(x: int, factor: int) -> int:
    return x * factor


@lf.task
def label(name: str) -> str:
    return name.upper()


@lf.task
def summary(values: list[int], tag: str) -> str:
    return f"{tag}:{sum(values)}"


@lf.flow
def report(n: int = 3, factor: int = 2, name: str = "a") -> Any:
    scaled = times.map(numbers(n), factor=lf.unmapped(factor))
    return summary(scaled, label(name))


@lf.task(name="shout")
def shout_v1(text: str) -> str:
    return text.upper()


@lf.task(name="shout")
def shout_v2(text: str) -> str:
    return text.upper() + "!"


@lf.task(name="shout")
def shout_v3(text: str) -> str:
    return text.upper()  # the same result from other source text


@lf.flow(name="greeting")
def greeting_v1(name: str = "ada") -> Any:
    return shout_v1(label(name))


@lf.flow(name="greeting")
def greeting_v2(name: str = "ada") -> Any:
    return shout_v2(label(name))


@lf.flow(name="greeting")
def greeting_v3(name: str = "ada") -> Any:
    return shout_v3(label(name))


@lf.task
def big(n: int) -> list[int]:
    return list(range(n))


@lf.flow
def stored(n: int = 1000) -> Any:
    return big(n)


@pytest.fixture
def engine(database_url: str, tmp_path: Path) -> Iterator[lf.Engine]:
    with lf.Engine(database_url, executor="threads", home=tmp_path) as opened:
        yield opened


def rows_by_key(found: RunDiff) -> dict[str, Any]:
    return {row.key: row for row in found.rows}


def test_one_changed_parameter_is_what_changed_first(engine: lf.Engine) -> None:
    a = engine.run(report, n=3, factor=2)
    b = engine.run(report, n=3, factor=3)
    found = engine.diff(a.id, b.id)
    assert (found.run_a, found.run_b) == (a.id, b.id)
    assert found.parameters_changed == {"factor": (2, 3)}
    assert found.parameters_added == {} and found.parameters_removed == {}
    assert found.is_same_graph and found.tasks_added == () and found.tasks_removed == ()
    assert found.code_changed == {}
    rows = rows_by_key(found)
    assert list(rows) == ["numbers", "times", "times[0]", "times[1]", "times[2]", "label", "summary"]
    differing = {key for key, row in rows.items() if row.result_differs}
    assert differing == {"times", "times[1]", "times[2]", "summary"}  # 0 * factor is 0 in both
    assert {key for key, row in rows.items() if row.is_same} == {"numbers", "label"}
    assert rows["summary"].inputs_differ and rows["times[0]"].inputs_differ  # factor is an argument
    assert not rows["numbers"].inputs_differ and not rows["label"].inputs_differ
    assert rows["times[1]"].a.result_hash == result_hash({"inline": 2})
    assert rows["times[1]"].b.result_hash == result_hash({"inline": 3})
    assert [(c.kind, c.subject) for c in found.first_changes] == [
        (ChangeKind.PARAMETER, "factor"),
        (ChangeKind.RESULT, "times[1]"),
    ]
    assert found.first_changes[0] == Change(ChangeKind.PARAMETER, "factor", "parameters 'factor': 2 -> 3")


def test_a_changed_task_code_is_what_changed_first(engine: lf.Engine) -> None:
    a = engine.run(greeting_v1)
    b = engine.run(greeting_v2)
    found = engine.diff(a.id, b.id)
    assert found.parameters_changed == {} and found.is_same_graph
    code_a, code_b = shout_v1.code_hash, shout_v2.code_hash
    assert found.code_changed == {"shout": (code_a, code_b)}
    rows = rows_by_key(found)
    assert rows["label"].is_same
    assert rows["shout"].code_differs and rows["shout"].result_differs
    assert not rows["shout"].inputs_differ
    assert [(c.kind, c.subject) for c in found.first_changes] == [
        (ChangeKind.CODE, "shout"),
        (ChangeKind.RESULT, "shout"),
    ]
    assert code_a[:12] in found.first_changes[0].detail


def test_changed_code_with_the_same_result_is_the_only_change(engine: lf.Engine) -> None:
    found = engine.diff(engine.run(greeting_v1).id, engine.run(greeting_v3).id)
    assert [(c.kind, c.subject) for c in found.first_changes] == [(ChangeKind.CODE, "shout")]
    assert not rows_by_key(found)["shout"].result_differs


def test_runs_that_do_not_differ(engine: lf.Engine) -> None:
    a = engine.run(report, n=2)
    b = engine.run(report, n=2)
    found = engine.diff(a.id, b.id)
    assert found.first_changes == ()
    assert all(row.is_same for row in found.rows)


def test_a_longer_map_adds_children_after_their_siblings(engine: lf.Engine) -> None:
    found = engine.diff(engine.run(report, n=2).id, engine.run(report, n=3).id)
    assert found.tasks_added == ("times[2]",) and found.tasks_removed == ()
    keys = [row.key for row in found.rows]
    assert keys.index("times[2]") == keys.index("times[1]") + 1
    assert [(c.kind, c.subject) for c in found.first_changes] == [
        (ChangeKind.PARAMETER, "n"),
        (ChangeKind.RESULT, "numbers"),
    ]


def test_a_stored_result_is_compared_by_its_recorded_sha256(engine: lf.Engine) -> None:
    a = engine.run(stored, n=1000)
    b = engine.run(stored, n=1001)
    recorded = [e.payload["result"] for e in engine.events(a.id) if e.type == "task.succeeded"]
    assert "sha256" in recorded[0]  # too big to travel inline
    row = rows_by_key(engine.diff(a.id, b.id))["big"]
    assert row.a.result_hash == recorded[0]["sha256"] and row.result_differs


def test_a_log_without_code_hashes_reads_as_unknown(engine: lf.Engine) -> None:
    a = engine.events(engine.run(greeting_v1).id)
    b = engine.events(engine.run(greeting_v2).id)
    found = diff_runs(without_code(a), b)
    assert found.code_changed == {}
    row = rows_by_key(found)["shout"]
    assert row.a.code_hash is None and row.b.code_hash == shout_v2.code_hash
    assert not row.code_differs and row.result_differs
    assert [(c.kind, c.subject) for c in found.first_changes] == [(ChangeKind.RESULT, "shout")]


def test_the_json_form_round_trips(engine: lf.Engine) -> None:
    found = engine.diff(engine.run(report, factor=2).id, engine.run(report, factor=5).id)
    data = orjson.loads(orjson.dumps(found.to_json()))
    assert data["parameters"]["changed"] == {"factor": {"a": 2, "b": 5}}
    assert data["graph"]["same"] is True
    assert data["first_changes"][0]["kind"] == "parameter"
    summary_row = next(row for row in data["tasks"] if row["key"] == "summary")
    assert summary_row["result_differs"] and summary_row["a"]["state"] == "SUCCEEDED"


def test_result_hash_of_inline_values_ignores_key_order() -> None:
    assert result_hash({"inline": {"a": 1, "b": 2}}) == result_hash({"inline": {"b": 2, "a": 1}})
    assert result_hash({"inline": 1}) != result_hash({"inline": 1.0})
    assert result_hash({"ref": "r", "format": "json", "size": 3, "sha256": "ab" * 32}) == "ab" * 32
    assert result_hash(None) is None


def without_code(events: list[Event]) -> list[Event]:
    """The log as written before run.created recorded code hashes."""
    created = events[0]
    payload = {key: value for key, value in created.payload.items() if key != "code"}
    return [created._replace(payload=payload), *events[1:]]
