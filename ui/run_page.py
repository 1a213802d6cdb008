"""What the Run page shows: the run (now or as of a seq or time), a preview of its result,
its DAG and timeline, its tasks (a map's children paged), the selected task's error, logs,
result and lineage, a page of its events with their hashes, the chain's verification, and
the actions that fit its state."""

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from ..engine.core.errors import LedgerflowError
from ..engine.core.events import Event
from ..engine.core.fold import RunView
from ..engine.core.restart import has_nothing_to_restart
from ..engine.core.states import RunState
from ..engine.result_details import ResultLocation, location_of
from ..engine.run import Run
from ..storage import TaskLogLine
from . import api
from .context import UIContext
from .dag import DagNode, layout_dag
from .formatting import segment
from .gantt import gantt_of
from .models import TaskOut
from .previews import EMBED_BYTES, Preview, run_preview, stored_run, task_preview
from .tasks import select, task_out

TRACE_URL_ENV = "LEDGERFLOW_TRACE_URL"
"""A template of the link to a run's trace, e.g. ``http://jaeger:16686/trace/{trace_id}``."""
EVENTS_PER_PAGE = 100
CHILDREN_PER_PAGE = 100
_ACTIVE = (RunState.SCHEDULED, RunState.PENDING, RunState.RUNNING)


@dataclass(frozen=True, slots=True)
class RunPageQuery:
    """What the Run page was asked for: a point in time, an expanded map, a selected task,
    the page of events (after this seq; None: the newest page) and of a map's children."""

    seq: int | None = None
    at: datetime | None = None
    expand: str | None = None
    task: str | None = None
    events_after: int | None = None
    child_offset: int = 0

    @property
    def is_point_in_time(self) -> bool:
        """True if the page shows the run as it was, not as it is."""
        return self.seq is not None or self.at is not None


@dataclass(frozen=True, slots=True)
class Action:
    """A button: POST ``url`` with ``body`` once the user confirms ``confirm``."""

    label: str
    url: str
    confirm: str
    body: Mapping[str, Any] | None = None
    is_danger: bool = False


@dataclass(frozen=True, slots=True)
class TaskPanel:
    """The selected task: its row, error, where its result is, its preview (or the URL that
    loads it on request), logs and lineage."""

    task: TaskOut
    error: Mapping[str, Any] | None
    location: ResultLocation | None
    preview: Preview | None
    value_url: str
    logs: list[TaskLogLine]
    lineage: dict[str, Any] | None
    lineage_problem: str | None
    restart_from: Action | None


@dataclass(frozen=True, slots=True)
class EventPage:
    """A page of events and the ``events_after`` of its neighbours (None: no such page)."""

    events: Sequence[Event]
    earlier: int | None
    later: int | None


def run_page(ui: UIContext, run_id: str, query: RunPageQuery, url_query: str) -> dict[str, Any]:
    """The Run page's template context; raises ``RunNotFound`` for an unknown run."""
    events = ui.engine.events(run_id)  # read once: the view, the timeline and the event list
    head_seq = len(events)
    view = api.view_of(ui, events, query.seq, query.at)
    events = events[: view.seq]
    wait = None if query.is_point_in_time else api.flow_wait(ui, view)
    detail = api.run_detail_out(view, head_seq, query.is_point_in_time, ui.engine.verify(run_id), wait)
    is_live = not query.is_point_in_time and view.state in _ACTIVE
    link = _linker(run_id, query)
    return {
        "run": detail,
        "view": view,
        "query": query,
        "is_live": is_live,
        "link": link,
        "fragment_url": f"/runs/{segment(run_id)}?{_with(url_query, fragment='1')}",
        "stream_url": f"/api/live/runs/{segment(run_id)}" if not query.is_point_in_time else None,
        "dag": layout_dag(view.graph, view.tasks, query.expand),
        "href_for": lambda node: _node_href(link, node),
        "gantt": gantt_of(events, datetime.now(UTC) if is_live else view.updated_at),
        "children": _children(view, query),
        "result": run_preview(_stored_run(ui, view), EMBED_BYTES),
        "result_url": _value_url(run_id, query),
        "panel": _task_panel(ui, view, query),
        "events": _event_page(events, query.events_after),
        "actions": [] if query.is_point_in_time else run_actions(view),
        "as_of": events[-1].ts if events else None,
        "trace_url": trace_url(events[0] if events else None),
    }


def trace_url(created: Event | None) -> str | None:
    """Where the run's trace is shown: ``LEDGERFLOW_TRACE_URL`` with ``{trace_id}`` (and
    ``{span_id}``) filled in from its ``run.created`` (None: no template, or no trace recorded)."""
    template = os.environ.get(TRACE_URL_ENV)
    recorded = created.payload.get("trace") if created is not None else None
    if not template or not isinstance(recorded, Mapping):
        return None
    for name in ("trace_id", "span_id"):
        template = template.replace(f"{{{name}}}", quote(str(recorded.get(name, "")), safe=""))
    return template


