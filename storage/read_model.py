"""The runs read model: how run events change a summary, and the rebuild of every read
model (runs, cache_entries) from the events."""

import logging
from typing import Any

import orjson
import sqlalchemy as sa

from . import schema
from .appends import run_changes
from .cache_index import rebuild_cache_index
from .database import retry_unavailable, translated_errors
from .run_slots import recorded_columns

logger = logging.getLogger(__name__)

_BATCH = 1000


@retry_unavailable
def rebuild_read_model(engine: sa.Engine) -> int:
    """Recompute the runs and cache_entries tables from the events alone; returns the
    number of runs.

    Leases (owner, lease_expires_at) are not facts of the log: a run that still has a
    row keeps its lease; a run without one gets the owner of its last run.running.
    """
    with translated_errors(engine), engine.begin() as connection:
        heads = _heads(connection)
        rows = _fold_run_events(connection, heads)
        _keep_leases(connection, heads)
        connection.execute(schema.runs.delete())
        for start in range(0, len(rows), _BATCH):
            connection.execute(schema.runs.insert(), rows[start : start + _BATCH])
        rebuild_cache_index(connection)
    logger.info("rebuilt the runs read model: %d runs", len(rows))
    return len(rows)


def _keep_leases(connection: sa.Connection, heads: dict[str, dict[str, Any]]) -> None:
    runs = schema.runs
    query = sa.select(runs.c.run_id, runs.c.owner, runs.c.lease_expires_at)
    for run_id, owner, lease_expires_at in connection.execute(query):
        if run_id in heads:
            heads[run_id].update(owner=owner, lease_expires_at=lease_expires_at)


def _heads(connection: sa.Connection) -> dict[str, dict[str, Any]]:
    """For each run: its first and last event's seq, hash and ts."""
    ev = schema.events
    bounds = (
        sa.select(ev.c.run_id, sa.func.min(ev.c.seq).label("lo"), sa.func.max(ev.c.seq).label("hi"))
        .group_by(ev.c.run_id)
        .subquery()
    )
    first = ev.alias("first")
    query = (
        sa.select(ev.c.run_id, ev.c.seq, ev.c.hash, ev.c.ts, first.c.ts.label("created_at"))
        .join(bounds, sa.and_(ev.c.run_id == bounds.c.run_id, ev.c.seq == bounds.c.hi))
        .join(first, sa.and_(first.c.run_id == bounds.c.run_id, first.c.seq == bounds.c.lo))
    )
    return {
        run_id: {
            "run_id": run_id,
            "flow": "",
            "state": "PENDING",
            "head_seq": seq,
            "head_hash": head_hash,
            "created_at": created_at,
            "updated_at": ts,
            "owner": None,
            "lease_expires_at": None,
            **recorded_columns({}),
        }
        for run_id, seq, head_hash, ts, created_at in connection.execute(query)
    }


def _fold_run_events(connection: sa.Connection, heads: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    ev = schema.events
    query = (
        sa.select(ev.c.run_id, ev.c.type, ev.c.payload)
        .where(ev.c.type.like("run.%"))
        .order_by(ev.c.run_id, ev.c.seq)
    )
    for run_id, event_type, payload in connection.execute(query):
        try:
            parsed = orjson.loads(payload)
        except orjson.JSONDecodeError:
            parsed = {}  # a corrupt payload is verify's to report; keep the rest rebuildable
        if not isinstance(parsed, dict):
            parsed = {}
        heads[run_id].update(run_changes([(event_type, parsed)]))
    return list(heads.values())
