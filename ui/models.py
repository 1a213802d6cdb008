"""The JSON shapes of the web API (pydantic models, so the OpenAPI schema names every field)."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

MAX_INTEGER = 2**31 - 1
"""The largest count, seq or limit the API takes (what an integer column holds on every database)."""


class FlowWaitOut(BaseModel):
    """Why a SCHEDULED or CRASHED run waits: its flow already has ``running`` of at most
    ``limit`` runs."""

    running: int
    limit: int


class RunSummaryOut(BaseModel):
    """One run in the list of runs (``id`` and ``run_id`` are the same: ``run_id`` is kept
    for clients written before ``id``)."""

    id: str
    run_id: str
    flow: str
    state: str
    created_at: datetime
    updated_at: datetime
    events: int = Field(description="the run's head seq: how many events its log holds")
    head_hash: str
    owner: str | None = Field(description="the driver holding the run's lease now")
    duration_s: float = Field(description="creation to last event, or to now if not finished")
    is_finished: bool
    driven_by: str | None = Field(description="the lease holder, or the last driver of a run not held")
    queue: str = Field(description="the queue it waits in for a worker of that queue")
    priority: int = Field(description="workers claim higher priorities first")
    waiting_for_flow_limit: FlowWaitOut | None = Field(
        None,
        description="set while a SCHEDULED or CRASHED run waits for a slot of its flow's run limit",
    )


class ResultLocationOut(BaseModel):
    """Where a task's result is, as its event recorded it: never the value itself."""

    kind: str = Field(description="inline (in the event), database, or store (an object store)")
    where: str = Field(description="'inline in the log', 'database', or the store's URL")
    store: str | None = Field(description="the store's URL (no credentials), or 'database'")
    key: str | None = Field(description="the object's key in the store or the database's result table")
    url: str | None = Field(description="the object's URL (store and key) in an object store")
    format: str = Field(description="json or pickle (HMAC-signed)")
    compression: str | None
    size: int = Field(description="bytes as stored (inline: of its JSON)")
    size_text: str = Field(description="the size in binary units: 1.5 KiB")
    sha256: str | None = Field(description="of the stored bytes, checked on every load; null inline")


class ResultProblemOut(BaseModel):
    """Why a result's value cannot be shown."""

    kind: str = Field(description="corrupted, missing, refused, not_loadable, unreadable or no_result")
    message: str
    task_key: str | None
    ref: str | None
    store: str | None
    expected_sha256: str | None = Field(description="the sha256 the event records")
    found_sha256: str | None = Field(description="the sha256 of the bytes the store holds (corrupted)")


class TaskOut(BaseModel):
    """One task as the log says it is (its error's type and message if it failed, and where
    its result is)."""

    key: str
    state: str
    attempts: int
    duration_s: float | None
    started_at: datetime | None
    finished_at: datetime | None
    map_count: int | None
    error_type: str | None = None
    error_message: str | None = None
    result: ResultLocationOut | None = None


class MapGroupOut(BaseModel):
    """The children ``parent[i]`` of one map, aggregated: list them with ``/tasks?parent=``."""

    parent: str
    parent_state: str | None = Field(description="the MAPPED parent's state; null for a static map")
    children: int
    counts: dict[str, int] = Field(description="children by task state")
    max_duration_s: float | None


class VerificationOut(BaseModel):
    """The result of re-hashing the run's chain."""

    ok: bool
    first_bad_seq: int | None
    reason: str | None
    events_checked: int


class RunDetailOut(BaseModel):
    """A run (as of ``seq`` for a point-in-time view): tasks outside maps, maps aggregated.

    ``id`` and ``run_id`` are the same (``run_id`` is kept for clients written before ``id``).
    """

    id: str
    run_id: str
    flow: str
    flow_ref: str | None
    state: str
    seq: int = Field(description="the last event folded into this view")
    head_seq: int = Field(description="the run's last event now")
    is_point_in_time: bool
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    owner: str | None
    graph_hash: str | None
    parameters: dict[str, Any] = Field(description="as recorded: secret parameters stay keyed hashes")
    cancel_request: dict[str, Any] | None
    task_count: int
    counts: dict[str, int] = Field(description="every task (mapped children included) by state")
    tasks: list[TaskOut]
    maps: list[MapGroupOut]
    superseded: int = Field(
        0, description="children of a dynamic map's earlier expansion that a restart's new "
        "expansion does not have: no longer tasks of the run (their events stay in the log)",
    )
    queue: str = Field("default", description="the queue it waits in for a worker of that queue")
    priority: int = Field(0, description="workers claim higher priorities first")
    max_concurrent_runs: int | None = Field(None, description="the run limit its flow recorded")
    waiting_for_flow_limit: FlowWaitOut | None = Field(
        None,
        description="set while a SCHEDULED or CRASHED run waits for a slot of its flow's run limit",
    )
    verification: VerificationOut | None = None


