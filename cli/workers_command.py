"""``ledgerflow workers``: the registered workers, their heartbeats and health."""

from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
import typer
from rich.table import Table

from ..engine.durations import format_duration
from ..storage import WorkerRecord
from .options import DatabaseOption, console, open_recorded
from .render import format_time


def workers(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list instead of a table.")] = False,
    poll: Annotated[
        float,
        typer.Option(
            "--poll", metavar="SECONDS", min=0.01,
            help="The workers' poll interval: a heartbeat older than 3 polls (and 60 s) is unhealthy.",
        ),
    ] = 5.0,
    database: DatabaseOption = None,
) -> None:
    """List the workers that registered in the database: host, pid, runs driven, runs in flight
    of their capacity (--max-runs), their queues, heartbeat age and whether they are healthy
    (running, and beat recently)."""
    with open_recorded(database) as engine:
        found = engine.storage.workers.workers()
    now = datetime.now(UTC)
    if as_json:
        payload = [worker_json(record, now, poll) for record in found]
        typer.echo(orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode())
        return
    console().print(workers_table(found, now, poll))


def worker_json(record: WorkerRecord, now: datetime, poll: float) -> dict[str, Any]:
    """One worker as plain JSON data."""
    return {
        "name": record.name,
        "host": record.host,
        "pid": record.pid,
        "state": record.state,
        "started_at": record.started_at.isoformat(),
        "heartbeat_at": record.heartbeat_at.isoformat(),
        "heartbeat_age": round(record.heartbeat_age(now), 3),
        "runs_driven": record.runs_driven,
        "in_flight": record.in_flight,
        "max_runs": record.max_runs,
        "queues": None if record.queues is None else list(record.queues),
        "healthy": record.is_healthy(now, poll),
    }


def workers_table(found: list[WorkerRecord], now: datetime, poll: float) -> Table:
    """A table of workers, most recently started first."""
    table = Table(title="workers")
    columns = ("name", "host", "pid", "state", "started", "heartbeat age", "runs", "in flight", "queues")
    for column in (*columns, "health"):
        table.add_column(column, overflow="fold")
    for record in found:
        is_healthy = record.is_healthy(now, poll)
        health = "[green]healthy[/]" if is_healthy else "[red]unhealthy[/]"
        if record.state != "running":
            health = "[dim]stopped[/]"
        table.add_row(
            record.name, record.host, str(record.pid), record.state, format_time(record.started_at),
            format_duration(record.heartbeat_age(now)), str(record.runs_driven), in_flight(record),
            ", ".join(record.queues) if record.queues is not None else "-", health,
        )  # fmt: skip
    return table


def in_flight(record: WorkerRecord) -> str:
    """The runs a worker drove at its last heartbeat, of how many it may drive at once."""
    return str(record.in_flight) if record.max_runs is None else f"{record.in_flight} / {record.max_runs}"
