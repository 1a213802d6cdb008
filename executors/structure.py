"""Walking the nested structure of task arguments, keeping each container's type.

Tracing (placeholders to ``Upstream`` markers), resolving arguments (markers to values),
finding upstream keys and substituting secrets all walk arguments the same way:

- lists, tuples, dicts, sets and frozensets are walked and rebuilt;
- named tuples, other tuple, list and dict subclasses and dataclass instances (their
  ``init`` fields) are walked too, and rebuilt as the same type, only where something
  inside them changed (otherwise the object itself is kept);
- everything else is a leaf.
"""

import copy
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any, Final, TypeVar

T = TypeVar("T")


class _Walk:
    def __repr__(self) -> str:
        return "WALK"


WALK: Final = _Walk()
"""What a ``visit`` function returns to have the walker look inside a value."""

_SCALARS = frozenset({int, float, complex, str, bytes, bool, type(None)})
_BUILTINS = frozenset({list, tuple, dict, set, frozenset})


def rebuilt(value: Any, visit: Callable[[Any], Any]) -> Any:
    """``value`` with each node replaced by ``visit(node)``, outermost first.

    Where ``visit`` returns ``WALK``, a container is walked into and rebuilt from its
    visited items (any other value is kept).
    """
    replaced = visit(value)
    if replaced is not WALK:
        return replaced
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind in _BUILTINS:
        if kind is dict:
            return {key: rebuilt(item, visit) for key, item in value.items()}
        items = [rebuilt(item, visit) for item in value]
        return items if kind is list else kind(items)
    if isinstance(value, dict):
        changed = {key: new for key, item in value.items() if (new := rebuilt(item, visit)) is not item}
        return _dict_with(value, changed) if changed else value
    if isinstance(value, list | tuple):
        items = [rebuilt(item, visit) for item in value]
        if all(new is old for new, old in zip(items, value, strict=True)):
            return value
        return _sequence_of(value, items)
    if _is_dataclass_instance(value):
        fields = {name: getattr(value, name) for name in _init_fields(value)}
        changed = {name: new for name, item in fields.items() if (new := rebuilt(item, visit)) is not item}
        return dataclasses.replace(value, **changed) if changed else value
    return value


def instances(value: Any, kind: type[T] | tuple[type[T], ...]) -> Iterator[T]:
    """The values of type ``kind`` in ``value``, in order (not looked into themselves)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, kind):
            yield item
        elif type(item) not in _SCALARS:
            stack.extend(reversed(list(children(item))))


def children(value: Any) -> Iterator[Any]:
    """The items the walker looks at inside ``value`` (none for a leaf)."""
    if isinstance(value, dict):
        yield from value.values()
    elif type(value) in _BUILTINS or isinstance(value, list | tuple):
        yield from value
    elif _is_dataclass_instance(value):
        for name in _init_fields(value):
            yield getattr(value, name)


def _dict_with(value: dict[Any, Any], changed: dict[Any, Any]) -> dict[Any, Any]:
    """A copy of a dict subclass (its type and attributes kept) with ``changed`` items set."""
    new = copy.copy(value)
    for key, item in changed.items():
        new[key] = item
    return new


def _sequence_of(value: list[Any] | tuple[Any, ...], items: list[Any]) -> Any:
    """A list or tuple subclass rebuilt with ``items``: a named tuple field by field."""
    if isinstance(value, tuple):
        make = getattr(type(value), "_make", None)
        return make(items) if make is not None else type(value)(items)
    new = copy.copy(value)
    new[:] = items
    return new


def _is_dataclass_instance(value: Any) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def _init_fields(value: Any) -> list[str]:
    return [field.name for field in dataclasses.fields(value) if field.init]
