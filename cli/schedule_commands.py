"""``ledgerflow schedule add|list|pause|resume|remove``, ``ledgerflow scheduler`` and
``ledgerflow backfill``: flows run on a cron expression or an interval."""

from contextlib import AbstractContextManager
from datetime import UTC, datetime
from types import FrameType
from typing import Annotated, Any

import orjson
import typer
from rich.table import Table

from ..engine.flow_ref import load_flow
from ..engine.schedule_runner import DEFAULT_MAX_BACKFILL, ScheduleRunner, timing_of
from ..storage import FireRecord, ScheduleRecord
from .errors import BadUsage
from .log_format import say
from .metrics_options import DEFAULT_METRICS_HOST, MetricsHostOption, MetricsPortOption, serving_metrics
from .options import (
    MAX_COUNT,
    MAX_POLL_S,
    DatabaseOption,
    PriorityOption,
    QueueOption,
    console,
    open_engine,
    open_recorded,
)
from .parameters import parse_parameters
from .render import format_time
from .run_command import FlowRefArgument, ParamOption
from .stop_signals import handling_stop_signals

schedule_app = typer.Typer(
    help="Run flows on a cron expression or an interval: add, list, pause, resume, remove."
)

NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="The schedule's name.")]


@schedule_app.command("add")
def add(
    name: NameArgument,
    flow_ref: FlowRefArgument,
    cron: Annotated[
        str | None,
        typer.Option(
            "--cron", metavar="EXPR", help="A cron expression, e.g. '0 2 * * *'.", show_default=False
        ),
    ] = None,
    interval: Annotated[
        str | None,
        typer.Option("--interval", metavar="N[s|m|h|d]", help="Instead of --cron: every 90s, 15m, 2h, 1d.",
                     show_default=False),
    ] = None,
    tz: Annotated[str, typer.Option("--tz", metavar="ZONE", help="Time zone of --cron (IANA name).")] = "UTC",
    parameter: ParamOption = None,
    catchup: Annotated[
        str,
        typer.Option("--catchup", metavar="POLICY",
                     help="Fire times missed while no scheduler ran: skip, latest or backfill:N."),
    ] = "latest",
    fire_time_param: Annotated[
        str | None,
        typer.Option("--fire-time-param", metavar="PARAM",
                     help="The flow parameter that gets the fire time (default: fire_time, if declared).",
                     show_default=False),
    ] = None,
    queue: QueueOption = None,
    priority: PriorityOption = None,
    database: DatabaseOption = None,
) -> None:
    """Store a schedule: a `ledgerflow scheduler` or `ledgerflow worker` creates its runs
    (in --queue with --priority, else the flow's).

    Exits 2 for a bad cron expression, interval, time zone or parameter, or a taken name.
    """
    flow = load_flow(flow_ref)  # the fire-time parameter is not given here: bound when it fires
    parameters = parse_parameters(flow, parameter or [])
    with open_engine(database) as engine:
        record = engine.schedule(
            name, flow, cron=cron, interval=interval, tz=tz, parameters=parameters,
            catchup=catchup, fire_time_param=fire_time_param, queue=queue, priority=priority,
        )  # fmt: skip
    timing = timing_of(record)
    upcoming = timing.next_fire_time(datetime.now(UTC))
    shown = format_time(timing.local(upcoming)) if upcoming else "never"
    typer.echo(f"schedule {name!r} added: {timing.describe()}, catch-up {record.catchup}; next fire {shown}")


@schedule_app.command("list")
def list_schedules(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    database: DatabaseOption = None,
) -> None:
    """Every schedule: its timing, state, next fire time and last run."""
    with open_recorded(database) as engine:
        records = engine.schedules()
        last = engine.storage.schedules.last_fires()
    now = datetime.now(UTC)
    if as_json:
        for record in records:
            typer.echo(orjson.dumps(schedule_json(record, last.get(record.name), now)).decode())
        return
    if not records:
        typer.echo("no schedules (add one with `ledgerflow schedule add NAME FLOW --cron ...`)")
        return
    console().print(schedules_table(records, last, now))


def schedule_json(record: ScheduleRecord, last: FireRecord | None, now: datetime) -> dict[str, Any]:
    """A schedule as plain JSON, with its next fire time and last fire."""
    upcoming = None if record.is_paused else timing_of(record).next_fire_time(now)
    return {
        "name": record.name, "flow_ref": record.flow_ref, "parameters": record.parameters,
        "cron": record.cron, "interval_seconds": record.interval_seconds, "tz": record.tz,
        "catchup": record.catchup, "paused": record.is_paused,
        "fire_time_param": record.fire_time_param, "queue": record.queue, "priority": record.priority,
        "next_fire_time": upcoming.isoformat() if upcoming else None,
        "last_fire_time": last.fire_time.isoformat() if last else None,
        "last_run_id": last.run_id if last else None,
        "last_error": record.last_error,
    }  # fmt: skip


