"""The digest of each task call's arguments as traced: its flow parameters and constants,
with each upstream result standing as its task key. Recorded in ``run.created``
(``arguments``), so that a diff sees a task's inputs change when only a parameter passed
to it did. Secrets enter as their keyed hashes, as a ``cache_key`` sees them."""

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from ..executors.invocation import Upstream
from .flow import TracedFlow
from .tracing import TaskCall


def argument_digests(traced: TracedFlow) -> dict[str, str]:
    """By task key, the sha256 of the call's arguments; a call holding a value that is not
    plain JSON (an object built in the flow body) has no digest."""
    digests = {}
    keyed = traced.secrets.keyed if traced.secrets else None  # no secrets: nothing to key
    for key, call in traced.calls.items():
        digest = _digest(call, keyed)
        if digest is not None:
            digests[key] = digest
    return digests


def _digest(call: TaskCall, keyed: Callable[[Any], Any] | None) -> str | None:
    args: Any = call.args  # a tuple is encoded as a list is
    kwargs: Any = call.kwargs if type(call.kwargs) is dict else dict(call.kwargs)
    if keyed is not None:
        args, kwargs = keyed(list(args)), keyed(dict(kwargs))
    arguments: Mapping[str, Any] = {"args": args, "kwargs": kwargs}
    try:
        encoded = orjson.dumps(arguments, default=_upstream, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return None
    return hashlib.sha256(encoded).hexdigest()


def _upstream(value: Any) -> Any:
    if isinstance(value, Upstream):
        return {"$task": value.task_key, "index": value.index}
    raise TypeError(f"{type(value).__name__} is not plain JSON")
