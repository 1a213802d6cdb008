"""Replace the ``Upstream`` placeholders in a task's arguments by the upstream values."""

from collections.abc import Mapping
from typing import Any

from .invocation import Upstream


def resolve_arguments(
    args: tuple[Any, ...], kwargs: Mapping[str, Any], values: Mapping[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Return ``args`` and ``kwargs`` with every ``Upstream`` replaced by its value.

    ``values`` maps upstream task keys to their results. Placeholders are found at the
    top level and nested in lists, tuples and dict values (exact types: subclasses such
    as named tuples are kept as is, like every other object).
    A missing key raises ``KeyError``, a bad index ``IndexError`` (callers turn both
    into a failed outcome).
    """
    resolved_args = tuple(_resolve(arg, values) for arg in args)
    return resolved_args, {name: _resolve(arg, values) for name, arg in kwargs.items()}


def _resolve(obj: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(obj, Upstream):
        value = values[obj.task_key]
        return value if obj.index is None else value[obj.index]
    if type(obj) is list:
        return [_resolve(item, values) for item in obj]
    if type(obj) is tuple:
        return tuple(_resolve(item, values) for item in obj)
    if type(obj) is dict:
        return {key: _resolve(item, values) for key, item in obj.items()}
    return obj
