"""resolve_arguments: Upstream placeholders replaced at any depth."""

import pytest

from ledgerflow.executors import Upstream
from ledgerflow.executors.arguments import resolve_arguments


def test_placeholders_are_replaced_at_top_level_and_nested() -> None:
    values = {"a": [1, 2, 3], "b": "x"}
    args = (Upstream("a"), [Upstream("a", 0), (Upstream("b"),)], 7)
    kwargs = {"k": {"deep": [Upstream("a", 2)]}, "plain": "y"}

    resolved_args, resolved_kwargs = resolve_arguments(args, kwargs, values)

    assert resolved_args == ([1, 2, 3], [1, ("x",)], 7)
    assert resolved_kwargs == {"k": {"deep": [3]}, "plain": "y"}


def test_missing_upstream_raises_key_error() -> None:
    with pytest.raises(KeyError):
        resolve_arguments((Upstream("missing"),), {}, {})
