"""A page of the runs list, as the API and the Runs page serve it: the runs of a filter,
newest first, and the run the next (older) page starts after."""

from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import HTTPException

from ..engine.core.states import RunState
from ..engine.queueing import FlowWait
from ..storage import RunNotFound, RunSummary
from . import queries
from .context import UIContext
from .models import FlowWaitOut, RunSummaryOut

COUNT_BOUND = 100_000
"""Counts of runs by state stop past this many (the page shows "100,000+")."""


@dataclass(frozen=True, slots=True)
class RunPage:
    """The runs of one page, and the ``before`` of the next page (None: this is the last)."""

    runs: list[RunSummaryOut]
    next_before: str | None


def page_of_runs(
    ui: UIContext, limit: int, before: str | None, flow: str | None = None, state: str | None = None,
    since: str | None = None, until: str | None = None, queue: str | None = None,
) -> RunPage:  # fmt: skip
    """Up to ``limit`` runs listed after run ``before`` (from the newest without it), filtered
    by flow, states, creation time ``[since, until)`` and queue, each saying whether it waits
    for its flow's run limit; a malformed filter, or a ``before`` that names no run, is a 422."""
    now = datetime.now(UTC)
    try:
        found = ui.engine.runs(
            limit + 1, flow=flow, states=queries.run_states(state), before=before,
            since=queries.moment("since", since, now), until=queries.moment("until", until, now), queue=queue,
        )  # fmt: skip
    except RunNotFound:
        raise HTTPException(422, f"before={before!r}: no run with this id to list the runs after") from None
    shown = found[:limit]
    drivers = ui.last_drivers(shown)
    waits = ui.engine.flow_waits(shown)
    runs = [
        run_summary_out(summary, now, drivers.get(summary.run_id), waits.get(summary.run_id))
        for summary in shown
    ]
    return RunPage(runs, shown[-1].run_id if len(found) > limit else None)


def run_summary_out(
    run: RunSummary, now: datetime, last_driver: str | None = None, wait: FlowWait | None = None
) -> RunSummaryOut:
    """A run summary with its duration (so far, if not finished), who drives it (its lease
    holder) or drove it last (``last_driver``, for a run whose lease was released), its queue
    and priority, and why it waits (``wait``: its flow's run limit)."""
    is_finished = RunState(run.state).is_terminal
    end = run.updated_at if is_finished else now
    return RunSummaryOut(
        id=run.run_id, run_id=run.run_id, flow=run.flow, state=run.state, created_at=run.created_at,
        updated_at=run.updated_at, events=run.head_seq, head_hash=run.head_hash, owner=run.owner,
        duration_s=max((end - run.created_at).total_seconds(), 0.0), is_finished=is_finished,
        driven_by=run.owner or last_driver, queue=run.queue, priority=run.priority,
        waiting_for_flow_limit=flow_wait_out(wait),
    )  # fmt: skip


def flow_wait_out(wait: FlowWait | None) -> FlowWaitOut | None:
    """Why a run waits for its flow's run limit, as the API shows it."""
    return None if wait is None else FlowWaitOut(running=wait.running, limit=wait.limit)
