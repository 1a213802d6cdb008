"""The read side of the JSON API under ``/api``: runs, tasks, events, logs, lineage,
workers, limits and schedules."""

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response

from ..engine.core.events import Event
from ..engine.core.fold import RunView
from ..engine.errors import UnknownTask
from ..engine.queueing import FlowWait
from ..engine.schedule_runner import timing_of
from ..replay import VerifyReport
from ..replay.point_in_time import state_at
from ..storage import ScheduleRecord, TagUsage
from . import queries
from .context import Context, UIContext
from .models import (
    MAX_INTEGER,
    EventOut,
    EventPageOut,
    FlowLimitOut,
    LimitOut,
    LineageOut,
    LogLineOut,
    PreviewOut,
    ResultProblemOut,
    RunDetailOut,
    RunSummaryOut,
    ScheduleOut,
    TaskPageOut,
    VerificationOut,
    WaitingTaskOut,
    WorkerOut,
)
from .previews import run_preview, stored_run, task_preview
from .run_list import COUNT_BOUND, flow_wait_out, page_of_runs
from .tasks import overview, select, task_out

router = APIRouter(prefix="/api", tags=["read"])
Offset = Annotated[int, Query(ge=0, le=MAX_INTEGER)]


@router.get("/runs", response_model=list[RunSummaryOut])
def runs(
    ui: Context,
    request: Request,
    response: Response,
    flow: str | None = None,
    state: Annotated[str | None, Query(description="run states, comma separated")] = None,
    since: Annotated[str | None, Query(description="ISO-8601 time or age (1d, 12h)")] = None,
    until: Annotated[str | None, Query(description="ISO-8601 time or age (1d, 12h)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[
        str | None, Query(description="a run id: the runs listed after it (the next, older page)")
    ] = None,
    queue: str | None = None,
) -> list[RunSummaryOut]:
    """Runs, newest first, filtered by flow, states, creation time ``[since, until)`` and
    queue, a page of ``limit``; when older runs follow, the ``Link`` header names the next
    page (``rel="next"``: the same query with ``before`` the last run listed)."""
    page = page_of_runs(ui, limit, before, flow, state, since, until, queue)
    if page.next_before is not None:
        older = request.url.include_query_params(before=page.next_before)
        response.headers["Link"] = f'<{older}>; rel="next"'
    return page.runs


@router.get("/run-counts", response_model=dict[str, int])
def run_counts(
    ui: Context,
    flow: str | None = None,
    since: Annotated[str | None, Query(description="ISO-8601 time or age (1d, 12h)")] = None,
    until: Annotated[str | None, Query(description="ISO-8601 time or age (1d, 12h)")] = None,
    at_most: Annotated[
        int, Query(ge=0, le=MAX_INTEGER, description="count up to this many runs a state; more: at_most + 1")
    ] = COUNT_BOUND,
    queue: str | None = None,
) -> dict[str, int]:
    """How many runs (of ``flow``, created in ``[since, until)``, in ``queue``) are in each run
    state; a state with more than ``at_most`` runs counts ``at_most + 1`` (the count stops there)."""
    now = datetime.now(UTC)
    return ui.engine.run_counts(
        flow=flow, since=queries.moment("since", since, now), until=queries.moment("until", until, now),
        at_most=at_most, queue=queue,
    )  # fmt: skip


def flow_wait(ui: UIContext, view: RunView) -> FlowWait | None:
    """Why a run waits for a worker now (SCHEDULED, or CRASHED): its flow's run limit (None if
    it does not wait for it)."""
    if view.state.is_terminal:
        return None
    return ui.engine.flow_waits([ui.engine.storage.log.run(view.run_id)]).get(view.run_id)


@router.get("/runs/{run_id}", response_model=RunDetailOut)
def run(
    run_id: str,
    ui: Context,
    seq: Annotated[int | None, Query(ge=1, description="the run as it was after this event")] = None,
    at: Annotated[str | None, Query(description="the run as it was at this ISO-8601 time")] = None,
    verify: Annotated[bool, Query(description="re-hash the run's chain")] = False,
) -> RunDetailOut:
    """A run: parameters, counts by state, tasks (maps aggregated); as of ``seq``/``at``."""
    point_seq, point_at = queries.point_in_time(seq, at)
    events = ui.engine.events(run_id)
    view = view_of(ui, events, point_seq, point_at)
    report = ui.engine.verify(run_id) if verify else None
    is_point_in_time = point_seq is not None or point_at is not None
    wait = None if is_point_in_time else flow_wait(ui, view)
    return run_detail_out(view, len(events), is_point_in_time, report, wait)


def run_detail_out(
    view: RunView, head_seq: int, is_point_in_time: bool, report: VerifyReport | None,
    wait: FlowWait | None = None,
) -> RunDetailOut:  # fmt: skip
    """A run's view as the API shows it: tasks outside maps, maps aggregated, counts by state,
    its queue, priority and run limit, and why it waits (``wait``: its flow's run limit)."""
    tasks = overview(view.tasks)
    counts = Counter(task.state.value for task in view.tasks.values())
    return RunDetailOut(
        id=view.run_id, run_id=view.run_id, flow=view.flow, flow_ref=view.flow_ref, state=view.state.value,
        seq=view.seq, head_seq=head_seq, is_point_in_time=is_point_in_time,
        created_at=view.created_at, updated_at=view.updated_at, started_at=view.started_at,
        owner=view.owner, graph_hash=view.graph_hash, parameters=dict(view.parameters),
        cancel_request=None if view.cancel_request is None else dict(view.cancel_request),
        task_count=len(view.tasks), counts=dict(counts), tasks=tasks.tasks, maps=tasks.maps,
        superseded=len(view.superseded), queue=view.terms.queue, priority=view.terms.priority,
        max_concurrent_runs=view.terms.max_concurrent_runs, waiting_for_flow_limit=flow_wait_out(wait),
        verification=None if report is None else VerificationOut(
            ok=report.ok, first_bad_seq=report.first_bad_seq, reason=report.reason,
            events_checked=report.events_checked,
        ),
    )  # fmt: skip


def view_of(ui: UIContext, events: Sequence[Event], seq: int | None, at: datetime | None) -> RunView:
    """The run whose whole log is ``events`` now (CRASHED if its driver's lease expired), or
    as of ``seq`` or ``at``."""
    if seq is None and at is None:
        return ui.engine.run_from(events).view
    try:
        return state_at(events, seq=seq, at=at)
    except ValueError as exc:  # a time before the run began
        raise HTTPException(422, str(exc)) from None


@router.get("/runs/{run_id}/tasks", response_model=TaskPageOut)
def tasks(
    run_id: str,
    ui: Context,
    parent: Annotated[str | None, Query(description="only the children parent[i] of this map")] = None,
    state: Annotated[str | None, Query(description="task states, comma separated")] = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> TaskPageOut:
    """A page of the run's tasks (log order), or of one map's children (index order)."""
    wanted = queries.task_states(state)
    view = ui.engine.get_run(run_id).view
    chosen = select(view.tasks, parent, wanted)
    if parent is not None and parent not in view.tasks and not select(view.tasks, parent, None):
        raise HTTPException(404, f"run {run_id} has no task or map {parent!r}")
    page = chosen[offset : offset + limit]
    return TaskPageOut(run_id=run_id, parent=parent, total=len(chosen), offset=offset,
                       tasks=[task_out(task) for task in page])  # fmt: skip


@router.get("/runs/{run_id}/events", response_model=EventPageOut)
def events(
    run_id: str,
    ui: Context,
    after_seq: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> EventPageOut:
    """The run's events with ``after_seq < seq``, at most ``limit``, with their hashes."""
    log = ui.engine.storage.log
    head_seq = log.run(run_id).head_seq
    found = log.read(run_id, after_seq=after_seq, upto_seq=after_seq + limit)
    last = found[-1].seq if found else after_seq
    return EventPageOut(
        run_id=run_id, head_seq=head_seq, next_after_seq=last if last < head_seq else None,
        events=[
            EventOut(seq=e.seq, ts=e.ts, task_key=e.task_key, type=e.type, payload=dict(e.payload),
                     prev_hash=e.prev_hash, hash=e.hash)
            for e in found
        ],
    )  # fmt: skip


@router.get("/runs/{run_id}/logs", response_model=list[LogLineOut])
def logs(
    run_id: str,
    ui: Context,
    task: Annotated[str | None, Query(description="only this task key")] = None,
    attempt: Annotated[int | None, Query(ge=1, description="only this attempt")] = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> list[LogLineOut]:
    """What the run's task attempts printed and logged, by task key, attempt and seq."""
    lines = ui.engine.logs(run_id, task)
    if attempt is not None:
        lines = [line for line in lines if line.attempt == attempt]
    return [
        LogLineOut(task_key=line.task_key, attempt=line.attempt, seq=line.seq, ts=line.ts,
                   stream=line.stream, message=line.message, level=line.level, logger=line.logger)
        for line in lines[offset : offset + limit]
    ]  # fmt: skip


@router.get("/runs/{run_id}/lineage/{task_key}", response_model=LineageOut)
def lineage(run_id: str, task_key: str, ui: Context) -> dict[str, Any]:
    """Where a task's result came from: its inputs' tasks, back to the parameters."""
    return ui.engine.lineage(run_id, task_key).to_json()


@router.get("/runs/{run_id}/result", response_model=PreviewOut)
def result_preview(
    run_id: str,
    ui: Context,
    task: Annotated[str | None, Query(description="a task's result instead")] = None,
    seq: Annotated[int | None, Query(ge=1, description="as the run was after this event")] = None,
    at: Annotated[str | None, Query(description="as the run was at this ISO-8601 time")] = None,
) -> PreviewOut:
    """The value of the run's result (or of a task's), loaded on request from where it is
    stored (size and sha256 checked): pretty text cut after 4,000 characters, or why it
    cannot be shown (``problem``: altered, missing, a store this server cannot read...)."""
    point_seq, point_at = queries.point_in_time(seq, at)
    view = view_of(ui, ui.engine.events(run_id), point_seq, point_at)
    if task is not None and task not in view.tasks:
        raise UnknownTask(run_id, task)
    run = stored_run(view, ui.engine.storage.results, ui.engine.results_placement.open)
    found = run_preview(run) if task is None else task_preview(run, task)
    if found is None:
        state = view.state if task is None else view.tasks[task].state
        return PreviewOut(text=None, note=f"no result: it is {state.value}")
    problem = None if found.problem is None else ResultProblemOut(**found.problem.to_json())
    return PreviewOut(text=found.text, note=found.note, problem=problem)


@router.get("/workers", response_model=list[WorkerOut])
def workers(
    ui: Context,
    poll: Annotated[float, Query(gt=0, description="the workers' poll interval (s)")] = 5.0,
) -> list[WorkerOut]:
    """Registered workers: heartbeat age, runs in flight of their capacity, queues and health
    (running, and beat recently)."""
    now = datetime.now(UTC)
    return [
        WorkerOut(
            name=w.name, host=w.host, pid=w.pid, state=w.state, started_at=w.started_at,
            heartbeat_at=w.heartbeat_at, heartbeat_age_s=w.heartbeat_age(now),
            runs_driven=w.runs_driven, in_flight=w.in_flight, max_runs=w.max_runs,
            queues=None if w.queues is None else list(w.queues), healthy=w.is_healthy(now, poll),
        )
        for w in ui.engine.storage.workers.workers()
    ]  # fmt: skip


@router.get("/limits", response_model=list[LimitOut])
def limits(ui: Context) -> list[LimitOut]:
    """Every tag with a limit: the limit, slots in use and tasks waiting."""
    return [limit_out(usage) for usage in ui.engine.limits()]


@router.get("/flow-limits", response_model=list[FlowLimitOut])
def flow_limits(ui: Context) -> list[FlowLimitOut]:
    """Every flow whose runs are limited: the limit, runs driven and runs waiting."""
    return [
        FlowLimitOut(
            flow=u.flow, limit=u.limit, setting=u.setting, recorded=u.recorded, running=u.in_use,
            waiting=u.waiting,
        )
        for u in ui.engine.flow_limits()
    ]  # fmt: skip


def limit_out(usage: TagUsage) -> LimitOut:
    """A tag's limit and usage."""
    return LimitOut(
        tag=usage.tag, limit=usage.limit, in_use=usage.in_use,
        waiting=[WaitingTaskOut(run_id=w.run_id, task_key=w.task_key, since=w.since) for w in usage.waiting],
    )  # fmt: skip


@router.get("/schedules", response_model=list[ScheduleOut])
def schedules(ui: Context) -> list[ScheduleOut]:
    """Every schedule, by name, with its next fire time."""
    now = datetime.now(UTC)
    return [schedule_out(record, now) for record in ui.engine.schedules()]


def schedule_out(record: ScheduleRecord, now: datetime) -> ScheduleOut:
    """A schedule and its next fire time (None while paused)."""
    return ScheduleOut(
        name=record.name, flow_ref=record.flow_ref, parameters=record.parameters, cron=record.cron,
        interval_seconds=record.interval_seconds, tz=record.tz, catchup=record.catchup,
        is_paused=record.is_paused, last_error=record.last_error,
        next_fire_time=None if record.is_paused else timing_of(record).next_fire_time(now),
    )  # fmt: skip
