"""Which ``task.succeeded`` events make cache entries, whichever backend indexes them.

An event ``task.succeeded`` whose payload has a str ``"cache_key"`` makes (or replaces,
if newer) the entry of that key: its ``result`` payload, the run and task it came from,
the event's ts as ``created_at``, and ``"cache_expires_at"`` (UTC ISO-8601, optional)
as ``expires_at``. A key that is absent or None writes no entry.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..engine.core.events import EventType
from .protocols import CacheEntry

MAX_CACHE_KEY_LENGTH = 512


def cache_fields_problem(payload: Mapping[str, Any]) -> str | None:
    """Why a task.succeeded payload's cache fields cannot be indexed (None if they can)."""
    key = payload.get("cache_key")
    if not isinstance(key, str):
        return None
    if not 0 < len(key) <= MAX_CACHE_KEY_LENGTH:
        return f"cache_key must have 1 to {MAX_CACHE_KEY_LENGTH} characters, not {len(key)}"
    if not isinstance(payload.get("result"), dict):
        return "a task.succeeded with a cache_key needs a result payload (an object)"
    expires = payload.get("cache_expires_at")
    if expires is not None and _parse_expiry(expires) is None:
        return f"cache_expires_at {expires!r} is not a UTC-aware ISO-8601 timestamp"
    return None


def _parse_expiry(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.utcoffset() is not None else None


def cache_entry(
    run_id: str, task_key: str | None, event_type: str, payload: Mapping[str, Any], ts: datetime
) -> CacheEntry | None:
    """The cache entry an event makes, or None (not a cacheable success, or malformed)."""
    if event_type != EventType.TASK_SUCCEEDED or not isinstance(payload.get("cache_key"), str):
        return None
    if cache_fields_problem(payload) is not None:
        return None
    expires = payload.get("cache_expires_at")
    return CacheEntry(
        cache_key=payload["cache_key"],
        run_id=run_id,
        task_key=task_key or "",
        result=payload["result"],
        created_at=ts,
        expires_at=None if expires is None else _parse_expiry(expires),
    )


def is_unexpired(entry: CacheEntry, now: datetime) -> bool:
    """True while ``entry`` may be used at ``now``."""
    return entry.expires_at is None or entry.expires_at > now
