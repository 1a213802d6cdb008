"""The server-rendered pages: Runs, Run, Workers, Limits, Schedules, and the login page.

Each page renders its body from the same data the JSON API serves. ``?fragment=1`` answers
with the body alone: the page's script swaps it in when the run (or any run) changes, so
pages of running runs update without a reload.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from ..engine.core.states import RunState
from ..storage import RunNotFound
from . import api, queries
from .auth import csrf_for, local_path, sessions_of, set_session_cookie
from .context import Context
from .formatting import FILTERS
from .run_list import COUNT_BOUND, RunPage, page_of_runs
from .run_page import RunPageQuery, run_page

router = APIRouter(include_in_schema=False)
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
TEMPLATES.env.filters.update(FILTERS)
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
Fragment = Annotated[bool, Query(description="only the page's body, for live updates")]


def render(
    request: Request, name: str, context: Mapping[str, Any], *, fragment: bool = False, status_code: int = 200
) -> HTMLResponse:
    """Render a page (or, with ``fragment``, its body template ``_<name>``) with the CSRF
    token its actions send, under a strict content security policy."""
    csrf, new_session = csrf_for(request)
    is_login_required = sessions_of(request).is_required
    page = TEMPLATES.get_template(f"_{name}" if fragment else name).render(
        {**context, "request": request, "csrf_token": csrf, "is_login_required": is_login_required}
    )
    response = HTMLResponse(page, status_code, headers=PAGE_HEADERS)
    if new_session is not None:
        set_session_cookie(response, request, new_session)
    return response


@router.get("/")
def home() -> RedirectResponse:
    """The Runs page."""
    return RedirectResponse("/runs", 303)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/runs") -> HTMLResponse:
    """The login form (only where a token is configured)."""
    return render(request, "login.html", {"next": local_path(next), "page": "login"})


@router.get("/runs", response_class=HTMLResponse)
def runs_page(
    request: Request, ui: Context, fragment: Fragment = False, flow: str | None = None,
    state: str | None = None, since: str | None = None, until: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100, before: str | None = None,
) -> HTMLResponse:  # fmt: skip
    """Runs, newest first, a page at a time ("Older runs" goes on after the last one shown),
    with filters, counts per state and durations."""
    filters = {"flow": flow or None, "state": state or None, "since": since or None, "until": until or None}
    try:
        page = page_of_runs(ui, limit, before or None, **filters)
        counts = api.run_counts(ui, filters["flow"], filters["since"], filters["until"], COUNT_BOUND)
        problem = None
    except HTTPException as exc:  # a malformed filter: say which, show nothing
        page, counts, problem = RunPage([], None), {}, str(exc.detail)
    older = None if page.next_before is None else request.url.include_query_params(before=page.next_before)
    context = {
        "page": "runs", "runs": page.runs, "counts": counts, "count_bound": COUNT_BOUND,
        "filters": filters, "limit": limit, "problem": problem,
        "run_states": [state.value for state in RunState],
        "selected_states": set((filters["state"] or "").upper().split(",")) - {""},
        "query": request.url.query, "before": before or None,
        "older": None if older is None else f"{older.path}?{older.query}",
        "newest": f"/runs?{request.url.remove_query_params(['before', 'fragment']).query}",
    }  # fmt: skip
    return render(request, "runs.html", context, fragment=fragment, status_code=422 if problem else 200)


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_detail_page(
    run_id: str, request: Request, ui: Context, fragment: Fragment = False,
    seq: Annotated[int | None, Query(ge=1)] = None, at: str | None = None, expand: str | None = None,
    task: str | None = None, events_after: Annotated[int | None, Query(ge=0)] = None,
    child_offset: Annotated[int, Query(ge=0)] = 0,
) -> HTMLResponse:  # fmt: skip
    """A run: its DAG, timeline, tasks, logs, events and verification (as of seq/at)."""
    try:
        point_seq, point_at = queries.point_in_time(seq, at or None)
        query = RunPageQuery(point_seq, point_at, expand or None, task or None, events_after, child_offset)
        context = run_page(ui, run_id, query, request.url.query)
    except RunNotFound:
        tombstone = ui.engine.archived_run(run_id)
        if tombstone is None:
            return render(request, "missing.html", {"page": "runs", "run_id": run_id}, status_code=404)
        return render(request, "archived.html", {"page": "runs", "tombstone": tombstone}, status_code=410)
    except HTTPException as exc:  # a malformed point in time
        return render(
            request, "missing.html", {"page": "runs", "run_id": run_id, "problem": exc.detail},
            status_code=exc.status_code,
        )  # fmt: skip
    return render(request, "run.html", {"page": "runs", **context}, fragment=fragment)


@router.get("/workers", response_class=HTMLResponse)
def workers_page(request: Request, ui: Context, fragment: Fragment = False) -> HTMLResponse:
    """Registered workers: heartbeat age, runs in flight of their capacity, queues, runs
    driven, healthy or not."""
    context = {"page": "workers", "workers": api.workers(ui)}
    return render(request, "workers.html", context, fragment=fragment)


@router.get("/limits", response_class=HTMLResponse)
def limits_page(request: Request, ui: Context, fragment: Fragment = False) -> HTMLResponse:
    """Concurrency limits: slots in use and tasks waiting, per tag; runs driven and waiting,
    per limited flow."""
    context = {"page": "limits", "limits": api.limits(ui), "flow_limits": api.flow_limits(ui)}
    return render(request, "limits.html", context, fragment=fragment)


@router.get("/schedules", response_class=HTMLResponse)
def schedules_page(request: Request, ui: Context, fragment: Fragment = False) -> HTMLResponse:
    """Schedules: next fire times, paused or not."""
    context = {"page": "schedules", "schedules": api.schedules(ui)}
    return render(request, "schedules.html", context, fragment=fragment)
