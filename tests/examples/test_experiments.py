"""The main example runs end to end on SQLite and PostgreSQL: its flaky step retries."""

from collections.abc import Iterator
from pathlib import Path

import pytest

import ledgerflow as lf
from ledgerflow.engine.errors import InvalidParameter
from ledgerflow.examples import experiments as example


@pytest.fixture
def engine(database_url: str, tmp_path: Path) -> Iterator[lf.Engine]:
    with lf.Engine(database_url, executor="threads", home=tmp_path) as opened:
        yield opened


def test_experiments_retries_the_flaky_step_and_picks_the_best_model(engine: lf.Engine) -> None:
    run = engine.run(example.experiments, folds=2, models="logreg")

    assert run.state == "SUCCEEDED"
    configs = len(example.GRIDS["logreg"])
    assert {f"evaluate[{i}]" for i in range(configs * 2)} <= set(run.tasks)
    flaky = run.tasks["assign_folds"]
    assert flaky.state == "SUCCEEDED" and flaky.attempts == 2
    retrying = [
        e for e in engine.events(run.id) if e.task_key == "assign_folds" and e.type == "task.retrying"
    ]
    assert len(retrying) == 1
    assert retrying[0].payload["error"]["type"].endswith("ConnectionError")
    best = run.result()
    assert best["model"] == "logreg" and best["params"] in example.GRIDS["logreg"]
    assert 0.5 < best["mean_auc"] <= 1.0
    assert [row["folds"] for row in best["ranking"]] == [2] * configs
    assert engine.verify(run.id).ok


def test_an_unknown_model_is_a_bad_parameter(engine: lf.Engine) -> None:
    with pytest.raises(InvalidParameter, match="unknown models"):
        engine.run(example.experiments, models="logreg,svm")
    assert engine.runs() == []


def test_main_runs_on_the_default_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LEDGERFLOW_HOME", str(tmp_path))
    monkeypatch.delenv("LEDGERFLOW_DATABASE_URL", raising=False)

    assert example.main(["--folds", "2", "--models", "logreg"]) == 0

    out = capsys.readouterr().out
    assert "SUCCEEDED" in out and "assign_folds: 2 attempts" in out and "best: logreg" in out
    assert (tmp_path / "ledgerflow.db").exists()
