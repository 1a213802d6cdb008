"""Claims on the runs read model: a worker takes the leases of runs of its queues that a dead
driver left, or that wait SCHEDULED, by priority then age, each with a slot of its flow
when the flow's runs are limited (the terms are ``storage.run_slots``'s and
``storage.lease_terms``'s, as queries).

Concurrent claimers never get the same run: PostgreSQL locks the candidates ``FOR UPDATE
SKIP LOCKED``, so claimers pass each other by; SQLite ignores FOR UPDATE, but the write
transaction is BEGIN IMMEDIATE, so claimers run one at a time. Either way each UPDATE
re-checks the whole condition, and only a row it changed counts as claimed. Flow slots are
counted inside that UPDATE; on PostgreSQL a claimer that may take one first holds a
transaction-scoped advisory lock (``postgres.lock_flow_slots``), so two claimers never
both count the same free slot.
"""

from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from . import schema
from .lease_terms import CLAIMABLE_STATES, ENDED_STATES, lease_expiry
from .postgres import lock_flow_slots
from .run_slots import FLOW_LIMIT_PREFIX, HOLDING_STATES

Claim = Callable[[sa.Connection, str, float, int, datetime, Collection[str], Collection[str]], list[str]]
"""A claim in a transaction: (connection, owner, ttl, limit, now, skip, queues) -> run ids."""

_RUNS = schema.runs
_HOLDERS = schema.runs.alias("holders")
_LIMITS = schema.concurrency_limits


def _effective_limit() -> sa.ColumnElement[Any]:
    """The cap on the run's flow: the stored ``flow:NAME`` limit, else the run's recorded one."""
    setting = (
        sa.select(_LIMITS.c.limit)
        .where(_LIMITS.c.tag == sa.literal(FLOW_LIMIT_PREFIX) + _RUNS.c.flow)
        .scalar_subquery()
    )
    return sa.func.coalesce(setting, _RUNS.c.max_concurrent_runs)


def _has_a_free_slot(now: datetime) -> sa.ColumnElement[bool]:
    """The run's flow is not limited, or fewer of its runs hold a slot than the limit allows."""
    held = (
        sa.select(sa.func.count())
        .select_from(_HOLDERS)
        .where(
            _HOLDERS.c.flow == _RUNS.c.flow,
            _HOLDERS.c.state.in_(HOLDING_STATES),
            _HOLDERS.c.lease_expires_at > now,
        )
        .scalar_subquery()
    )
    limit = _effective_limit()
    return sa.or_(limit.is_(None), held < limit)


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
    return _claim(
        connection, _left_by_a_dead_driver(now, ttl), owner, lease_expiry(now, ttl), limit, skip, queues
    )


def claim_scheduled(
    connection: sa.Connection, owner: str, ttl: float, limit: int, now: datetime,
    skip: Collection[str], queues: Collection[str],
) -> list[str]:  # fmt: skip
    """Take the leases of up to ``limit`` SCHEDULED runs of ``queues`` nobody drives (a slot
    of their flow free), by priority then age, passing over the runs in ``skip``."""
    return _claim(connection, _waiting_to_start(now), owner, lease_expiry(now, ttl), limit, skip, queues)


def _claim(
    connection: sa.Connection, condition: sa.ColumnElement[bool], owner: str, expires: datetime,
    limit: int, skip: Collection[str], queues: Collection[str],
) -> list[str]:  # fmt: skip
    """Lease up to ``limit`` runs of ``queues`` matching ``condition`` in claim order.

    A candidate whose flow filled up meanwhile (a slot this claim or another took) is passed
    over, and the next candidates are looked up, so a full flow never holds back the runs
    queued behind it.
    """
    if limit < 1:
        raise ValueError(f"claim at least one run, not {limit}")
    condition = sa.and_(condition, _RUNS.c.queue.in_(list(queues)))
    claimed: list[str] = []
    seen = list(skip)
    while len(claimed) < limit:
        wanted = limit - len(claimed)
        candidates = connection.execute(_candidates(condition, seen, wanted)).all()
        if any(flow_limit is not None for _, flow_limit in candidates):
            lock_flow_slots(connection)
        for run_id, _ in candidates:
            done = connection.execute(
                _RUNS.update()
                .where(_RUNS.c.run_id == run_id, condition)
                .values(owner=owner, lease_expires_at=expires)
            )
            if done.rowcount == 1:
                claimed.append(run_id)
        seen += [run_id for run_id, _ in candidates]
        if len(candidates) < wanted or len(claimed) == limit:
            break
    return claimed


def _candidates(condition: sa.ColumnElement[bool], seen: list[str], limit: int) -> sa.Select[Any]:
    """The first ``limit`` runs matching ``condition`` in claim order, none of ``seen``, with
    the limit on their flow; locked (``SKIP LOCKED``) for this transaction."""
    if seen:
        condition = sa.and_(condition, _RUNS.c.run_id.not_in(seen))
    return (
        sa.select(_RUNS.c.run_id, _effective_limit())
        .where(condition)
        .order_by(_RUNS.c.priority.desc(), _RUNS.c.created_at, _RUNS.c.run_id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=_RUNS)
    )
