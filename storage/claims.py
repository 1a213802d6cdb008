"""Claims on the runs read model: a worker takes the leases of runs of its queues that a dead
driver left, or that wait SCHEDULED, by priority then age, each with a slot of its flow
when the flow's runs are limited (the terms are ``storage.run_slots``'s and
``storage.lease_terms``'s, as queries).

A batch is one UPDATE of the runs it takes (``UPDATE ... WHERE run_id IN (the first N
candidates in claim order, locked FOR UPDATE SKIP LOCKED) RETURNING``), whose cost hardly
grows with N. Concurrent claimers never get the same run: PostgreSQL's claimers lock the
candidates, so they pass each other by; SQLite ignores FOR UPDATE, but the write
transaction is BEGIN IMMEDIATE, so claimers run one at a time. Of a limited flow's
candidates, the UPDATE takes only as many as the flow has free slots (the slots held,
plus each candidate's rank among its flow's candidates, within the limit); on PostgreSQL
only a claimer holding a transaction-scoped advisory lock (``postgres.lock_flow_slots_if_any``)
counts slots, so two claimers never both count the same free slot; one that finds no run
of a limited flow among the first N candidates neither takes the lock nor claims such a
run (claimers of runs of unlimited flows do not wait for each other).
"""

from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from . import schema
from .lease_terms import CLAIMABLE_STATES, ENDED_STATES, lease_expiry
from .postgres import lock_flow_slots_if_any
from .run_slots import FLOW_LIMIT_PREFIX, HOLDING_STATES

Claim = Callable[[sa.Connection, str, float, int, datetime, Collection[str], Collection[str]], list[str]]
"""A claim in a transaction: (connection, owner, ttl, limit, now, skip, queues) -> run ids."""

_RUNS = schema.runs
_HOLDERS = schema.runs.alias("holders")
_CLAIM_ORDER = (_RUNS.c.priority.desc(), _RUNS.c.created_at, _RUNS.c.run_id)
_LIMITS = schema.concurrency_limits


def flow_cap() -> sa.ColumnElement[Any]:
    """The cap on the runs row's flow: the stored ``flow:NAME`` limit, else the run's recorded
    one (NULL: its flow is not limited)."""
    setting = (
        sa.select(_LIMITS.c.limit)
        .where(_LIMITS.c.tag == sa.literal(FLOW_LIMIT_PREFIX) + _RUNS.c.flow)
        .scalar_subquery()
    )
    return sa.func.coalesce(setting, _RUNS.c.max_concurrent_runs)


def _slots_held(flow: sa.ColumnElement[str], now: datetime) -> sa.ColumnElement[int]:
    """How many runs of ``flow`` hold a slot of it at ``now``."""
    return (
        sa.select(sa.func.count())
        .select_from(_HOLDERS)
        .where(
            _HOLDERS.c.flow == flow,
            _HOLDERS.c.state.in_(HOLDING_STATES),
            _HOLDERS.c.lease_expires_at > now,
        )
        .scalar_subquery()
    )


def _has_a_free_slot(now: datetime) -> sa.ColumnElement[bool]:
    """The run's flow is not limited, or fewer of its runs hold a slot than the limit allows."""
    limit = flow_cap()
    return sa.or_(limit.is_(None), _slots_held(_RUNS.c.flow, now) < limit)


def _left_by_a_dead_driver(now: datetime, ttl: float) -> sa.ColumnElement[bool]:
    """RUNNING or PENDING, and the lease expired (or was handed back), or there is none and
    nothing was appended for ``ttl`` (a driver that died between run.created and taking its
    lease), and a slot of its flow is free; or ended, and its driver died still holding the lease (before
    delivering the hooks it owed)."""
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
            _has_a_free_slot(now),
        ),
        sa.and_(
            _RUNS.c.state.in_(ENDED_STATES),
            _RUNS.c.owner.is_not(None),
            _RUNS.c.lease_expires_at <= now,
        ),
    )


def _waiting_to_start(now: datetime) -> sa.ColumnElement[bool]:
    """SCHEDULED, nobody holds it (or the worker that claimed it died before starting), and a
    slot of its flow is free."""
    return sa.and_(
        _RUNS.c.state == "SCHEDULED",
        sa.or_(_RUNS.c.lease_expires_at.is_(None), _RUNS.c.lease_expires_at <= now),
        _has_a_free_slot(now),
    )


def claim_crashed(
    connection: sa.Connection, owner: str, ttl: float, limit: int, now: datetime,
    skip: Collection[str], queues: Collection[str],
) -> list[str]:  # fmt: skip
    """Take the leases of up to ``limit`` runs of ``queues`` a dead driver left (a slot of
    their flow free), by priority then age, passing over the runs in ``skip``."""
    return _claim(connection, _left_by_a_dead_driver(now, ttl), owner, now, ttl, limit, skip, queues)


