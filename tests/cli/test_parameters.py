"""``-p key=value`` conversion by the flow's annotations (pure: no database)."""

from typing import Any, Literal

import pytest

import ledgerflow as lf
from ledgerflow.cli.errors import ParameterError
from ledgerflow.cli.parameters import parse_parameters


@lf.flow
def typed(
    count: int,
    rate: float,
    flag: bool,
    name: str,
    numbers: list[int],
    weights: dict[str, float],
    maybe: int | None,
    mode: Literal["fast", "slow"],
    pair: tuple[int, str],
    anything: Any,
    untyped,
):
    return None


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("count=3", 3),
        ("count=-12", -12),
        ("rate=0.5", 0.5),
        ("rate=2", 2.0),
        ("flag=true", True),
        ("flag=False", False),
        ("flag=1", True),
        ("flag=0", False),
        ("flag=yes", True),
        ("flag=NO", False),
        ("name=hello world", "hello world"),
        ("name=42", "42"),
        ("name=", ""),
        ("name=a=b", "a=b"),
        ("numbers=[1, 2, 3]", [1, 2, 3]),
        ("numbers=1,2,3", [1, 2, 3]),
        ("numbers=[]", []),
        ('weights={"a": 1, "b": 0.5}', {"a": 1.0, "b": 0.5}),
        ("maybe=7", 7),
        ("maybe=null", None),
        ("maybe=None", None),
        ("mode=slow", "slow"),
        ('pair=[1, "x"]', [1, "x"]),
        ('anything={"k": [1]}', {"k": [1]}),
        ("anything=plain text", "plain text"),
        ("untyped=12", 12),
        ("untyped=[true]", [True]),
        ("untyped=not json", "not json"),
    ],
)
def test_a_value_is_converted_by_its_annotation(option: str, expected: object) -> None:
    name = option.partition("=")[0]
    converted = parse_parameters(typed, [option])
    assert converted == {name: expected}
    assert type(converted[name]) is type(expected)


@pytest.mark.parametrize(
    ("option", "fragment"),
    [
        ("count=abc", "expected an integer"),
        ("count=1.5", "expected an integer"),
        ("rate=fast", "expected a number"),
        ("rate=nan", "finite"),
        ("flag=maybe", "expected a boolean"),
        ("numbers=[1, \"x\"]", "expected int"),
        ("numbers=a,b", "expected an integer"),
        ("numbers={}", "expected a JSON list"),
        ("weights=[1]", "expected a JSON object"),
        ("weights=a", "expected a JSON object"),
        ("maybe=seven", "expected an integer"),
        ("mode=medium", "expected one of"),
        ("pair=[1]", "2 items"),
    ],
)
def test_a_value_that_does_not_convert_names_the_parameter(option: str, fragment: str) -> None:
    name = option.partition("=")[0]
    with pytest.raises(ParameterError) as caught:
        parse_parameters(typed, [option])
    assert caught.value.name == name
    assert f"parameter {name!r} of flow 'typed'" in str(caught.value)
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        (["colour=red"], "unknown parameter (known: count, rate"),
        (["count"], "expected -p KEY=VALUE"),
        (["=3"], "expected -p KEY=VALUE"),
        (["count=1", "count=2"], "given more than once"),
    ],
)
def test_malformed_options_are_refused(options: list[str], fragment: str) -> None:
    with pytest.raises(ParameterError, match="typed") as caught:
        parse_parameters(typed, options)
    assert fragment in str(caught.value)


def test_postponed_annotations_are_resolved() -> None:
    namespace: dict[str, Any] = {}
    exec(  # a module with `from __future__ import annotations` keeps annotations as strings
        "from __future__ import annotations\n"
        "import ledgerflow as lf\n"
        "@lf.flow\n"
        "def later(n: int, xs: list[float] | None = None, ghost: Missing = None):\n"
        "    return None\n",
        namespace,
    )
    later = namespace["later"]
    assert parse_parameters(later, ["n=4", "xs=1,2"]) == {"n": 4, "xs": [1.0, 2.0]}
