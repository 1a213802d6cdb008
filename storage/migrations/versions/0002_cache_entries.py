"""The cache index (cache_entries), filled from the task.succeeded events already logged.

Revision ID: 0002
Revises: 0001
Create Date: 2026-01-15

The backfill is written out here rather than calling ``storage.cache_index``, so this
revision keeps meaning what it meant when a later one changes that module.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

from ledgerflow.storage.schema import UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_EVENTS = sa.table(
    "events",
    sa.column("id", sa.BigInteger),
    sa.column("run_id", sa.String),
    sa.column("task_key", sa.Text),
    sa.column("type", sa.String),
    sa.column("payload", sa.Text),
    sa.column("ts", UTCDateTime),
)


def upgrade() -> None:
    cache_entries = op.create_table(
        "cache_entries",
        sa.Column("cache_key", sa.String(512), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("task_key", sa.Text, nullable=False),
        sa.Column("result", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("cache_key", name="pk_cache_entries"),
    )
    assert cache_entries is not None
    rows = _backfill_rows(op.get_bind())
    if rows:
        op.bulk_insert(cache_entries, rows)


def _backfill_rows(connection: sa.Connection) -> list[dict[str, Any]]:
    """The newest entry per cache key among the logged task.succeeded events."""
    query = (
        sa.select(_EVENTS.c.run_id, _EVENTS.c.task_key, _EVENTS.c.payload, _EVENTS.c.ts)
        .where(_EVENTS.c.type == "task.succeeded")
        .where(_EVENTS.c.payload.contains('"cache_key"', autoescape=True))
        .order_by(_EVENTS.c.ts, _EVENTS.c.id)
    )
    latest: dict[str, dict[str, Any]] = {}
    for run_id, task_key, payload, ts in connection.execute(query):
        row = _row(run_id, task_key, payload, ts)
        if row is not None:
            latest[row["cache_key"]] = row
    return list(latest.values())


def _row(run_id: str, task_key: str | None, payload: str, ts: datetime) -> dict[str, Any] | None:
    try:
        parsed = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(parsed, dict):
        return None
    key, result, expires = parsed.get("cache_key"), parsed.get("result"), parsed.get("cache_expires_at")
    if not isinstance(key, str) or not 0 < len(key) <= 512 or not isinstance(result, dict):
        return None
    try:
        expires_at = None if expires is None else datetime.fromisoformat(expires)
    except (TypeError, ValueError):
        return None
    if expires_at is not None and expires_at.utcoffset() is None:
        return None
    return {
        "cache_key": key,
        "run_id": run_id,
        "task_key": task_key or "",
        "result": orjson.dumps(result, option=orjson.OPT_SORT_KEYS).decode(),
        "created_at": ts,
        "expires_at": expires_at,
    }


def downgrade() -> None:
    op.drop_table("cache_entries")
