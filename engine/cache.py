"""Cache keys: ``lf.inputs_hash`` keys a task's result by the values of its inputs."""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from .canonical import Refusal, canonical_digest

_refusals: ContextVar[list[str] | None] = ContextVar("ledgerflow_key_refusals", default=None)


def inputs_hash(inputs: Mapping[str, Any]) -> str | None:
    """A hash of a task's inputs that is the same in every process, or None if an input
    has no deterministic encoding (see ``engine.canonical``; the reason is recorded with
    the attempt).

    The engine mixes the task's code hash into every cache key, so a changed body misses.
    A secret flow parameter reaches it as its keyed hash, never as its value.
    """
    digest = canonical_digest(dict(inputs))
    if isinstance(digest, Refusal):
        found = _refusals.get()
        if found is not None:
            found.append(f"inputs{digest.path} is {digest.message}")
        return None
    return digest


@contextmanager
def refusals() -> Iterator[list[str]]:
    """Collect why ``inputs_hash`` calls inside the block returned None."""
    found: list[str] = []
    token = _refusals.set(found)
    try:
        yield found
    finally:
        _refusals.reset(token)
