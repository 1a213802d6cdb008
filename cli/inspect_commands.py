"""Reading runs back: ``runs``, ``show``, ``events`` and ``replay``."""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
import typer
from rich.table import Table

from ..engine.api import Engine
from ..engine.core.states import RunState
from ..engine.errors import UnknownTask
from ..engine.moments import EXAMPLE_TIME, OutOfRange, parse_utc_time, time_or_age
from ..engine.queueing import FlowWait
from ..engine.run import Run
from ..storage.archive import Tombstone
from .attempt_errors import AttemptError, attempt_error_table, attempt_errors
from .errors import EXIT_FAILED, BadUsage
from .options import (
    MAX_COUNT,
    DatabaseOption,
    ExpandOption,
    RunArgument,
    console,
    open_recorded,
)
from .render import (
    event_json,
    events_table,
    format_time,
    result_text,
    run_header,
    run_summary_json,
    runs_table,
    styled_state,
    task_table,
)
from .runs_page import DEFAULT_RUNS_SHOWN, RunFilters, more_runs_line, page_size
from .show_results import (
    ValueAnswer,
    answer_value,
    checked_run,
    results_table,
    show_json,
    task_detail,
    value_line,
)


def runs(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list instead of a table.")] = False,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit", "-n", min=1, max=MAX_COUNT, help=f"At most N runs (default {DEFAULT_RUNS_SHOWN})."
        ),
    ] = None,
    show_all: Annotated[bool, typer.Option("--all", help="Every run (and every archived run).")] = False,
    flow: Annotated[
        str | None, typer.Option("--flow", metavar="NAME", help="Only runs of this flow.")
    ] = None,
    state: Annotated[
        str | None,
        typer.Option("--state", metavar="STATE[,STATE]", help="Only runs in these states."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="ISO|AGE", help="Only runs created at or after (e.g. 1d, 12h)."),
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", metavar="ISO|AGE", help="Only runs created before.")
    ] = None,
    queue: Annotated[
        str | None, typer.Option("--queue", metavar="NAME", help="Only runs of this queue.")
    ] = None,
    archived: Annotated[
        bool, typer.Option("--archived", help="List archived runs and where they went instead.")
    ] = False,
    database: DatabaseOption = None,
) -> None:
    """List runs, newest first: id, flow, state (a SCHEDULED or CRASHED run waiting for its
    flow's run limit says so), queue, priority, created, updated, duration and number of
    events; the newest 50 unless --limit or --all, and how many more there are."""
    now = datetime.now(UTC)
    size = page_size(limit, show_all)
    states = parse_states(state) if state is not None else None
    start = parse_time("--since", since, now) if since is not None else None
    end = parse_time("--until", until, now) if until is not None else None
    asked = None if size is None else size + 1  # one more tells whether there are more
    more = None
    with open_recorded(database) as engine:
        if archived:
            tombstones = engine.archived_runs(asked, flow=flow, states=states, since=start, until=end)
            if size is not None and len(tombstones) > size:
                tombstones, more = tombstones[:size], "more archived runs not shown; use --all or --limit N"
        else:
            summaries = engine.runs(asked, flow=flow, states=states, since=start, until=end, queue=queue)
            if size is not None and len(summaries) > size:
                summaries = summaries[:size]
                more = more_runs_line(engine, RunFilters(flow, states, start, end, queue), size)
            waits = engine.flow_waits(summaries)
    if archived:
        _print_tombstones(tombstones, as_json)
    elif as_json:
        payload = [run_summary_json(summary, now, waits.get(summary.run_id)) for summary in summaries]
        typer.echo(orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode())
    else:
        console().print(runs_table(summaries, now, waits))
    if more is not None:
        console(stderr=as_json).print(more, highlight=False, markup=False, soft_wrap=True)