def schedules_table(records: list[ScheduleRecord], last: dict[str, FireRecord], now: datetime) -> Table:
    """One row per schedule; times on the schedule's wall clock."""
    table = Table(
        "name", "flow", "when", "queue", "catch-up", "state", "next fire", "last fire", "last run", "error"
    )
    for record in records:
        timing = timing_of(record)
        upcoming = None if record.is_paused else timing.next_fire_time(now)
        fire = last.get(record.name)
        table.add_row(
            record.name, record.flow_ref.rpartition(":")[2], timing.describe(), _queue_text(record),
            record.catchup,
            "paused" if record.is_paused else "active",
            format_time(timing.local(upcoming)) if upcoming else "-",
            format_time(timing.local(fire.fire_time)) if fire else "-",
            (fire.run_id + (" (pending)" if fire.is_pending else "")) if fire else "-",
            record.last_error or "",
        )  # fmt: skip
    return table


def _queue_text(record: ScheduleRecord) -> str:
    """The queue and priority of the schedule's runs (those the flow gives, if it names none)."""
    queue = record.queue or "the flow's"
    return queue if record.priority is None else f"{queue}, priority {record.priority}"


@schedule_app.command("pause")
def pause(name: NameArgument, database: DatabaseOption = None) -> None:
    """Stop creating runs of a schedule until it is resumed."""
    with open_recorded(database) as engine:
        engine.pause_schedule(name)
    typer.echo(f"schedule {name!r} paused")


@schedule_app.command("resume")
def resume(name: NameArgument, database: DatabaseOption = None) -> None:
    """Create runs of a paused schedule again; fire times that passed while paused are skipped."""
    with open_recorded(database) as engine:
        engine.resume_schedule(name)
    typer.echo(f"schedule {name!r} resumed")


@schedule_app.command("remove")
def remove(name: NameArgument, database: DatabaseOption = None) -> None:
    """Delete a schedule; the runs it created stay."""
    with open_recorded(database) as engine:
        engine.remove_schedule(name)
    typer.echo(f"schedule {name!r} removed")


def scheduler(
    poll: Annotated[
        float,
        typer.Option("--poll", metavar="SECONDS", min=0.01, max=MAX_POLL_S, help="Seconds between polls."),
    ] = 5.0,
    once: Annotated[bool, typer.Option("--once", help="Poll once, then exit.")] = False,
    metrics_port: MetricsPortOption = None,
    metrics_host: MetricsHostOption = DEFAULT_METRICS_HOST,
    database: DatabaseOption = None,
) -> None:
    """Create the runs of due schedules (SCHEDULED, for `ledgerflow worker`s to drive), until
    SIGINT or SIGTERM. Several schedulers (and workers) may run at once: each fire time
    gets exactly one run."""
    with open_engine(database) as engine, serving_metrics(engine, metrics_port, metrics_host) as metrics_at:
        if metrics_at is not None:
            say(f"scheduler serves metrics on http://{metrics_host}:{metrics_at}/metrics")
        runner = ReportingRunner(engine, poll_interval=poll)
        if once:
            runner.tick()
            return
        say(f"scheduler polls {engine.storage.url} every {poll:g}s; stop it with Ctrl-C or SIGTERM")
        with stop_on_signals(runner):
            runner.run()
        say("scheduler stopped")


class ReportingRunner(ScheduleRunner):
    """A ``ScheduleRunner`` that says on stderr which runs it created."""

    def tick(self) -> list[str]:
        """Poll once and report each run created."""
        created = super().tick()
        for run_id in created:
            say(f"created run {run_id}")
        return created


def stop_on_signals(runner: ScheduleRunner) -> AbstractContextManager[None]:
    """While inside, SIGINT and SIGTERM ask ``runner`` to stop after its current poll."""

    def handle(signum: int, frame: FrameType | None) -> None:
        runner.stop()

    return handling_stop_signals(handle)


def parse_moment(text: str, option: str) -> datetime:
    """An ISO-8601 date or time; without an offset it is read on the schedule's wall clock."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        expected = "expected an ISO-8601 date or time, e.g. 2026-03-01T02:00"
        raise BadUsage(f"{option} {text!r}: {expected}") from None


def backfill(
    name: NameArgument,
    start: Annotated[str, typer.Option("--from", metavar="ISO", help="First fire time (inclusive).")],
    end: Annotated[str, typer.Option("--to", metavar="ISO", help="Last fire time (inclusive).")],
    max_runs: Annotated[
        int,
        typer.Option(
            "--max-runs", min=1, max=MAX_COUNT, help="Refuse a range with more fire times than this."
        ),
    ] = DEFAULT_MAX_BACKFILL,
    database: DatabaseOption = None,
) -> None:
    """Create SCHEDULED runs for the schedule's fire times in [--from, --to], each with its
    fire time as a parameter; those created before are skipped, so repeating it is safe.
    Times without an offset are on the schedule's wall clock."""
    first, last = parse_moment(start, "--from"), parse_moment(end, "--to")
    with open_engine(database) as engine:
        report = engine.backfill(name, first, last, max_runs=max_runs)
    for run_id in report.created:
        typer.echo(run_id)
    say(
        f"backfill of {name!r}: {len(report.fire_times)} fire time(s), {len(report.created)} run(s) "
        f"created, {report.existing} existed already"
    )
