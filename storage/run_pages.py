"""Pages of the runs read model and counts that stop early, so that listing and counting
cost the same with a thousand runs or ten million: a page starts after the run that ended
the one before (keyset paging on the listing's order, created_at then run_id, which the
``runs`` indexes serve), and a count reads at most ``at_most + 1`` index entries per state."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ..engine.core.states import RunState
from . import schema
from .errors import RunNotFound

_RUNS = schema.runs

def state_is(state: str, now: datetime) -> sa.ColumnElement[bool]:
    """The runs whose shown state is ``state`` (a RUNNING run whose driver's lease expired is
    CRASHED, as is one recorded ``run.crashed``)."""
    expired = sa.and_(  # a lease handed back ended too, but leaves no owner (lease_terms.shown)
        _RUNS.c.lease_expires_at.is_not(None), _RUNS.c.lease_expires_at <= now, _RUNS.c.owner.is_not(None)
    )
    if state == "CRASHED":
        return sa.or_(_RUNS.c.state == "CRASHED", sa.and_(_RUNS.c.state == "RUNNING", expired))
    if state == "RUNNING":
        return sa.and_(_RUNS.c.state == "RUNNING", sa.not_(expired))
    return _RUNS.c.state == state


def created_in(
    query: sa.Select[Any], flow: str | None, since: datetime | None, until: datetime | None,
    queue: str | None = None,
) -> sa.Select[Any]:  # fmt: skip
    """``query`` narrowed to runs of ``flow`` and ``queue`` created in ``[since, until)``."""
    if flow is not None:
        query = query.where(_RUNS.c.flow == flow)
    if queue is not None:
        query = query.where(_RUNS.c.queue == queue)
    if since is not None:
        query = query.where(_RUNS.c.created_at >= since)
    if until is not None:
        query = query.where(_RUNS.c.created_at < until)
    return query


Narrowed = Callable[[sa.Select[Any]], sa.Select[Any]]
"""Applies a listing's filters (flow, creation time) to a query of runs."""


def listed_after(connection: sa.Connection, run_id: str) -> sa.ColumnElement[bool]:
    """The runs listed after ``run_id`` (newest first: created before it, or at the same time
    with a smaller id); raises ``RunNotFound``."""
    query = sa.select(_RUNS.c.created_at).where(_RUNS.c.run_id == run_id)
    created_at = connection.execute(query).scalar_one_or_none()
    if created_at is None:
        raise RunNotFound(run_id)
    key = sa.tuple_(sa.literal(created_at, _RUNS.c.created_at.type), sa.literal(run_id, _RUNS.c.run_id.type))
    return sa.tuple_(_RUNS.c.created_at, _RUNS.c.run_id) < key


def capped_counts(
    connection: sa.Connection, shown_as: Callable[[str], sa.ColumnElement[bool]], narrowed: Narrowed,
    at_most: int,
) -> dict[str, int]:  # fmt: skip
    """How many runs are in each shown state (``shown_as`` selects them), filtered by
    ``narrowed``; a state with more than ``at_most`` counts ``at_most + 1``. One statement,
    each state's count a scan of at most ``at_most + 1`` entries of an index."""
    if at_most < 0:
        raise ValueError(f"a count stops at 0 runs or more, not {at_most}")
    branches = []
    for state in RunState:
        # created_at: a column of the (state, created_at) index, so the scan need not read rows
        bounded = narrowed(sa.select(_RUNS.c.created_at).where(shown_as(state.value))).limit(at_most + 1)
        counted = sa.select(sa.literal(state.value, sa.String).label("state"), sa.func.count().label("runs"))
        branches.append(counted.select_from(bounded.subquery()))
    rows = connection.execute(sa.union_all(*branches)).all()
    return {state: count for state, count in rows if count}