def run_actions(view: RunView) -> list[Action]:
    """The actions that fit the run's state: cancel an active run, resume a crashed one,
    restart a finished one that has something to re-run (a task's panel offers to restart
    from that task)."""
    base = f"/api/runs/{segment(view.run_id)}"
    if view.state in _ACTIVE:
        return [Action("Cancel run", f"{base}/cancel", f"Cancel run {view.run_id}? Its running tasks are "
                       "stopped and the rest are cancelled.", {"reason": "cancelled from the web UI"}, True)]
    if view.state is RunState.CRASHED:
        return [Action("Resume run", f"{base}/resume",
                       f"Resume run {view.run_id}? This server drives it from where it stopped.")]
    if has_nothing_to_restart(view.graph, view):
        return []
    return [Action("Restart run", f"{base}/restart",
                   f"Restart run {view.run_id}? Its failed, upstream-failed and cancelled tasks run again; "
                   "its successes are kept.", {})]  # fmt: skip


def _linker(run_id: str, query: RunPageQuery) -> Callable[..., str]:
    """``link(**changes)``: the URL of this page with some of its parameters changed."""
    current: dict[str, Any] = {
        "seq": query.seq, "at": None if query.at is None else query.at.isoformat(),
        "expand": query.expand, "task": query.task,
    }  # fmt: skip

    def link(**changes: Any) -> str:
        wanted = {name: value for name, value in {**current, **changes}.items() if value is not None}
        return f"/runs/{segment(run_id)}" + (f"?{urlencode(wanted)}" if wanted else "")

    return link


def _node_href(link: Callable[..., str], node: DagNode) -> str:
    if node.is_group:
        return link(expand=node.key, child_offset=None) + "#children"
    return link(task=node.key) + "#task"


def _with(url_query: str, **extra: str) -> str:
    return "&".join(part for part in (url_query, urlencode(extra)) if part)


def _children(view: RunView, query: RunPageQuery) -> dict[str, Any] | None:
    """A page of the expanded map's children (index order); None if it names no map."""
    chosen = [] if query.expand is None else select(view.tasks, query.expand, None)
    if not chosen:
        return None
    offset = query.child_offset
    return {
        "parent": query.expand, "total": len(chosen), "offset": offset,
        "tasks": [task_out(task) for task in chosen[offset : offset + CHILDREN_PER_PAGE]],
        "previous": max(offset - CHILDREN_PER_PAGE, 0) if offset > 0 else None,
        "next": offset + CHILDREN_PER_PAGE if offset + CHILDREN_PER_PAGE < len(chosen) else None,
    }  # fmt: skip


def _task_panel(ui: UIContext, view: RunView, query: RunPageQuery) -> TaskPanel | None:
    key = query.task
    if key is None or key not in view.tasks:
        return None
    task = view.tasks[key]
    try:
        lineage, problem = ui.engine.lineage(view.run_id, key).to_json(), None
    except LedgerflowError as exc:
        lineage, problem = None, str(exc)
    restart_from = None
    if view.state.is_terminal and not query.is_point_in_time:
        restart_from = Action(
            f"Restart from {key}", f"/api/runs/{segment(view.run_id)}/restart",
            f"Restart run {view.run_id} from task {key}? It and everything downstream of it run again.",
            {"from_task": key},
        )  # fmt: skip
    return TaskPanel(
        task=task_out(task), error=task.error, location=location_of(task.result),
        preview=task_preview(_stored_run(ui, view), key, EMBED_BYTES),
        value_url=_value_url(view.run_id, query, task=key), logs=ui.engine.logs(view.run_id, key),
        lineage=lineage, lineage_problem=problem, restart_from=restart_from,
    )  # fmt: skip


def _stored_run(ui: UIContext, view: RunView) -> Run:
    return stored_run(view, ui.engine.storage.results, ui.engine.results_placement.open)


def _value_url(run_id: str, query: RunPageQuery, **extra: str) -> str:
    """The API URL that loads the run's result (or a task's) as this page shows the run."""
    point = {"seq": query.seq, "at": None if query.at is None else query.at.isoformat()}
    wanted = {name: value for name, value in {**extra, **point}.items() if value is not None}
    return f"/api/runs/{segment(run_id)}/result" + (f"?{urlencode(wanted)}" if wanted else "")


def _event_page(events: Sequence[Event], after: int | None) -> EventPage:
    """The page of events after seq ``after`` (None: the newest page)."""
    head = len(events)
    start = max(head - EVENTS_PER_PAGE, 0) if after is None else min(after, head)
    end = min(start + EVENTS_PER_PAGE, head)
    return EventPage(
        events=events[start:end],
        earlier=max(start - EVENTS_PER_PAGE, 0) if start > 0 else None,
        later=end if end < head else None,
    )
