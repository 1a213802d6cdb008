"""Replace the ``Upstream`` placeholders in a task's arguments by the upstream values."""

from collections.abc import Mapping
from typing import Any

from .invocation import Upstream
from .structure import WALK, rebuilt

_SCALARS = frozenset({int, float, str, bool, bytes, type(None)})  # values that hold nothing


def holds_only_scalars(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> bool:
    """Whether every argument is a number, text, bytes or None (e.g. a mapped child's): no
    placeholder to resolve and nothing a body could change for the next attempt."""
    return all(type(value) in _SCALARS for value in args) and all(
        type(value) in _SCALARS for value in kwargs.values()
    )


def resolve_arguments(
    args: tuple[Any, ...], kwargs: Mapping[str, Any], values: Mapping[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Return ``args`` and ``kwargs`` with every ``Upstream`` replaced by its value.

    ``values`` maps upstream task keys to their results. Placeholders are found at the
    top level and nested in any container ``executors.structure`` walks (each rebuilt as
    its own type: a named tuple stays a named tuple, a dataclass that dataclass).
    A missing key raises ``KeyError``, a bad index ``IndexError`` (callers turn both
    into a failed outcome).
    """

    def resolved(obj: Any) -> Any:
        if type(obj) is not Upstream:
            return WALK
        value = values[obj.task_key]
        return value if obj.index is None else value[obj.index]

    return rebuilt(args, resolved), {name: rebuilt(arg, resolved) for name, arg in kwargs.items()}
