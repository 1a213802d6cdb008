"""The ``ledgerflow`` Typer application: commands, logging, and errors as exit codes."""

import logging
from importlib.metadata import version as installed_version
from typing import Annotated, Any

import typer

from ..engine.core.errors import LedgerflowError
from . import (
    audit_commands,
    audit_diff_commands,
    cancel_command,
    gc_command,
    health_command,
    inspect_commands,
    logs_command,
    recovery_commands,
    run_command,
    schedule_commands,
    submit_command,
    ui_command,
    watch_command,
    worker_command,
    workers_command,
)
from .archive_command import archive_app
from .db_commands import db_app
from .errors import exit_code_for
from .help_text import TidyHelpGroup
from .limits_command import limits_app
from .log_format import configure_logging
from .options import console


class LedgerflowGroup(TidyHelpGroup):
    """Reports a ``LedgerflowError`` as one line on stderr and exits 1 or 2 (no traceback)."""

    def invoke(self, ctx: Any) -> Any:  # typer vendors click: its Context type is private
        try:
            return super().invoke(ctx)
        except LedgerflowError as exc:
            _report(str(exc), exc)
            raise typer.Exit(exit_code_for(exc)) from None


def _report(message: str, exc: BaseException) -> None:
    err = console(stderr=True)
    if logging.getLogger("ledgerflow").isEnabledFor(logging.DEBUG):
        err.print_exception(show_locals=False)
    one_line = " ".join(message.split())
    err.print(f"error: {one_line}", style="red", markup=False, highlight=False, soft_wrap=True)


app = typer.Typer(
    name="ledgerflow",
    cls=LedgerflowGroup,
    help="ledgerflow: an event-sourced workflow engine. Run flows and audit their logs.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold database passwords
    context_settings={"help_option_names": ["-h", "--help"]},
)


def show_version(is_asked: bool) -> None:
    """Print ``ledgerflow VERSION`` and exit, for ``--version``."""
    if is_asked:
        typer.echo(f"ledgerflow {installed_version('ledgerflow')}")
        raise typer.Exit()


@app.callback()
def configure(
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="Log more (-v info, -vv debug).")
    ] = 0,
    version: Annotated[
        bool,
        typer.Option("--version", callback=show_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Configure logging for the command (only the CLI installs log handlers; the format:
    LEDGERFLOW_LOG_FORMAT, text or json)."""
    configure_logging({0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG))


app.command("run")(run_command.run)
app.command("resume")(recovery_commands.resume)
app.command("restart")(recovery_commands.restart)
app.command("cancel")(cancel_command.cancel)
app.command("runs")(inspect_commands.runs)
app.command("show")(inspect_commands.show)
app.command("events")(inspect_commands.events)
app.command("verify")(audit_commands.verify)
app.command("export")(audit_commands.export)
app.command("replay")(inspect_commands.replay)
app.command("diff")(audit_diff_commands.diff)
app.command("lineage")(audit_diff_commands.lineage)
app.command("logs")(logs_command.logs)
app.command("worker")(worker_command.worker)
app.command("submit")(submit_command.submit)
app.command("workers")(workers_command.workers)
app.command("health")(health_command.health)
app.command("watch")(watch_command.watch)
app.command("ui")(ui_command.ui)
app.add_typer(archive_app, name="archive")
app.command("gc")(gc_command.gc)
app.add_typer(db_app, name="db")
app.add_typer(limits_app, name="limits")
app.add_typer(schedule_commands.schedule_app, name="schedule")
app.command("scheduler")(schedule_commands.scheduler)
app.command("backfill")(schedule_commands.backfill)


def main() -> None:
    """Entry point of the ``ledgerflow`` console script."""
    app()
