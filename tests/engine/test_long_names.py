"""Long names work alike on SQLite and PostgreSQL, up to limits checked when a flow is defined."""

import logging
from typing import Any

import pytest

import ledgerflow as lf
from ledgerflow.engine.names import MAX_FLOW_NAME_LENGTH, MAX_TASK_NAME_LENGTH
from ledgerflow.storage.names import MAX_NAME_LENGTH as MAX_TAG_LENGTH

WIDE = "\U0001d538"  # four bytes in UTF-8: the worst case for PostgreSQL's index entries


def big(x: int) -> list[int]:
    """A result too big to travel inline: it is stored in the result store under a ref."""
    logging.getLogger("L" * 300).warning("long logger name")
    return list(range(x, x + 2000))


def long_flow(task_name: str, flow_name: str, tag: str | None = None) -> lf.Flow[..., Any]:
    tags = [tag] if tag is not None else []
    step = lf.task(big, name=task_name, tags=tags)

    @lf.flow(name=flow_name)
    def body(x: int = 1) -> Any:
        return step.map([x, x + 1])

    return body


def test_a_200_character_task_name_and_a_300_character_flow_name(engine: lf.Engine) -> None:
    flow = long_flow("t" * 200, "f" * 300)
    run = engine.run(flow, x=3)
    assert run.state == "SUCCEEDED", run.error
    assert run.result()[1][0] == 4
    summary = engine.runs(flow="f" * 300)[0]
    assert summary.flow == "f" * 300
    logged = engine.storage.task_logs.read_logs(run.id, f"{'t' * 200}[0]")
    assert [line.logger for line in logged if line.stream == "log"] == ["L" * 300]


def test_names_at_their_limits_in_the_widest_characters(engine: lf.Engine) -> None:
    tag = WIDE * MAX_TAG_LENGTH
    flow = long_flow(WIDE * MAX_TASK_NAME_LENGTH, WIDE * MAX_FLOW_NAME_LENGTH, tag)
    engine.set_limit(tag, 1)
    run = engine.run(flow, x=1)
    assert run.state == "SUCCEEDED", run.error
    assert run.result()[0][-1] == 2000
    assert engine.runs(flow=WIDE * MAX_FLOW_NAME_LENGTH)[0].run_id == run.id


@pytest.mark.parametrize(
    ("task_name", "flow_name", "tag", "named"),
    [
        ("t" * (MAX_TASK_NAME_LENGTH + 1), "f", None, "the task name"),
        ("t", "f" * (MAX_FLOW_NAME_LENGTH + 1), None, "the flow name"),
    ],
)
def test_a_name_beyond_its_limit_is_refused_when_defined(
    task_name: str, flow_name: str, tag: str | None, named: str
) -> None:
    with pytest.raises(lf.FlowDefinitionError, match=f"^{named} .* characters: at most \\d+ are allowed"):
        long_flow(task_name, flow_name, tag)


@pytest.mark.parametrize("tag", ["g" * (MAX_TAG_LENGTH + 1), "../runs/x/cancel", ".."])
def test_a_tag_that_cannot_name_a_limit_is_refused_when_defined(tag: str) -> None:
    with pytest.raises(lf.FlowDefinitionError, match=r"^task 't': tag "):
        long_flow("t", "f", tag)
