"""Reading runs back: ``runs``, ``show``, ``events`` and ``replay``."""

from datetime import UTC, datetime
from typing import Annotated

import orjson
import typer

from ..engine.run import Run
from ..engine.states import RunState
from .errors import BadUsage
from .options import DatabaseOption, ExpandOption, RunArgument, console, open_engine
from .render import (
    error_table,
    event_json,
    events_table,
    format_time,
    result_text,
    run_header,
    run_summary_json,
    runs_table,
    task_table,
)


def runs(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list instead of a table.")] = False,
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="At most N runs.")] = None,
    database: DatabaseOption = None,
) -> None:
    """List runs, newest first: id, flow, state, created, updated and number of events."""
    with open_engine(database) as engine:
        summaries = engine.runs(limit)
    if as_json:
        payload = [run_summary_json(summary) for summary in summaries]
        typer.echo(orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode())
        return
    console().print(runs_table(summaries))


def show(run_id: RunArgument, expand: ExpandOption = False, database: DatabaseOption = None) -> None:
    """Show a run: its flow, parameters, state, tasks, the errors of failed tasks, and its result."""
    out = console()
    with open_engine(database) as engine:
        found = engine.get_run(run_id)
        result = _result(found)
    out.print(run_header(found.view))
    out.print(task_table(found.tasks, expand=expand))
    errors = error_table(found.tasks)
    if errors is not None:
        out.print(errors)
    if result is not None:
        out.print(f"result: {result}", markup=False, soft_wrap=True)
    if found.state is RunState.CRASHED:
        out.print(
            f"its driver died: `ledgerflow resume {run_id}` continues it here, "
            "or a running `ledgerflow worker` will", markup=False, soft_wrap=True,
        )


def _result(found: Run) -> str | None:
    """The result's truncated repr for a succeeded run (or why it cannot be loaded)."""
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
    with open_engine(database) as engine:
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
    with open_engine(database) as engine:
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
        moment = datetime.fromisoformat(stripped)
    except ValueError:
        raise BadUsage(
            f"--at {text!r} is neither a seq nor an ISO-8601 time (e.g. 2026-11-29T03:15:00Z)"
        ) from None
    return None, moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
