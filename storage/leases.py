"""Leases on the runs read model: which driver holds a run, until when, and claims of crashed runs.

A lease is ``runs.owner`` plus ``runs.lease_expires_at``. It is not a fact of the log
(appends are fenced by UNIQUE(run_id, seq), not by leases): it tells workers which runs
a dead driver left. The conditions are those of ``storage.lease_terms``, as queries.
"""

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from . import schema
from .claim_notices import announce_claimable
from .lease_terms import CLAIMABLE_STATES, ENDED_STATES, lease_expiry

_RUNS = schema.runs


def take_over(connection: sa.Connection, run_id: str, owner: str, expires: datetime) -> bool:
    """Set the run's lease whoever held it; False if the run has no row."""
    done = connection.execute(
        _RUNS.update().where(_RUNS.c.run_id == run_id).values(owner=owner, lease_expires_at=expires)
    )
    return done.rowcount == 1


def heartbeat(connection: sa.Connection, run_id: str, owner: str, expires: datetime) -> bool:
    """Extend the lease if ``owner`` holds it (even if it lapsed, as long as nobody took it)."""
    done = connection.execute(
        _RUNS.update()
        .where(_RUNS.c.run_id == run_id, _RUNS.c.owner == owner)
        .values(lease_expires_at=expires)
    )
    return done.rowcount == 1


def heartbeat_many(
    connection: sa.Connection, run_ids: Sequence[str], owner: str, expires: datetime
) -> set[str]:
    """Extend the leases ``owner`` holds among ``run_ids`` in one UPDATE; the ids extended."""
    return _update_held(connection, run_ids, owner, lease_expires_at=expires)


def release_many(connection: sa.Connection, run_ids: Sequence[str], owner: str) -> set[str]:
    """Clear the leases ``owner`` holds among ``run_ids`` in one UPDATE; the ids cleared."""
    return _update_held(connection, run_ids, owner, owner=None, lease_expires_at=None)


def lapse_many(connection: sa.Connection, run_ids: Sequence[str], owner: str, now: datetime) -> set[str]:
    """Let the leases ``owner`` holds among ``run_ids`` expire at ``now`` and announce those
    runs as claimable, in one transaction; the ids lapsed."""
    lapsed = _update_held(connection, run_ids, owner, lease_expires_at=now)
    announce_claimable(connection, sorted(lapsed))
    return lapsed


def _update_held(connection: sa.Connection, run_ids: Sequence[str], holder: str, **values: Any) -> set[str]:
    """Set ``values`` on the runs rows of ``run_ids`` that ``holder`` holds; their ids. The
    rows are locked in run id order first, as a group append locks them (no deadlock)."""
    held = (
        sa.select(_RUNS.c.run_id)
        .where(_RUNS.c.run_id.in_(list(run_ids)), _RUNS.c.owner == holder)
        .order_by(_RUNS.c.run_id)
        .with_for_update()
    )
    update = (
        _RUNS.update()
        .where(_RUNS.c.run_id.in_(held.scalar_subquery()), _RUNS.c.owner == holder)
        .values(**values)
        .returning(_RUNS.c.run_id)
    )
    return set(connection.execute(update).scalars())


def release(connection: sa.Connection, run_id: str, owner: str) -> bool:
    """Clear the lease if ``owner`` holds it; True if it did."""
    done = connection.execute(
        _RUNS.update()
        .where(_RUNS.c.run_id == run_id, _RUNS.c.owner == owner)
        .values(owner=None, lease_expires_at=None)
    )
    return done.rowcount == 1


def hand_back(connection: sa.Connection, run_id: str, owner: str, now: datetime) -> bool:
    """Clear the owner and end the lease at ``now`` if ``owner`` holds it (see
    ``storage.lease_terms``); True if it did."""
    done = connection.execute(
        _RUNS.update()
        .where(_RUNS.c.run_id == run_id, _RUNS.c.owner == owner)
        .values(owner=None, lease_expires_at=now)
    )
    return done.rowcount == 1


