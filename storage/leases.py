"""Leases on the runs read model: which driver holds a run, and until when (claims of runs
are ``storage.claims``).

A lease is ``runs.owner`` plus ``runs.lease_expires_at``. It is not a fact of the log
(appends are fenced by UNIQUE(run_id, seq), not by leases): it tells workers which runs
a dead driver left. The conditions are those of ``storage.lease_terms``, as queries.
"""

from datetime import datetime

import sqlalchemy as sa

from . import schema

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
