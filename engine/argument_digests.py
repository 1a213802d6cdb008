"""The digest of each task call's arguments as traced: its flow parameters and constants,
with each upstream result standing as its task key. Recorded in ``run.created``
(``arguments``), so that a diff sees a task's inputs change when only a parameter passed
to it did. Secrets enter as their keyed hashes, as a ``cache_key`` sees them."""

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

from ..executors.invocation import Upstream
from .flow import TracedFlow
from .tracing import TaskCall


def argument_digests(traced: TracedFlow) -> dict[str, str]:
    """By task key, the sha256 of the call's arguments; a call holding a value that is not
    plain JSON (an object built in the flow body) has no digest."""
    digests = {}
    for key, call in traced.calls.items():
        digest = _digest(call, traced.secrets.keyed)
        if digest is not None:
            digests[key] = digest
    return digests


def _digest(call: TaskCall, keyed: Any) -> str | None:
    arguments: Mapping[str, Any] = {"args": keyed(list(call.args)), "kwargs": keyed(dict(call.kwargs))}
    try:
        encoded = orjson.dumps(arguments, default=_upstream, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return None
    return hashlib.sha256(encoded).hexdigest()


def _upstream(value: Any) -> Any:
    if isinstance(value, Upstream):
        return {"$task": value.task_key, "index": value.index}
    raise TypeError(f"{type(value).__name__} is not plain JSON")
