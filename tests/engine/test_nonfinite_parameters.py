"""NaN and infinities anywhere in a parameter are refused when parameters are bound, naming
the parameter (JSON cannot hold them: they would be recorded as null)."""

from collections.abc import Callable
from typing import Any

import pytest

import ledgerflow as lf
from ledgerflow.engine.errors import InvalidParameter

from . import flows


@lf.flow
def takes(d: Any = 0.0) -> Any:
    return flows.inc(1)


STARTS: dict[str, Callable[[lf.Engine, Any], Any]] = {
    "run": lambda engine, value: engine.run(takes, d=value),
    "submit": lambda engine, value: engine.submit(takes, d=value),
    "schedule": lambda engine, value: engine.schedule(
        "every-hour", takes, interval="1h", parameters={"d": value}
    ),
}


@pytest.mark.parametrize("start", STARTS)
@pytest.mark.parametrize(
    "value",
    [float("nan"), float("inf"), -float("inf"), [1.0, float("nan")], {"a": {"b": (float("-inf"),)}}],
    ids=["nan", "inf", "-inf", "in a list", "deep"],
)
def test_non_finite_numbers_are_refused_naming_the_parameter(
    engine: lf.Engine, start: str, value: Any
) -> None:
    with pytest.raises(InvalidParameter, match="parameter 'd' of flow 'takes'") as caught:
        STARTS[start](engine, value)
    assert caught.value.name == "d" and "JSON" in str(caught.value)
    assert engine.runs() == [] and engine.schedules() == []


def test_finite_numbers_are_recorded_as_given(engine: lf.Engine) -> None:
    run = engine.run(takes, d=[1.5, -2.0, 1e308])
    assert run.parameters["d"] == [1.5, -2.0, 1e308]