def exists(connection: sa.Connection, run_id: str) -> bool:
    """True if the run has a row in the read model."""
    return connection.execute(sa.select(_RUNS.c.run_id).where(_RUNS.c.run_id == run_id)).first() is not None


def _left_by_a_dead_driver(now: datetime, ttl: float) -> sa.ColumnElement[bool]:
    """RUNNING or PENDING, and the lease expired (or was handed back), or there is none and
    nothing was appended for ``ttl`` (a driver that died between run.created and taking its
    lease); or ended, and its driver died still holding the lease (before delivering the
    hooks it owed)."""
    return sa.or_(
        sa.and_(
            _RUNS.c.state.in_(CLAIMABLE_STATES),
            sa.or_(
                _RUNS.c.lease_expires_at <= now,
                sa.and_(
                    _RUNS.c.lease_expires_at.is_(None),
                    _RUNS.c.updated_at <= now - timedelta(seconds=ttl),
                ),
            ),
        ),
        sa.and_(
            _RUNS.c.state.in_(ENDED_STATES),
            _RUNS.c.owner.is_not(None),
            _RUNS.c.lease_expires_at <= now,
        ),
    )


def claim_crashed(
    connection: sa.Connection, owner: str, ttl: float, limit: int, now: datetime,
    skip: Collection[str] = (),
) -> list[str]:  # fmt: skip
    """Take the leases of up to ``limit`` runs a dead driver left, oldest first, passing
    over the runs in ``skip``.

    PostgreSQL: the candidates are locked ``FOR UPDATE SKIP LOCKED``, so concurrent
    claimers pass each other by. SQLite ignores FOR UPDATE, but the write transaction is
    BEGIN IMMEDIATE, so claimers run one at a time. Either way each UPDATE re-checks the
    condition and only a row it changed counts as claimed.
    """
    condition = _not_in(_left_by_a_dead_driver(now, ttl), skip)
    return _claim(connection, condition, owner, lease_expiry(now, ttl), limit)


def _not_in(condition: sa.ColumnElement[bool], skip: Collection[str]) -> sa.ColumnElement[bool]:
    """``condition``, and the run is not one of ``skip``."""
    return sa.and_(condition, _RUNS.c.run_id.not_in(list(skip))) if skip else condition


def _claim(
    connection: sa.Connection,
    condition: sa.ColumnElement[bool],
    owner: str,
    expires: datetime,
    limit: int,
) -> list[str]:
    """Lease up to ``limit`` runs matching ``condition``, oldest first; each UPDATE
    re-checks the condition, and only a row it changed counts as claimed."""
    if limit < 1:
        raise ValueError(f"claim at least one run, not {limit}")
    candidates = (
        sa.select(_RUNS.c.run_id)
        .where(condition)
        .order_by(_RUNS.c.created_at, _RUNS.c.run_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = []
    for run_id in connection.execute(candidates).scalars().all():
        done = connection.execute(
            _RUNS.update()
            .where(_RUNS.c.run_id == run_id, condition)
            .values(owner=owner, lease_expires_at=expires)
        )
        if done.rowcount == 1:
            claimed.append(run_id)
    return claimed


def _waiting_to_start(now: datetime) -> sa.ColumnElement[bool]:
    """SCHEDULED, and nobody holds it (or the worker that claimed it died before starting)."""
    return sa.and_(
        _RUNS.c.state == "SCHEDULED",
        sa.or_(_RUNS.c.lease_expires_at.is_(None), _RUNS.c.lease_expires_at <= now),
    )


def claim_scheduled(
    connection: sa.Connection, owner: str, ttl: float, limit: int, now: datetime,
    skip: Collection[str] = (),
) -> list[str]:  # fmt: skip
    """Take the leases of up to ``limit`` SCHEDULED runs nobody drives, oldest first,
    passing over the runs in ``skip``.

    Locks like ``claim_crashed``: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the BEGIN
    IMMEDIATE write transaction on SQLite; each UPDATE re-checks the condition.
    """
    condition = _not_in(_waiting_to_start(now), skip)
    return _claim(connection, condition, owner, lease_expiry(now, ttl), limit)
