"""Cache keys: ``lf.inputs_hash`` keys a task's result by the values of its inputs."""

import hashlib
import pickle
from collections.abc import Mapping
from typing import Any

import orjson


def inputs_hash(inputs: Mapping[str, Any]) -> str | None:
    """A stable hash of a task's inputs (JSON when possible, else pickle); None if neither.

    The engine mixes the task's code hash into every cache key, so a changed body misses.
    A secret flow parameter reaches it as its keyed hash, never as its value.
    """
    try:
        data = orjson.dumps(dict(inputs), option=orjson.OPT_SORT_KEYS)
    except TypeError:
        try:
            data = pickle.dumps(dict(sorted(inputs.items())), protocol=5)
        except Exception:
            return None
    return hashlib.sha256(data).hexdigest()
