"""Cache decisions: a task's cache key from its inputs, mixed with its code hash."""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .cache import refusals
from .task import Task


@dataclass(frozen=True, slots=True)
class CacheDecision:
    """The cache key of one attempt, or why there is none."""

    key: str | None
    reason: str | None = None


def decide_cache_key(task: Task[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> CacheDecision:
    """Call the task's ``cache_key`` with its inputs by parameter name; mix in its code hash.

    A key function that raises, returns None or returns a non-string gives no key
    (the task runs normally and writes no cache entry), with the reason.
    """
    if task.cache_key is None:
        return CacheDecision(None, "the task has no cache_key")
    try:
        bound = task.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        with refusals() as why:
            user_key = task.cache_key(dict(bound.arguments))
    except Exception as exc:  # a user function: its failure is recorded, not raised
        return CacheDecision(None, f"cache_key raised {type(exc).__name__}: {exc}")
    if user_key is None:
        return CacheDecision(None, "; ".join(["cache_key returned None", *why]))
    if not isinstance(user_key, str):
        return CacheDecision(None, f"cache_key returned a {type(user_key).__name__}, not a str")
    material = f"{task.name}\0{task.code_hash}\0{user_key}".encode()
    return CacheDecision(hashlib.sha256(material).hexdigest())