class TaskPageOut(BaseModel):
    """A page of a run's tasks (or of one map's children)."""

    run_id: str
    parent: str | None
    total: int
    offset: int
    tasks: list[TaskOut]


class EventOut(BaseModel):
    """One event of the log with its place in the hash chain."""

    seq: int
    ts: datetime
    task_key: str | None
    type: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str


class EventPageOut(BaseModel):
    """Events with ``after_seq < seq``; ``next_after_seq`` asks for the next page (null: none)."""

    run_id: str
    head_seq: int
    events: list[EventOut]
    next_after_seq: int | None


class LogLineOut(BaseModel):
    """One line a task attempt printed or logged (not part of the hash chain)."""

    task_key: str
    attempt: int
    seq: int
    ts: datetime
    stream: str
    message: str
    level: str | None
    logger: str | None


class LineageInputOut(BaseModel):
    """An upstream result a task took (``index``: the element a mapped child took)."""

    task_key: str
    index: int | None


class LineageTaskOut(BaseModel):
    """A task of a lineage tree, with the inputs it was called with."""

    key: str
    task: str
    state: str
    attempt: int
    code_hash: str | None
    worker: str | None
    started_at: datetime | None
    finished_at: datetime | None
    duration: float | None
    result_hash: str | None
    parent: str | None
    map_count: int | None
    cached_from: dict[str, str] | None
    inputs: list[LineageInputOut]
    from_parameters: bool


class PreviewOut(BaseModel):
    """A preview of a result: bounded pretty text, and a note (cut, or why there is none),
    with the problem when it could not be loaded."""

    text: str | None = Field(description="indented JSON, else as Python's pprint shows it")
    note: str | None
    problem: ResultProblemOut | None = None


class LineageOut(BaseModel):
    """Where a task's result came from, as a flat list of tasks in pre-order."""

    run_id: str
    flow: str
    task_key: str
    parameters: dict[str, Any]
    tasks: list[LineageTaskOut]


class WorkerOut(BaseModel):
    """A registered worker and its health."""

    name: str
    host: str
    pid: int
    state: str
    started_at: datetime
    heartbeat_at: datetime
    heartbeat_age_s: float
    runs_driven: int
    in_flight: int = Field(description="the runs it drove at its last heartbeat")
    max_runs: int | None = Field(description="how many runs it drives at once (null: not recorded)")
    queues: list[str] | None = Field(description="the queues it takes runs from (null: not recorded)")
    healthy: bool


class WaitingTaskOut(BaseModel):
    """A task waiting for a slot of a limited tag."""

    run_id: str
    task_key: str
    since: datetime


class LimitOut(BaseModel):
    """A tag's concurrency limit, its slots in use and the tasks waiting (for ``flow:NAME``,
    the runs of flow NAME driven now; the runs waiting are in ``/api/flow-limits``)."""

    tag: str
    limit: int
    in_use: int
    waiting: list[WaitingTaskOut]


class FlowLimitOut(BaseModel):
    """A flow whose runs are limited: the limit in force, where it comes from, runs driven
    and runs waiting for a slot (SCHEDULED, or crashed or handed back)."""

    flow: str
    limit: int | None = Field(description="the setting if there is one, else the recorded limit")
    setting: int | None = Field(description="set with `ledgerflow limits set flow:NAME N` (wins)")
    recorded: int | None = Field(description="the smallest max_concurrent_runs its unfinished runs recorded")
    running: int
    waiting: int


class ScheduleOut(BaseModel):
    """A stored schedule and its next fire time (null while paused)."""

    name: str
    flow_ref: str
    parameters: dict[str, Any]
    cron: str | None
    interval_seconds: int | None
    tz: str
    catchup: str
    is_paused: bool
    next_fire_time: datetime | None
    last_error: str | None


class CancelIn(BaseModel):
    """Why the run is cancelled (recorded in ``run.cancel_requested``)."""

    reason: str | None = None


class RestartIn(BaseModel):
    """Re-open only this task and everything downstream of it (default: the failed part)."""

    from_task: str | None = None


class LimitIn(BaseModel):
    """At most this many tasks of the tag at once (0 pauses the tag)."""

    limit: int = Field(ge=0, le=MAX_INTEGER)


class CancelOut(BaseModel):
    """How a cancel went: the run's state when the request returned."""

    run_id: str
    state: str
    was_finished: bool
    is_cancelled: bool


class DriveOut(BaseModel):
    """A resume or restart handed to a background thread of the server.

    ``is_finished``: the drive ended before the response (e.g. a finished run was resumed);
    otherwise ``first_seq`` is the first event it appended (null if none yet).
    """

    run_id: str
    action: str
    state: str
    is_finished: bool
    first_seq: int | None


class CsrfOut(BaseModel):
    """The CSRF token state-changing requests send in ``X-CSRF-Token``."""

    csrf_token: str


class LoginIn(BaseModel):
    """The server's token (``LEDGERFLOW_UI_TOKEN`` or ``--token``)."""

    token: str
