"""``.map`` takes any finite iterable, read once while tracing and recorded as a list;
texts, bytes, mappings and sets are refused with a message that says what to do."""

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

import ledgerflow as lf
from ledgerflow.engine.flow import Flow

from . import flows

READS: list[int] = []


def _counted(n: int) -> Iterator[int]:
    for value in range(n):
        READS.append(value)
        yield value


@lf.task
def pair(x: Any, y: Any) -> list[Any]:
    return [x, y]


def _mapping_flow(make: Any) -> Flow[..., Any]:
    @lf.flow(name="mapping")
    def mapping(n: int = 3) -> Any:
        return flows.total(flows.inc.map(make(n)))

    return mapping


@pytest.mark.parametrize(
    "make",
    [
        range,
        lambda n: (i for i in range(n)),
        lambda n: tuple(range(n)),
        lambda n: dict.fromkeys(range(n)).keys(),
        lambda n: np.arange(n),
        lambda n: pd.Series(range(n), index=[f"row{i}" for i in range(n)]),
    ],
    ids=["range", "generator", "tuple", "dict keys", "numpy array", "pandas Series"],
)
def test_map_over_any_finite_iterable(engine: lf.Engine, make: Any) -> None:
    run = engine.run(_mapping_flow(make), n=3)
    assert run.state == "SUCCEEDED"
    assert run.result() == 1 + 2 + 3
    assert [key for key in run.tasks if key.startswith("inc[")] == ["inc[0]", "inc[1]", "inc[2]"]


def test_a_generator_is_read_once_and_recorded_as_a_list() -> None:
    READS.clear()

    @lf.flow
    def once(n: int = 3) -> Any:
        return pair.map(_counted(n), y=lf.unmapped("same"))

    traced = once.trace({"n": 3})
    assert READS == [0, 1, 2]
    assert [traced.calls[f"pair[{i}]"].args for i in range(3)] == [(0,), (1,), (2,)]


def test_an_iterable_beside_a_dynamic_map_is_recorded_as_a_list(engine: lf.Engine) -> None:
    @lf.flow
    def beside(n: int = 3) -> Any:
        return pair.map(flows.numbers(n), range(10, 10 + n))

    traced = beside.trace({"n": 3})
    assert traced.calls["pair"].args[1] == [10, 11, 12]
    assert engine.run(beside, n=3).result() == [[0, 10], [1, 11], [2, 12]]


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("abc", "does not map over the characters of a text (almost certainly a mistake)"),
        (b"abc", "does not map over the characters of a text"),
        ({"a": 1}, "map over its .keys(), .values() or .items()"),
        ({1, 2}, "map over sorted(...)"),
        (7, "int: not iterable"),
    ],
    ids=["str", "bytes", "dict", "set", "int"],
)
def test_texts_mappings_sets_and_scalars_are_refused_clearly(value: Iterable[Any], words: str) -> None:
    @lf.flow
    def refused() -> Any:
        return flows.inc.map(value)

    with pytest.raises(lf.FlowDefinitionError, match=r"lf\.unmapped") as caught:
        refused.trace({})
    assert f"inc.map(...): argument 0 is a {type(value).__name__}: " in str(caught.value)
    assert words in str(caught.value)


def test_a_text_can_be_mapped_explicitly_or_passed_whole(engine: lf.Engine) -> None:
    @lf.flow
    def texts(text: str = "ab") -> Any:
        return {"chars": pair.map(list(text), lf.unmapped(0)), "whole": pair.map([1, 2], lf.unmapped(text))}

    assert engine.run(texts).result() == {"chars": [["a", 0], ["b", 0]], "whole": [[1, "ab"], [2, "ab"]]}
