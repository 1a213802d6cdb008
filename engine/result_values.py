"""A task's value from the result payload its event recorded: inline, or from the store."""

from typing import Any

from ..storage.protocols import ResultStore


def load_result(payload: Any, results: ResultStore) -> Any:
    """A task's value from its result payload: inline, or from the result store."""
    if payload is None:
        return None
    if "inline" in payload:
        return payload["inline"]
    return results.get(payload["ref"])
