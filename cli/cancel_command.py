"""``ledgerflow cancel RUN``: ask for a run to be cancelled, from any process."""

from typing import Annotated

import typer

from .errors import EXIT_FAILED, EXIT_OK
from .options import DatabaseOption, RunArgument, console, open_recorded


def cancel(
    run_id: RunArgument,
    reason: Annotated[
        str | None,
        typer.Option("--reason", metavar="TEXT", help="Why: recorded in the run's log.", show_default=False),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Return only once the run has ended.")
    ] = False,
    database: DatabaseOption = None,
) -> None:
    """Cancel a run: its driver stops submitting, cancels its tasks and ends it CANCELLED.

    A run nobody drives (scheduled, crashed) is cancelled at once by this command. Exits 0
    if the run ends cancelled (or, without --wait, once its cancel is requested), 1 if it
    had already finished otherwise, 2 for an unknown run.
    """
    out = console()
    with open_recorded(database) as engine:
        report = engine.cancel(run_id, reason=reason, wait=wait)
    if report.is_cancelled:
        message, code = f"run {run_id} cancelled", EXIT_OK
    elif report.state.is_terminal:
        before = "had already finished" if report.was_finished else "finished first"
        message, code = f"run {run_id} {before}: {report.state}; nothing to cancel", EXIT_FAILED
    else:
        message = f"cancel of run {run_id} requested; its driver will cancel it (now {report.state})"
        code = EXIT_OK
    out.print(message, highlight=False, markup=False, soft_wrap=True)
    raise typer.Exit(code)
