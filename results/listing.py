"""What a store lists: each object's key, size and when it was last written.

fsspec filesystems describe a file by a dict whose time field differs by backend: ``mtime``
(local files: seconds since the epoch), ``LastModified`` (s3fs: a datetime), ``last_modified``
(adlfs), ``updated`` (gcsfs: ISO-8601 text), ``created`` (fsspec's memory filesystem). An
object none of them dates has no age: whoever needs one (garbage collection) must leave it.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

_TIME_FIELDS = ("mtime", "LastModified", "last_modified", "updated", "created")


@dataclass(frozen=True, slots=True)
class StoredObject:
    """An object of a store: its ``key``, ``size`` in bytes and ``modified_at`` (None: the
    filesystem gives no time). ``is_partial``: a write that never completed (its temporary
    name), never an object an event refers to."""

    key: str
    size: int
    modified_at: datetime | None
    is_partial: bool = False


def modified_at(info: Mapping[str, Any]) -> datetime | None:
    """When the file ``info`` (an fsspec ``info``/``find(detail=True)`` entry) was last
    written, timezone-aware UTC; None if its filesystem says nothing usable."""
    for name in _TIME_FIELDS:
        moment = _as_utc(info.get(name))
        if moment is not None:
            return moment
    return None


def _as_utc(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            return _as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None
