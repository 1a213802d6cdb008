"""Leases on the runs read model: which driver holds a run, and until when (claims of runs
are ``storage.claims``).

A lease is ``runs.owner`` plus ``runs.lease_expires_at``. It is not a fact of the log
(appends are fenced by UNIQUE(run_id, seq), not by leases): it tells workers which runs
a dead driver left. The conditions are those of ``storage.lease_terms``, as queries.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from . import schema
from .claim_notices import announce_claimable

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