def parse_states(text: str) -> list[str]:
    """``--state``: run state names separated by commas (any case)."""
    names = [name.strip().upper() for name in text.split(",") if name.strip()]
    valid = [state.value for state in RunState]
    unknown = [name for name in names if name not in valid]
    if unknown or not names:
        raise BadUsage(
            f"--state {text!r}: {', '.join(unknown) or 'no state'} is not a run state; "
            f"valid states: {', '.join(valid)}"
        )
    return names


def parse_time(option: str, text: str, now: datetime) -> datetime:
    """An ISO-8601 time (naive is UTC), or an age before ``now`` (``1d``, ``12h``, ``30m``)."""
    try:
        return time_or_age(text, now)
    except ValueError as exc:
        raise BadUsage(f"{option} {text!r} {exc}") from None


def tombstone_json(t: Tombstone) -> dict[str, Any]:
    """An archived run's tombstone as a JSON object."""
    return {
        "id": t.run_id, "run_id": t.run_id, "flow": t.flow, "state": t.state, "events": t.head_seq,
        "head_hash": t.head_hash, "created_at": t.created_at.isoformat(),
        "updated_at": t.updated_at.isoformat(), "file": t.file_name,
        "file_sha256": t.file_sha256, "archived_at": t.archived_at.isoformat(),
    }  # fmt: skip


def _print_tombstones(tombstones: Sequence[Tombstone], as_json: bool) -> None:
    if as_json:
        payload = [tombstone_json(t) for t in tombstones]
        typer.echo(orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode())
        return
    table = Table()
    for name in ("run id", "flow", "state", "created", "archived", "events", "file", "sha256"):
        table.add_column(name, no_wrap=True)
    for t in tombstones:
        table.add_row(t.run_id, t.flow, styled_state(t.state), format_time(t.created_at),
                      format_time(t.archived_at), str(t.head_seq), t.file_name, t.file_sha256[:12])
    console().print(table)


def archived_note(tombstone: Tombstone) -> str:
    """Where an archived run went, and how to verify it."""
    return (
        f"run {tombstone.run_id} ({tombstone.flow}, {tombstone.state}, {tombstone.head_seq} events) "
        f"was archived at {format_time(tombstone.archived_at)} UTC to {tombstone.file_name} "
        f"(sha256 {tombstone.file_sha256}); check it with `ledgerflow archive verify "
        f"{tombstone.run_id} --file DIR/{tombstone.file_name}`"
    )


def show(
    run_id: RunArgument,
    expand: ExpandOption = False,
    task: Annotated[
        str | None,
        typer.Option("--task", metavar="KEY", help="Show one task: state, attempts, errors, and where "
                     "its result is (store and key, size, format, full sha256)."),
    ] = None,
    value: Annotated[
        bool,
        typer.Option("--value", help="Load and print the result (the task's with --task), its size, "
                     "sha256 and signature checked, however large; exit 1 if it cannot be, saying why."),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON: every field, full hashes (values only with --value).")
    ] = False,
    database: DatabaseOption = None,
) -> None:
    """Show a run: its flow, parameters, state, tasks, where each result is (size, sha256),
    each attempt's error (retried or final), and its result (exit 1 if a result it loads
    cannot be shown: altered, missing, or in a store this process cannot read)."""
    with open_recorded(database) as engine:
        tombstone = engine.archived_run(run_id)
        if tombstone is not None:
            if as_json:
                typer.echo(orjson.dumps({"archived": True, **tombstone_json(tombstone)}).decode())
            else:
                console().print(archived_note(tombstone), markup=False, soft_wrap=True)
            return
        recorded = engine.events(run_id)
        found = checked_run(engine, engine.run_from(recorded))
        if task is not None and task not in found.tasks:
            raise UnknownTask(run_id, task)
        answer = answer_value(found, task, value) if value or not as_json else None
        wait = _flow_wait(engine, found)
    if as_json:
        typer.echo(show_json(found.view, task, answer, wait).decode())
    else:
        _print_show(found, task, expand, attempt_errors(recorded, task), answer, wait)
    if answer is not None and answer.problem is not None:  # the value could not be shown: it says why
        raise typer.Exit(EXIT_FAILED)


