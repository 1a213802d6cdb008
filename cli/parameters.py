"""Turn ``-p key=value`` options into flow parameters, converted by the flow's annotations.

int, float, bool (true/false/1/0/yes/no), str; ``X | None`` (``null`` or ``none`` is
None); unions (first type that fits); ``Literal``; list/tuple/set/dict (JSON, and for
a list of scalars also ``a,b,c``); ``Annotated[X, ...]`` (``lf.Secret[X]``) as X;
unannotated or other types: JSON, else the raw text. An error about a secret
parameter does not show its value.
"""

import inspect
import math
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from ..engine.flow import Flow
from .errors import ParameterError

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})
_NONE = frozenset({"null", "none"})
_SEQUENCES = (list, tuple, set, frozenset)


class _Mismatch(Exception):
    """A value does not fit an annotation (internal: becomes a ``ParameterError``)."""


def parse_parameters(flow: Flow[..., Any], options: Sequence[str]) -> dict[str, Any]:
    """Split and convert ``key=value`` options for ``flow``; raises ``ParameterError``."""
    hints = _annotations(flow)
    parameters: dict[str, Any] = {}
    for option in options:
        name, sep, raw = option.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ParameterError(flow.name, option, "expected -p KEY=VALUE")
        if name not in flow.signature.parameters:
            known = ", ".join(flow.signature.parameters) or "none"
            raise ParameterError(flow.name, name, f"unknown parameter (known: {known})")
        if name in parameters:
            raise ParameterError(flow.name, name, "given more than once")
        try:
            parameters[name] = convert(raw, hints.get(name, inspect.Parameter.empty))
        except _Mismatch as exc:
            if name in flow.secrets:  # the reason may quote the value
                reason = "the value does not fit its annotation (not shown: the parameter is secret)"
                raise ParameterError(flow.name, name, reason) from None
            raise ParameterError(flow.name, name, f"{exc} (got {raw!r})") from None
    return parameters


def _annotations(flow: Flow[..., Any]) -> dict[str, Any]:
    """The parameters' annotations; postponed (string) ones resolved in the flow's module."""
    namespace = getattr(flow.fn, "__globals__", {})
    hints: dict[str, Any] = {}
    for name, parameter in flow.signature.parameters.items():
        annotation = parameter.annotation
        if isinstance(annotation, str):
            try:
                annotation = eval(annotation, namespace)  # the user's own module, already executed
            except Exception:  # an unresolvable name: treat the parameter as unannotated
                annotation = inspect.Parameter.empty
        hints[name] = annotation
    return hints


def convert(raw: str, annotation: Any) -> Any:
    """Convert one command-line value to ``annotation``; raises ``_Mismatch``."""
    if annotation in (inspect.Parameter.empty, Any, object):
        return _json_or_text(raw)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return convert(raw, args[0])
    if origin in (typing.Union, types.UnionType):
        return _convert_union(raw, args)
    if origin is typing.Literal:
        for choice in args:
            if str(choice) == raw or (isinstance(choice, bool) and raw.lower() == str(choice).lower()):
                return choice
        raise _Mismatch(f"expected one of {', '.join(map(repr, args))}")
    converter = _SCALARS.get(annotation)
    if converter is not None:
        return converter(raw)
    if (origin or annotation) in (*_SEQUENCES, dict):
        return _convert_container(raw, annotation)
    return _json_or_text(raw)


def _convert_union(raw: str, args: tuple[Any, ...]) -> Any:
    if type(None) in args and raw.strip().lower() in _NONE:
        return None
    reasons = []
    for arg in args:
        if arg is type(None):
            continue
        try:
            return convert(raw, arg)
        except _Mismatch as exc:
            reasons.append(str(exc))
    raise _Mismatch(" or ".join(reasons))


def _to_int(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise _Mismatch("expected an integer") from None


def _to_float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise _Mismatch("expected a number") from None
    if not math.isfinite(value):
        raise _Mismatch("expected a finite number")
    return value


def _to_bool(raw: str) -> bool:
    text = raw.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _Mismatch("expected a boolean (true/false, 1/0, yes/no)")


_SCALARS: Mapping[Any, Callable[[str], Any]] = {
    int: _to_int,
    float: _to_float,
    bool: _to_bool,
    str: lambda raw: raw,
}


def _json_or_text(raw: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw


def _convert_container(raw: str, annotation: Any) -> Any:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        if (typing.get_origin(annotation) or annotation) is dict:
            raise _Mismatch("expected a JSON object") from None
        value = _comma_separated(raw, annotation)
    return coerce(value, annotation)


def _comma_separated(raw: str, annotation: Any) -> list[Any]:
    """``a,b,c`` for a sequence of scalars, each item converted from text."""
    args = typing.get_args(annotation)
    item = args[0] if args else inspect.Parameter.empty
    if item in _SCALARS or item in (inspect.Parameter.empty, Any):
        return [convert(part.strip(), item) for part in raw.split(",") if part.strip()]
    raise _Mismatch("expected a JSON list")


def coerce(value: Any, annotation: Any) -> Any:
    """Check a parsed JSON value against ``annotation``, converting where JSON is looser."""
    if annotation in (inspect.Parameter.empty, Any, object):
        return value
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return coerce(value, args[0])
    if origin in (typing.Union, types.UnionType):
        return _coerce_union(value, args)
    if annotation is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if annotation in _SCALARS:
        if type(value) is not annotation:
            raise _Mismatch(f"expected {annotation.__name__} items, found {value!r}")
        return value
    container = origin or annotation
    if container in _SEQUENCES:
        return _coerce_sequence(value, args)
    if container is dict:
        if not isinstance(value, dict):
            raise _Mismatch("expected a JSON object")
        item = args[1] if len(args) == 2 else inspect.Parameter.empty
        return {key: coerce(item_value, item) for key, item_value in value.items()}
    return value


def _coerce_union(value: Any, args: tuple[Any, ...]) -> Any:
    if value is None and type(None) in args:
        return None
    for arg in args:
        if arg is type(None):
            continue
        try:
            return coerce(value, arg)
        except _Mismatch:
            continue
    raise _Mismatch(f"{value!r} fits none of {', '.join(getattr(a, '__name__', str(a)) for a in args)}")


def _coerce_sequence(value: Any, args: tuple[Any, ...]) -> list[Any]:
    if not isinstance(value, list):
        raise _Mismatch("expected a JSON list")
    if len(args) == 2 and args[1] is Ellipsis:
        args = args[:1]
    if len(args) > 1:  # tuple[int, str]: one annotation per position
        if len(args) != len(value):
            raise _Mismatch(f"expected a list of {len(args)} items")
        return [coerce(item, arg) for item, arg in zip(value, args, strict=True)]
    item = args[0] if args else inspect.Parameter.empty
    return [coerce(element, item) for element in value]
