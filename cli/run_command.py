"""``ledgerflow run``: load a flow, convert its parameters, run it with live progress."""

from typing import Annotated, Any

import typer
from rich.console import Console

from ..engine.core.states import RunState
from ..engine.errors import ResultNotPersisted
from ..engine.flow import Flow
from ..engine.flow_ref import load_flow
from ..engine.run import Run
from .errors import EXIT_FAILED
from .options import DatabaseOption, ExecutorOption, ResultStorageOption, console, open_engine
from .parameters import parse_parameters
from .progress import run_progress
from .render import error_table, result_text, state_line, task_table

FlowRefArgument = Annotated[
    str,
    typer.Argument(metavar="FILE_OR_MODULE:FLOW", help="e.g. flows.py:pipeline or my_pkg.flows:pipeline"),
]
ParamOption = Annotated[
    list[str] | None,
    typer.Option(
        "--param", "-p", metavar="KEY=VALUE",
        help="A flow parameter, converted by the flow's type annotation (repeatable).",
    ),
]


def run(
    flow_ref: FlowRefArgument,
    parameter: ParamOption = None,
    executor: ExecutorOption = None,
    expand: Annotated[
        bool, typer.Option("--expand", help="List every mapped child in the summary.")
    ] = False,
    database: DatabaseOption = None,
    result_storage: ResultStorageOption = None,
) -> None:
    """Run a flow until it ends: live progress, then a summary table, the run id and the result.

    Exits 1 if the run did not succeed, 2 if the flow or a parameter is wrong.
    """
    flow, parameters = load_flow_and_parameters(flow_ref, parameter)
    out = console()
    with open_engine(database, executor, result_storage) as engine, run_progress(out) as listener:
        finished = engine.run_flow(flow, parameters, on_events=listener)
    print_summary(out, finished, expand)
    exit_for(finished)


def load_flow_and_parameters(
    flow_ref: str, parameter: list[str] | None
) -> tuple[Flow[..., Any], dict[str, Any]]:
    """The flow and its converted ``-p`` parameters; a bad reference, value or missing
    parameter is bad usage, found before the database is touched."""
    flow = load_flow(flow_ref)
    parameters = parse_parameters(flow, parameter or [])
    flow.bind(parameters)
    return flow, parameters


def exit_for(finished: Run) -> None:
    """Exit 1 unless the run succeeded (the exit code of ``run``, ``resume`` and ``restart``)."""
    if finished.state is not RunState.SUCCEEDED:
        raise typer.Exit(EXIT_FAILED)


def print_summary(out: Console, finished: Run, expand: bool) -> None:
    """The task table, the errors of failed tasks, the run id, its state and its result."""
    out.print(task_table(finished.tasks, expand=expand, title=f"flow {finished.flow}"))
    errors = error_table(finished.tasks)
    if errors is not None:
        out.print(errors)
    out.print(f"run id: {finished.id}", highlight=False, soft_wrap=True)
    out.print(state_line(finished.state))
    if finished.state is RunState.SUCCEEDED:
        try:
            shown = result_text(finished.result())
        except ResultNotPersisted as exc:  # a finished run resumed: its driver held the value
            shown = f"<not available: {exc}>"
        out.print(f"result: {shown}", highlight=False, markup=False, soft_wrap=True)
    else:
        out.print(f"see `ledgerflow show {finished.id}`", highlight=False, markup=False)
