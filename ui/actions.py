"""The actions of the JSON API: cancel, restart and resume a run, change a limit, pause
and resume a schedule. Each needs the CSRF header and makes the engine call the CLI
makes, so its events land in the log as they would from the command line."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Response

from ..engine.api import Engine
from ..engine.errors import UnknownTask
from ..engine.recorder import EventListener
from ..engine.run import Run
from ..storage import ScheduleNotFound, limited_flow
from .api import limit_out, schedule_out
from .auth import CsrfChecked
from .context import Context, UIContext
from .drives import DriveCall, DriveStarted
from .models import CancelIn, CancelOut, DriveOut, LimitIn, LimitOut, RestartIn, ScheduleOut

router = APIRouter(prefix="/api", tags=["actions"], dependencies=[CsrfChecked])


@router.post("/runs/{run_id}/cancel", response_model=CancelOut)
def cancel(run_id: str, ui: Context, body: Annotated[CancelIn | None, Body()] = None) -> CancelOut:
    """Cancel a run: its driver stops it (a run nobody drives is cancelled here)."""
    report = ui.engine.cancel(run_id, body.reason if body is not None else None)
    return CancelOut(run_id=report.run_id, state=report.state.value, was_finished=report.was_finished,
                     is_cancelled=report.is_cancelled)  # fmt: skip


@router.post("/runs/{run_id}/restart", response_model=DriveOut, status_code=202)
def restart(
    run_id: str, ui: Context, response: Response, body: Annotated[RestartIn | None, Body()] = None
) -> DriveOut:
    """Re-run the failed part of a finished run (or ``from_task`` and what is downstream),
    driven in the background; answers once its first events are in the log."""
    from_task = body.from_task if body is not None else None

    def call(engine: Engine, on_events: EventListener) -> Run:
        return engine.restart(run_id, from_task=from_task, on_events=on_events)

    try:
        started = _start(ui, run_id, "restart", call)
    except UnknownTask as exc:  # a task key in the body, not in the path
        raise HTTPException(422, f"from_task: {exc}") from None
    return _drive_out(started, response)


@router.post("/runs/{run_id}/resume", response_model=DriveOut, status_code=202)
def resume(run_id: str, ui: Context, response: Response) -> DriveOut:
    """Continue a run whose driver died, driven in the background (a finished run stays
    as it is); answers once its first events are in the log."""

    def call(engine: Engine, on_events: EventListener) -> Run:
        return engine.resume(run_id, on_events=on_events)

    return _drive_out(_start(ui, run_id, "resume", call), response)


@router.post("/limits/{tag}", response_model=LimitOut)
def set_limit(tag: str, body: LimitIn, ui: Context) -> LimitOut:
    """Let at most ``limit`` tasks tagged ``tag`` run at once (0 pauses the tag); ``flow:NAME``:
    at most ``limit`` runs of flow NAME driven by workers at once."""
    ui.engine.set_limit(tag, body.limit)
    flow = limited_flow(tag)
    if flow is not None:
        usage = next(usage for usage in ui.engine.flow_limits() if usage.flow == flow)
        return LimitOut(tag=tag, limit=body.limit, in_use=usage.in_use, waiting=[])
    return next(limit_out(usage) for usage in ui.engine.limits() if usage.tag == tag)


@router.post("/schedules/{name}/pause", response_model=ScheduleOut)
def pause_schedule(name: str, ui: Context) -> ScheduleOut:
    """Stop creating runs of a schedule until it is resumed."""
    ui.engine.pause_schedule(name)
    return _schedule(ui, name)


@router.post("/schedules/{name}/resume", response_model=ScheduleOut)
def resume_schedule(name: str, ui: Context) -> ScheduleOut:
    """Create runs of a paused schedule again, from now on."""
    ui.engine.resume_schedule(name)
    return _schedule(ui, name)



def _schedule(ui: UIContext, name: str) -> ScheduleOut:
    found = next((record for record in ui.engine.schedules() if record.name == name), None)
    if found is None:  # removed meanwhile
        raise ScheduleNotFound(name)
    return schedule_out(found, datetime.now(UTC))


def _start(ui: UIContext, run_id: str, action: str, call: DriveCall) -> DriveStarted:
    ui.engine.storage.log.run(run_id)  # an unknown run is a 404 before any thread starts
    return ui.drives.start(run_id, action, call)


def _drive_out(started: DriveStarted, response: Response) -> DriveOut:
    if started.is_finished:
        response.status_code = 200
    return DriveOut(run_id=started.run_id, action=started.action, state=started.state,
                    is_finished=started.is_finished, first_seq=started.first_seq)  # fmt: skip
