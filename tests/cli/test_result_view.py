"""A run's result is printed readably: pretty, bounded, and never cut in the middle of an
item; ``ledgerflow run`` of the main example shows the best model by mean ROC AUC."""

import ast
import re
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledgerflow.cli.result_view import MAX_LINES, WIDTH, result_view

from .conftest import Invoke

MORE = re.compile(r"^\s*\.\.\. \((\d+) more\)$")


def shown_items(text: str) -> Any:
    """The items shown, parsed back as Python (without the "... (K more)" lines): every item
    shown is whole, or this raises SyntaxError."""
    return ast.literal_eval("\n".join(line for line in text.splitlines() if not MORE.match(line)))


def test_a_small_result_is_its_repr() -> None:
    assert result_view(4) == "4"
    assert result_view({"best": 14.0}) == "{'best': 14.0}"
    assert result_view((1,)) == "(1,)"


def test_a_large_dict_is_one_key_per_line_and_a_list_of_scalars_fills_lines() -> None:
    value = {"model": "logreg", "mean_auc": 0.98, "ranking": list(range(1000))}
    lines = result_view(value).splitlines()
    assert lines[:3] == ["{", "  'model': 'logreg',", "  'mean_auc': 0.98,"]
    assert lines[3] == "  'ranking': ["
    assert lines[4].startswith("    0, 1, 2, 3, ") and len(lines[4]) <= WIDTH
    assert len(lines) <= MAX_LINES and lines[-1] == "}"
    inside = [line for line in lines if line.startswith("    ") and not MORE.match(line)]
    [more] = [int(m.group(1)) for line in lines if (m := MORE.match(line))]
    assert sum(line.count(",") for line in inside) + more == 1000
    shown_items(result_view(value))


def test_a_long_text_is_cut_at_a_space_and_says_so() -> None:
    text = "word " * 100
    [line] = result_view({"text": text, "n": 1}, width=60).splitlines()[1:2]
    assert line.startswith("  'text': 'word word")
    assert line.endswith(f"… ({len(repr(text))} characters in all),")
    assert len(line) <= 61 and "wor …" not in line


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=25) | st.dictionaries(st.text(max_size=10), inner, max_size=12),
    max_leaves=150,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_any_result_is_bounded_and_shows_whole_items(value: Any) -> None:
    text = result_view(value, width=80, max_lines=20)
    lines = text.splitlines()
    assert len(lines) <= 20
    if "characters in all" not in text:  # no text had to be cut
        assert all(len(line) <= 80 for line in lines)
        shown = shown_items(text)
        if not any(MORE.match(line) for line in lines):
            assert shown == value  # nothing left out: the value itself


RESULTS = dedent(
    """
    import ledgerflow as lf


    @lf.task
    def table(n: int) -> dict:
        return {"n": n, "rows": [{"id": i, "name": f"row {i}", "score": i / 7} for i in range(n)]}


    @lf.flow
    def big(n: int = 500):
        return table(n)
    """
)


def test_run_prints_a_big_result_bounded_and_whole(cli: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "results.py"
    path.write_text(RESULTS)
    out = cli("run", f"{path}:big").stdout
    shown = out[out.index("result: ") + len("result: "):].rstrip("\n")
    lines = shown.splitlines()
    assert len(lines) <= MAX_LINES and all(len(line) <= WIDTH for line in lines)
    assert lines[:3] == ["{", "  'n': 500,", "  'rows': ["] and lines[-2:] == ["  ],", "}"]
    assert lines[3] == "    {'id': 0, 'name': 'row 0', 'score': 0.0},"
    [more] = [int(m.group(1)) for line in lines if (m := MORE.match(line))]
    assert more == 500 - sum(1 for line in lines if line.startswith("    {'id'"))
    shown_items(shown)


@pytest.mark.slow
def test_run_of_the_example_shows_the_best_model_by_mean_auc(cli: Invoke) -> None:
    example = Path(__file__).parents[2] / "examples" / "experiments.py"
    out = cli("run", f"{example}:experiments", "-p", "folds=2", "-p", "models=logreg").stdout
    shown = out[out.index("result: ") + len("result: "):].splitlines()
    assert shown[:2] == ["{", "  'model': 'logreg',"]
    assert shown[2].startswith("  'params': {'C': ") and shown[3].startswith("  'mean_auc': 0.")
    assert "  'ranking': [" in shown and len(shown) <= MAX_LINES