def claim_scheduled(
    connection: sa.Connection, owner: str, ttl: float, limit: int, now: datetime,
    skip: Collection[str], queues: Collection[str],
) -> list[str]:  # fmt: skip
    """Take the leases of up to ``limit`` SCHEDULED runs of ``queues`` nobody drives (a slot
    of their flow free), by priority then age, passing over the runs in ``skip``."""
    return _claim(connection, _waiting_to_start(now), owner, now, ttl, limit, skip, queues)


def _claim(
    connection: sa.Connection, condition: sa.ColumnElement[bool], owner: str, now: datetime, ttl: float,
    limit: int, skip: Collection[str], queues: Collection[str],
) -> list[str]:  # fmt: skip
    """Lease up to ``limit`` runs of ``queues`` matching ``condition``, none of ``skip``, in
    claim order: one UPDATE, or one more per time runs of a limited flow were passed over.

    Of a limited flow's runs, an UPDATE takes as many as its flow has free slots and passes
    the others over; the next UPDATE (that flow full now) looks further, so a full flow never
    holds back the runs queued behind it. Runs of limited flows are claimed only under the
    flow slots' lock, taken if one is among the first ``limit`` candidates; without it, they
    are left for the next claim.
    """
    if limit < 1:
        raise ValueError(f"claim at least one run, not {limit}")
    condition = sa.and_(condition, _RUNS.c.queue.in_(list(queues)))
    if skip:
        condition = sa.and_(condition, _RUNS.c.run_id.not_in(list(skip)))
    first = _first(condition, limit, _slot_cap().label("cap")).subquery()
    if not lock_flow_slots_if_any(connection, sa.select(first.c.cap).where(first.c.cap.is_not(None))):
        condition = sa.and_(condition, _slot_cap().is_(None))
    expires = lease_expiry(now, ttl)
    claimed: list[sa.Row[Any]] = []
    while len(claimed) < limit:
        wanted = limit - len(claimed)
        rows = connection.execute(_claim_statement(condition, now, wanted, owner, expires)).all()
        claimed += rows
        if len(rows) == wanted or not any(row.took_a_slot for row in rows):  # none was passed over
            break
    claimed.sort(key=lambda row: (-row.priority, row.created_at, row.run_id))
    return [row.run_id for row in claimed]


def _first(condition: sa.ColumnElement[bool], limit: int, *columns: sa.ColumnElement[Any]) -> sa.Select[Any]:
    """``columns`` of the first ``limit`` runs matching ``condition`` in claim order."""
    return sa.select(*columns).where(condition).order_by(*_CLAIM_ORDER).limit(limit)


def _slot_cap() -> sa.ColumnElement[Any]:
    """The cap on the slots of the run's flow if the run takes one when claimed (a run that
    ended takes none)."""
    return sa.case((_RUNS.c.state.in_(HOLDING_STATES), flow_cap()), else_=sa.null())


def _claim_statement(
    condition: sa.ColumnElement[bool], now: datetime, limit: int, owner: str, expires: datetime
) -> sa.Update:
    """Lease the first ``limit`` runs matching ``condition`` in claim order (locked ``SKIP
    LOCKED``), but of each limited flow only as many as its free slots, in claim order."""
    columns = (_RUNS.c.run_id, _RUNS.c.priority, _RUNS.c.created_at, _RUNS.c.flow, _slot_cap().label("cap"))
    candidates = (
        _first(condition, limit, *columns)
        .with_for_update(skip_locked=True, of=_RUNS)
        .cte("candidates")
        .prefix_with("MATERIALIZED")
    )
    took_a_slot = _slot_cap().is_not(None).label("took_a_slot")
    rank = sa.func.row_number().over(
        partition_by=(candidates.c.flow, candidates.c.cap.is_(None)),
        order_by=(candidates.c.priority.desc(), candidates.c.created_at, candidates.c.run_id),
    )
    ranked = sa.select(candidates, rank.label("rank")).subquery()
    chosen = sa.select(ranked.c.run_id).where(
        sa.or_(ranked.c.cap.is_(None), _slots_held(ranked.c.flow, now) + ranked.c.rank <= ranked.c.cap)
    )
    return (
        _RUNS.update()
        .where(_RUNS.c.run_id.in_(chosen))
        .values(owner=owner, lease_expires_at=expires)
        .returning(_RUNS.c.run_id, _RUNS.c.priority, _RUNS.c.created_at, took_a_slot)
    )
