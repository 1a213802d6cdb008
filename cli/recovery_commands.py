"""``resume`` and ``restart``: drive an existing run again, with the progress and summary of ``run``."""

from typing import Annotated, Any

import typer

from ..engine.core.fold import RunView, fold
from ..engine.core.restart import has_nothing_to_restart
from ..engine.core.states import RunState
from ..engine.flow import Flow
from ..engine.flow_ref import FlowNotFound, load_flow
from .errors import BadUsage
from .options import (
    DatabaseOption,
    ExecutorOption,
    ExpandOption,
    ResultStorageOption,
    RunArgument,
    console,
    open_recorded,
)
from .parameters import parse_parameters
from .progress import run_progress
from .run_command import exit_for, print_summary

SecretOption = Annotated[
    list[str] | None,
    typer.Option(
        "--param", "-p", metavar="KEY=VALUE",
        help="The value of a secret parameter of the run, which its log does not hold "
        "(repeatable; else LEDGERFLOW_SECRET_<KEY>); checked against the recorded keyed hash.",
    ),
]


def resume(
    run_id: RunArgument,
    allow_graph_change: Annotated[
        bool,
        typer.Option(
            "--allow-graph-change",
            help="Resume although the flow now builds a different graph, "
            "if every recorded task still exists.",
        ),
    ] = False,
    parameter: SecretOption = None,
    executor: ExecutorOption = None,
    expand: ExpandOption = False,
    database: DatabaseOption = None,
    result_storage: ResultStorageOption = None,
) -> None:
    """Continue a run whose driver died, in this process, without re-running finished tasks.

    Takes the run over at once: only resume a run whose driver is gone (`ledgerflow runs`
    shows it CRASHED once its lease expired). Exits 1 if the run did not succeed or its
    flow now builds a different graph, 2 for an unknown run or a flow that does not load.
    """
    out = console()
    with open_recorded(database, executor, result_storage) as engine:
        history = engine.events(run_id)
        view = fold(history)
        if view.state.is_terminal:
            finished = engine.resume(run_id)  # changes nothing: returns the run as it is
        else:
            secrets = _secrets(view, parameter)
            with run_progress(out, history) as listener:
                finished = engine.resume(
                    run_id, allow_graph_change=allow_graph_change, on_events=listener, secrets=secrets
                )
    print_summary(out, finished, expand)
    if view.state.is_terminal:
        hint = "" if view.state is RunState.SUCCEEDED else f" (`ledgerflow restart {run_id}` re-runs it)"
        out.print(f"run {run_id} had already finished: nothing to resume{hint}",
                  highlight=False, markup=False, soft_wrap=True)
    exit_for(finished)


def restart(
    run_id: RunArgument,
    from_task: Annotated[
        str | None,
        typer.Option(
            "--from", metavar="TASK_KEY",
            help="Re-run this task and everything downstream of it, whatever their state "
            "(default: every FAILED, UPSTREAM_FAILED or CANCELLED task).",
            show_default=False,
        ),
    ] = None,
    parameter: SecretOption = None,
    executor: ExecutorOption = None,
    expand: ExpandOption = False,
    database: DatabaseOption = None,
    result_storage: ResultStorageOption = None,
) -> None:
    """Re-run the failed part of a finished run under the same id, keeping its successes.

    A run with nothing to re-run is left as it is ("nothing to restart", exit 0). Exits 1
    if the run did not succeed, 2 for an unknown run or task key, or a run that has not
    finished (resume it instead).
    """
    out = console()
    with open_recorded(database, executor, result_storage) as engine:
        history = engine.events(run_id)
        view = fold(history)
        if view.state.is_terminal and from_task is None and has_nothing_to_restart(view.graph, view):
            out.print(f"run {run_id} {view.state.value}: nothing to restart (no task failed or was "
                      "cancelled; --from TASK_KEY re-runs a chosen task)",
                      highlight=False, markup=False, soft_wrap=True)  # fmt: skip
            return
        secrets = None
        if view.state.is_terminal:  # else the engine refuses it: RunNotFinished
            secrets = _secrets(view, parameter)
        with run_progress(out, history) as listener:
            finished = engine.restart(
                run_id, from_task=from_task, on_events=listener, secrets=secrets
            )
    print_summary(out, finished, expand)
    exit_for(finished)


def _secrets(view: RunView, options: list[str] | None) -> dict[str, Any] | None:
    """Import the run's flow, and convert the ``-p`` values of its secret parameters."""
    flow = _import_flow(view)
    if not options or flow is None:
        return None
    return parse_parameters(flow, options)


def _import_flow(view: RunView) -> Flow[..., Any] | None:
    """Import the run's flow first, so that an exception in the user's code is one line."""
    if view.flow_ref is None:
        return None  # the engine says the run recorded no flow reference
    try:
        return load_flow(view.flow_ref)
    except (BadUsage, FlowNotFound) as exc:
        raise BadUsage(f"run {view.run_id}: {exc}") from exc
