"""A task's inputs in a diff cover the arguments it was called with, not only upstream
results: a flow parameter passed to a task (``folds``) that changed makes its inputs
differ, in ``engine.diff`` and ``ledgerflow diff --json``."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

import ledgerflow as lf
from ledgerflow.cli import app
from ledgerflow.engine.core.events import EventType


@lf.task
def load(n: int) -> list[int]:
    return list(range(n))


@lf.task
def evaluate(data: list[int], folds: int) -> int:
    return len(data) // max(folds, 100)  # the same score for any small number of folds


@lf.task
def describe(data: list[int], note: str) -> str:
    return f"{note}: {len(data)}"


@lf.task
def fold_score(x: int, folds: int) -> int:
    return x * 0


@lf.flow
def study(n: int = 2, folds: int = 3, note: str = "x") -> Any:
    data = load(n)
    return {
        "score": evaluate(data, folds), "about": describe(data, note),
        "per_item": fold_score.map(data, lf.unmapped(folds)), "fixed": fold_score.map(data, lf.unmapped(7)),
    }  # fmt: skip


@pytest.fixture
def engine(database_url: str, tmp_path: Path) -> Iterator[lf.Engine]:
    with lf.Engine(database_url, executor="threads", home=tmp_path) as opened:
        yield opened


def test_a_changed_parameter_passed_to_a_task_makes_its_inputs_differ(
    engine: lf.Engine, database_url: str
) -> None:
    a, b = engine.run(study, folds=3), engine.run(study, folds=5)
    rows = {row.key: row for row in engine.diff(a.id, b.id).rows}
    assert list(rows) == [
        "load", "evaluate", "describe", "fold_score", "fold_score[0]", "fold_score[1]",
        "fold_score-1", "fold_score-1[0]", "fold_score-1[1]",
    ]  # fmt: skip
    assert rows["evaluate"].inputs_differ and not rows["evaluate"].result_differs
    assert rows["fold_score[1]"].inputs_differ  # a mapped child takes folds whole
    assert {key for key, row in rows.items() if not row.inputs_differ} == {
        "load", "describe", "fold_score-1", "fold_score-1[0]", "fold_score-1[1]"
    }  # fold_score-1 takes a constant, the same in both

    result = CliRunner().invoke(app, ["diff", a.id, b.id, "--json", "--database", database_url])
    assert result.exit_code == 0, result.output
    tasks = {row["key"]: row for row in orjson.loads(result.stdout)["tasks"]}
    assert tasks["evaluate"]["inputs_differ"] is True and tasks["describe"]["inputs_differ"] is False


def test_run_created_records_a_stable_digest_per_call(engine: lf.Engine) -> None:
    run = engine.run(study, note="same")
    created = engine.events(run.id)[0]
    assert created.type == EventType.RUN_CREATED
    digests = created.payload["arguments"]
    assert set(digests) == {"load", "evaluate", "describe", "fold_score", "fold_score-1"}
    assert all(len(digest) == 64 for digest in digests.values())
    again = engine.run(study, note="same")
    assert engine.events(again.id)[0].payload["arguments"] == digests
