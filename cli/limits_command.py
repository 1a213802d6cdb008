"""``ledgerflow limits``: global concurrency limits by tag and flows' run limits, their slots
and who waits."""

from typing import Annotated

import typer
from rich.table import Table

from ..storage import FLOW_LIMIT_PREFIX, FlowUsage, TagUsage
from .options import MAX_COUNT, DatabaseOption, console, open_engine, open_recorded

SHOWN_WAITING = 5
"""Waiting tasks named per tag; the rest are counted."""

limits_app = typer.Typer(
    help="Show global concurrency limits by tag and flows' run limits (`limits`), or set one "
    "(`limits set TAG N`, `limits set flow:NAME N`).",
    invoke_without_command=True,
)


@limits_app.callback()
def limits(ctx: typer.Context, database: DatabaseOption = None) -> None:
    """Show every tag with a limit (the limit, slots in use, the tasks waiting for one) and
    every flow whose runs are limited (the limit, runs driven, runs waiting)."""
    if ctx.invoked_subcommand is not None:
        return
    with open_recorded(database) as engine:
        usages = engine.limits()
        flows = engine.flow_limits()
    if not usages and not flows:
        typer.echo("no concurrency limits (set one with `ledgerflow limits set TAG N`)")
        return
    if usages:
        console().print(limits_table(usages))
    if flows:
        console().print(flow_limits_table(flows))


@limits_app.command("set")
def set_limit(
    tag: Annotated[
        str, typer.Argument(metavar="TAG", help="The tag, as in @task(tags=[...]); flow:NAME for a flow.")
    ],
    limit: Annotated[
        int, typer.Argument(metavar="N", min=0, max=MAX_COUNT, help="At most N at once; 0 pauses.")
    ],
    database: DatabaseOption = None,
) -> None:
    """Let at most N tasks tagged TAG run at once, across every run and process (0 pauses it);
    `flow:NAME` lets workers drive at most N runs of flow NAME at once (it wins over the
    flow's max_concurrent_runs)."""
    if not tag.strip():
        raise typer.BadParameter("the tag must not be empty", param_hint="TAG")
    with open_engine(database) as engine:
        engine.set_limit(tag, limit)
    flow = tag.removeprefix(FLOW_LIMIT_PREFIX)
    what = f"runs of flow {flow!r}" if flow != tag else repr(tag)
    typer.echo(f"limit of {what} set to {limit}" + (" (paused)" if limit == 0 else ""))


def limits_table(usages: list[TagUsage]) -> Table:
    """One row per tag: limit, in use, the number waiting and the first waiting tasks."""
    table = Table("tag", "limit", "in use", "waiting", "waiting tasks (run task)")
    for usage in usages:
        names = [f"{w.run_id} {w.task_key}" for w in usage.waiting[:SHOWN_WAITING]]
        if len(usage.waiting) > SHOWN_WAITING:
            names.append(f"and {len(usage.waiting) - SHOWN_WAITING} more")
        limit = f"{usage.limit} (paused)" if usage.limit == 0 else str(usage.limit)
        table.add_row(usage.tag, limit, str(usage.in_use), str(len(usage.waiting)), "\n".join(names))
    return table


def flow_limits_table(usages: list[FlowUsage]) -> Table:
    """One row per limited flow: the limit in force and where it comes from, runs driven and
    runs waiting for a slot."""
    table = Table("flow", "run limit", "set by", "running", "waiting")
    for usage in usages:
        limit = "" if usage.limit is None else f"{usage.limit}" + (" (paused)" if usage.limit == 0 else "")
        source = f"limits set {FLOW_LIMIT_PREFIX}NAME" if usage.setting is not None else "max_concurrent_runs"
        table.add_row(usage.flow, limit, source, str(usage.in_use), str(usage.waiting))
    return table