def _flow_wait(engine: Engine, found: Run) -> FlowWait | None:
    """Why a run waits for a worker (SCHEDULED, or CRASHED): its flow's run limit (None if it
    does not wait for it)."""
    if found.state.is_terminal:
        return None
    return engine.flow_waits([engine.storage.log.run(found.id)]).get(found.id)


def _print_show(
    found: Run, task: str | None, expand: bool, raised: list[AttemptError], answer: ValueAnswer | None,
    wait: FlowWait | None,
) -> None:  # fmt: skip
    out = console()
    if task is None:
        out.print(run_header(found.view, wait))
        out.print(task_table(found.tasks, expand=expand))
        located = results_table(found.tasks, expand=expand)
        if located is not None:
            out.print(located)
    else:
        out.print(task_detail(found.view, task))
    errors = attempt_error_table(raised)
    if errors is not None:
        out.print(errors)
    if answer is not None:
        out.print(value_line(answer), markup=False, soft_wrap=True)
    if task is None and found.state is RunState.CRASHED:
        out.print(
            f"its driver died: `ledgerflow resume {found.id}` continues it here, or a running "
            f"`ledgerflow worker` will{'' if wait is None else ' once a slot of its flow is free'}",
            markup=False, soft_wrap=True,
        )


def result_or_reason(found: Run) -> str | None:
    """The result of a succeeded run as bounded text (or why it cannot be loaded)."""
    if found.state is not RunState.SUCCEEDED:
        return None
    try:
        return result_text(found.result())
    except Exception as exc:  # e.g. a pickle of a class from flow code this process never imported
        return f"<cannot load: {type(exc).__name__}: {exc}>"


def events(
    run_id: RunArgument,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON Lines with every field.")] = False,
    database: DatabaseOption = None,
) -> None:
    """List a run's events: seq, time, task key, type, a short payload and the hash prefix."""
    with open_recorded(database) as engine:
        found = engine.events(run_id)
    if as_json:
        for event in found:
            typer.echo(event_json(event).decode())
        return
    console().print(events_table(found))


def replay(
    run_id: RunArgument,
    at: Annotated[
        str,
        typer.Option(
            "--at", metavar="SEQ_OR_TIME",
            help="An event seq (integer) or an ISO-8601 time (naive times are UTC).",
        ),
    ],
    expand: ExpandOption = False,
    database: DatabaseOption = None,
) -> None:
    """Show a run's tasks as they were at a seq or a point in time."""
    seq, moment = parse_point(at)
    with open_recorded(database) as engine:
        head = engine.storage.log.run(run_id).head_seq
        try:
            view = engine.state_at(run_id, seq=seq, at=moment)
        except ValueError as exc:
            raise BadUsage(str(exc)) from None
    out = console()
    out.print(run_header(view))
    out.print(f"as of seq {view.seq} of {head} ({format_time(view.updated_at)} UTC)", highlight=False)
    out.print(task_table(view.tasks, expand=expand))


def parse_point(text: str) -> tuple[int | None, datetime | None]:
    """``--at``: an integer is a seq, anything else an ISO-8601 time (naive is UTC)."""
    stripped = text.strip()
    try:
        seq = int(stripped)
    except ValueError:
        seq = None
    if seq is not None:
        if seq < 1:
            raise BadUsage(f"--at {text!r}: a seq starts at 1")
        return seq, None
    try:
        return None, parse_utc_time(stripped)
    except OutOfRange as exc:
        raise BadUsage(f"--at {text!r} {exc}") from None
    except ValueError:
        raise BadUsage(f"--at {text!r} is neither a seq nor an ISO-8601 time (e.g. {EXAMPLE_TIME})") from None
