"""The hash of a task's result, as diff and lineage compare and show it."""

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import orjson


def result_hash(result: Mapping[str, Any] | None) -> str | None:
    """The sha256 of a recorded result payload; None when the task recorded no result.

    A result kept in the result store carries the sha256 of its stored bytes; an inline
    result is hashed as its canonical JSON (sorted keys), so equal values hash equally.
    """
    if result is None:
        return None
    if "inline" in result:
        return hashlib.sha256(orjson.dumps(result["inline"], option=orjson.OPT_SORT_KEYS)).hexdigest()
    stored = result.get("sha256")
    return stored if isinstance(stored, str) else None


def element_hash(result: Mapping[str, Any] | None, index: int) -> str | None:
    """The hash of element ``index`` of an inline list result (as ``result_hash`` would hash
    it inline); None when the result is stored, not a list, or too short."""
    value = result.get("inline") if result is not None else None
    if not isinstance(value, list) or not 0 <= index < len(value):
        return None
    return result_hash({"inline": value[index]})


def combined_hash(hashes: Iterable[str | None]) -> str:
    """One hash over a sequence of result hashes (a mapped task's result is its children's)."""
    text = "\n".join(item or "-" for item in hashes)
    return hashlib.sha256(text.encode()).hexdigest()
