"""The cache index in SQL: ``cache_entries``, a read model of ``task.succeeded`` events with
a cache key (which events make which entry: ``storage.cache_entries``). Entries are upserted
in the append's transaction and rebuilt from the events alone.
"""

import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ..engine.core.events import Event, EventType
from . import schema
from .cache_entries import cache_entry
from .protocols import CacheEntry

logger = logging.getLogger(__name__)

_CACHE = schema.cache_entries
_BATCH = 1000
_SUCCEEDED = EventType.TASK_SUCCEEDED.value


def entry_row(
    run_id: str, task_key: str | None, event_type: str, payload: Mapping[str, Any], ts: datetime
) -> dict[str, Any] | None:
    """The cache_entries row an event makes, or None (see ``storage.cache_entries``)."""
    entry = cache_entry(run_id, task_key, event_type, payload, ts)
    if entry is None:
        return None
    row = {name: getattr(entry, name) for name in CacheEntry.__slots__}
    row["result"] = orjson.dumps(entry.result, option=orjson.OPT_SORT_KEYS).decode()
    return row


def _latest_per_key(rows: Iterable[dict[str, Any] | None]) -> list[dict[str, Any]]:
    """The last row of each key, sorted by key (a fixed lock order: no upsert deadlocks)."""
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row is not None:
            latest[row["cache_key"]] = row
    return [latest[key] for key in sorted(latest)]


def index_appended(connection: sa.Connection, events: Sequence[Event]) -> None:
    """Upsert the entries of freshly appended events, in the append's transaction."""
    rows = _latest_per_key(
        entry_row(e.run_id, e.task_key, e.type, e.payload, e.ts)
        for e in events
        if e.type == _SUCCEEDED and "cache_key" in e.payload  # most successes make no entry
    )
    if rows:
        _upsert(connection, rows)


def _upsert(connection: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """Insert, or replace an entry that is not newer than ours."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    insert = dialect.insert(_CACHE)
    changed = {name: insert.excluded[name] for name in rows[0] if name != "cache_key"}
    statement = insert.on_conflict_do_update(
        index_elements=[_CACHE.c.cache_key],
        set_=changed,
        where=insert.excluded.created_at >= _CACHE.c.created_at,
    )
    connection.execute(statement, rows)


LOOKUP_BATCH = 500
"""Cache keys per query of ``lookup`` (bound parameters stay well within SQLite's limit)."""


def lookup(connection: sa.Connection, cache_keys: Collection[str], now: datetime) -> dict[str, CacheEntry]:
    """The entries of ``cache_keys`` that exist and have not expired at ``now``, by key."""
    keys = sorted(set(cache_keys))
    found: dict[str, CacheEntry] = {}
    for start in range(0, len(keys), LOOKUP_BATCH):
        query = sa.select(_CACHE).where(
            _CACHE.c.cache_key.in_(keys[start : start + LOOKUP_BATCH]),
            sa.or_(_CACHE.c.expires_at.is_(None), _CACHE.c.expires_at > now),
        )
        for row in connection.execute(query):
            fields = dict(row._mapping)
            fields["result"] = orjson.loads(fields["result"])
            found[fields["cache_key"]] = CacheEntry(**fields)
    return found


def rebuild_cache_index(connection: sa.Connection) -> int:
    """Recompute cache_entries from the events alone; returns the number of entries."""
    ev = schema.events
    query = (
        sa.select(ev.c.run_id, ev.c.task_key, ev.c.type, ev.c.payload, ev.c.ts)
        .where(ev.c.type == EventType.TASK_SUCCEEDED.value)
        .where(ev.c.payload.contains('"cache_key"', autoescape=True))
        .order_by(ev.c.ts, ev.c.id)  # newer replaces older
    )
    rows = _latest_per_key(
        entry_row(run_id, task_key, event_type, _lenient(payload), ts)
        for run_id, task_key, event_type, payload, ts in connection.execute(query)
    )
    connection.execute(_CACHE.delete())
    for start in range(0, len(rows), _BATCH):
        connection.execute(_CACHE.insert(), rows[start : start + _BATCH])
    logger.info("rebuilt the cache index: %d entries", len(rows))
    return len(rows)


def _lenient(payload: str) -> dict[str, Any]:
    """A stored payload, or {} if corrupt (verify reports it; the rest stays rebuildable)."""
    try:
        parsed = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
