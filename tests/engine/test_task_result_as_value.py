"""A task result used as a value in the flow body (``a + 1``, ``if a:``, ``len(a)``...) is one
clear FlowDefinitionError, before anything is recorded; the CLI prints it as one line, exit 2."""

from collections.abc import Callable
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest
from typer.testing import CliRunner

import ledgerflow as lf
from ledgerflow.cli import app

from . import flows

USES: dict[str, Callable[[Any], Any]] = {
    "a + 1": lambda a: a + 1,
    "1 + a": lambda a: 1 + a,
    "a * 2": lambda a: a * 2,
    "-a": lambda a: -a,
    "a < 3": lambda a: a < 3,
    "a == 3": lambda a: a == 3,
    "if a": lambda a: 1 if a else 0,
    "len(a)": lambda a: len(a),
    "a[0]": lambda a: a[0],
    "list(a)": lambda a: list(a),
    "for x in a": lambda a: [x for x in a],
    "a.mean()": lambda a: a.mean(),
    "int(a)": lambda a: int(a),
    "range(a)": lambda a: range(a),
    "3 in a": lambda a: 3 in a,
}


@pytest.mark.parametrize("use", USES)
def test_a_task_result_used_as_a_value_says_what_to_do(engine: lf.Engine, use: str) -> None:
    @lf.flow
    def misuses(n: int = 1) -> Any:
        return USES[use](flows.inc(n))

    with pytest.raises(lf.FlowDefinitionError) as caught:
        engine.run(misuses)
    message = str(caught.value)
    assert message.startswith("the result of task 'inc' is used as a value in the flow body (")
    assert "task calls return placeholders while the flow is traced; do this work in a task" in message
    assert "\n" not in message
    assert engine.runs() == []


def test_a_dynamic_map_says_to_map_over_it() -> None:
    @lf.flow
    def iterates(n: int = 2) -> Any:
        return [flows.inc(x) for x in flows.inc.map(flows.numbers(n))]

    with pytest.raises(lf.FlowDefinitionError, match=r"\(iteration\).*or map over it with task.map"):
        iterates.trace({"n": 2})


def test_placeholders_still_work_as_arguments_and_results(engine: lf.Engine) -> None:
    @lf.flow
    def proper(n: int = 1) -> Any:
        a = flows.inc(n)
        return {"sum": flows.add(a, 1), "both": [a, flows.inc(a)]}

    assert engine.run(proper).result() == {"sum": 3, "both": [2, 3]}


def test_the_command_line_prints_one_line_and_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGERFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LEDGERFLOW_DATABASE_URL", raising=False)
    script = tmp_path / "adds.py"
    script.write_text(
        dedent(
            """
            import ledgerflow as lf

            @lf.task
            def inc(x: int) -> int:
                return x + 1

            @lf.flow
            def adds(n: int = 1):
                a = inc(n)
                return a + 1
            """
        )
    )
    result = CliRunner().invoke(app, ["run", f"{script}:adds"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: the result of task 'inc' is used as a value in the flow body")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
