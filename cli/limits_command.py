"""``ledgerflow limits``: global concurrency limits by tag, their slots and who waits."""

from typing import Annotated

import typer
from rich.table import Table

from ..storage.protocols import TagUsage
from .options import MAX_COUNT, DatabaseOption, console, open_engine, open_recorded

SHOWN_WAITING = 5
"""Waiting tasks named per tag; the rest are counted."""

limits_app = typer.Typer(
    help="Show global concurrency limits by tag (`limits`), or set one (`limits set TAG N`).",
    invoke_without_command=True,
)


@limits_app.callback()
def limits(ctx: typer.Context, database: DatabaseOption = None) -> None:
    """Show every tag with a limit: the limit, slots in use and the tasks waiting for one."""
    if ctx.invoked_subcommand is not None:
        return
    with open_recorded(database) as engine:
        usages = engine.limits()
    if not usages:
        typer.echo("no concurrency limits (set one with `ledgerflow limits set TAG N`)")
        return
    console().print(limits_table(usages))


@limits_app.command("set")
def set_limit(
    tag: Annotated[str, typer.Argument(metavar="TAG", help="The tag, as in @task(tags=[...]).")],
    limit: Annotated[
        int, typer.Argument(metavar="N", min=0, max=MAX_COUNT, help="At most N tasks at once; 0 pauses.")
    ],
    database: DatabaseOption = None,
) -> None:
    """Let at most N tasks tagged TAG run at once, across every run and process (0 pauses it)."""
    if not tag.strip():
        raise typer.BadParameter("the tag must not be empty", param_hint="TAG")
    with open_engine(database) as engine:
        engine.set_limit(tag, limit)
    typer.echo(f"limit of {tag!r} set to {limit}" + (" (paused)" if limit == 0 else ""))


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
