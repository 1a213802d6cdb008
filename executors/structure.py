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


def rebuilt(value: Any, visit: Callable[[Any], Any], sees_scalars: bool = False) -> Any:
    """``value`` with each node replaced by ``visit(node)``, outermost first.

    Where ``visit`` returns ``WALK``, a container is walked into and rebuilt from its
    visited items (any other value is kept). Numbers, texts, bytes and None inside a
    container are kept without a visit unless ``sees_scalars``.
    """
    return _Walker(visit, sees_scalars).rebuilt(value)[0]


class _Walker:
    """One walk of ``rebuilt``: each method gives the value rebuilt and whether ``visit``
    replaced anything in it."""

    def __init__(self, visit: Callable[[Any], Any], sees_scalars: bool) -> None:
        self.visit = visit
        self.skipped = frozenset() if sees_scalars else _SCALARS

    def rebuilt(self, value: Any) -> tuple[Any, bool]:
        replaced = self.visit(value)
        if replaced is not WALK:
            return replaced, replaced is not value
        kind = type(value)
        if kind in _SCALARS:
            return value, False
        if isinstance(value, dict):
            return self._dict(value)
        if kind in _BUILTINS or isinstance(value, list | tuple):
            return self._sequence(value)
        if _is_dataclass_instance(value):
            fields = {name: self.rebuilt(getattr(value, name)) for name in _init_fields(value)}
            changes = {name: item for name, (item, is_changed) in fields.items() if is_changed}
            return (dataclasses.replace(value, **changes) if changes else value), bool(changes)
        return value, False

    def _dict(self, value: dict[Any, Any]) -> tuple[Any, bool]:
        """A dict always rebuilt; a dict subclass copied (type and attributes kept) if changed."""
        items: dict[Any, Any] = {}
        changes: dict[Any, Any] = {}
        for key, item in value.items():
            if type(item) in self.skipped:
                items[key] = item
                continue
            items[key], is_changed = self.rebuilt(item)
            if is_changed:
                changes[key] = items[key]
        if type(value) is dict:
            return items, bool(changes)
        if not changes:
            return value, False
        new = copy.copy(value)
        for key, item in changes.items():
            new[key] = item
        return new, True

    def _sequence(self, value: Any) -> tuple[Any, bool]:
        """A list, tuple, set or frozenset always rebuilt; a subclass of list or tuple
        rebuilt as its own type (a named tuple field by field) if changed."""
        items = []
        any_changed = False
        for item in value:
            if type(item) in self.skipped:
                items.append(item)
                continue
            new, is_changed = self.rebuilt(item)
            items.append(new)
            any_changed |= is_changed
        kind = type(value)
        if kind is list:
            return items, any_changed
        if kind in _BUILTINS:
            return kind(items), any_changed
        if not any_changed:
            return value, False
        if isinstance(value, tuple):
            make = getattr(kind, "_make", None)
            return (make(items) if make is not None else kind(items)), True
        new = copy.copy(value)
        new[:] = items
        return new, True


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


def _is_dataclass_instance(value: Any) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def _init_fields(value: Any) -> list[str]:
    return [field.name for field in dataclasses.fields(value) if field.init]
