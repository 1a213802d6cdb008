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
from .claim_notices import announce_claimable, announce_freed_slots
from .claims import flow_cap

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
    return set(_update_held(connection, run_ids, owner, False, lease_expires_at=expires))


def release_many(connection: sa.Connection, run_ids: Sequence[str], owner: str) -> set[str]:
    """Clear the leases ``owner`` holds among ``run_ids`` in one UPDATE, and announce the
    slots of limited flows this frees; the ids cleared."""
    released = _update_held(connection, run_ids, owner, True, owner=None, lease_expires_at=None)
    announce_freed_slots(connection, [flow for flow in released.values() if flow is not None])
    return set(released)


def release_appended(connection: sa.Connection, run_ids: Sequence[str], owner: str) -> None:
    """``release_many`` in the transaction that appended the runs' last batches (their rows
    locked already); one run, the common case, by a statement built once."""
    if len(run_ids) != 1:
        release_many(connection, run_ids, owner)
        return
    flow = connection.execute(_RELEASE_ONE, {"released_run_id": run_ids[0], "holder": owner}).scalar()
    if flow is not None:
        announce_freed_slots(connection, [flow])


def lapse_many(connection: sa.Connection, run_ids: Sequence[str], owner: str, now: datetime) -> set[str]:
    """Let the leases ``owner`` holds among ``run_ids`` expire at ``now`` and announce those
    runs as claimable (which wakes the workers waiting for their flows' slots too), in one
    transaction; the ids lapsed."""
    lapsed = set(_update_held(connection, run_ids, owner, False, lease_expires_at=now))
    announce_claimable(connection, sorted(lapsed))
    return lapsed


def _update_held(
    connection: sa.Connection, run_ids: Sequence[str], holder: str, with_flows: bool, **values: Any
) -> dict[str, str | None]:
    """Set ``values`` on the runs rows of ``run_ids`` that ``holder`` holds: their ids, and
    (``with_flows``) the flow of each whose flow is limited (else None). The rows are locked
    in run id order first, as a group append locks them (no deadlock)."""
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
        .returning(_RUNS.c.run_id, freed_flow() if with_flows else sa.null())
    )
    return {run_id: flow for run_id, flow in connection.execute(update)}


def freed_flow() -> sa.ColumnElement[str | None]:
    """The runs row's flow if it is limited, else NULL (what a release announces)."""
    return sa.case((flow_cap().is_not(None), _RUNS.c.flow), else_=sa.null())


_RELEASE_ONE = (
    _RUNS.update()
    .where(_RUNS.c.run_id == sa.bindparam("released_run_id"), _RUNS.c.owner == sa.bindparam("holder"))
    .values(owner=None, lease_expires_at=None)
    .returning(freed_flow())
)


def release(connection: sa.Connection, run_id: str, owner: str) -> bool:
    """Clear the lease if ``owner`` holds it, and announce the slot of its flow this frees
    if the flow is limited; True if it did."""
    return _let_go(connection, run_id, owner, None)


def hand_back(connection: sa.Connection, run_id: str, owner: str, now: datetime) -> bool:
    """Clear the owner and end the lease at ``now`` if ``owner`` holds it (see
    ``storage.lease_terms``), and announce the run (claimable at once); True if it did."""
    if not _let_go(connection, run_id, owner, now):
        return False
    announce_claimable(connection, [run_id])
    return True


def _let_go(connection: sa.Connection, run_id: str, owner: str, ended: datetime | None) -> bool:
    """Clear the owner and end the lease at ``ended`` (None: no lease) if ``owner`` holds it,
    and announce the slot of its flow this frees if the flow is limited; True if it did."""
    done = connection.execute(
        _RUNS.update()
        .where(_RUNS.c.run_id == run_id, _RUNS.c.owner == owner)
        .values(owner=None, lease_expires_at=ended)
        .returning(freed_flow())
    ).first()
    if done is None:
        return False
    if (flow := done[0]) is not None:
        announce_freed_slots(connection, [flow])
    return True


def exists(connection: sa.Connection, run_id: str) -> bool:
    """True if the run has a row in the read model."""
    return connection.execute(sa.select(_RUNS.c.run_id).where(_RUNS.c.run_id == run_id)).first() is not None
