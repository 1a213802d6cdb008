"""``ledgerflow submit``: record a run as SCHEDULED for a ``ledgerflow worker`` to drive."""

from typing import Annotated

import typer

from .options import DatabaseOption, open_engine
from .parameters import parse_parameters
from .run_command import load_user_flow


def submit(
    flow_ref: Annotated[
        str,
        typer.Argument(metavar="FILE_OR_MODULE:FLOW", help="e.g. flows.py:pipeline or my_pkg.flows:pipeline"),
    ],
    parameter: Annotated[
        list[str] | None,
        typer.Option(
            "--param", "-p", metavar="KEY=VALUE",
            help="A flow parameter, converted by the flow's type annotation (repeatable).",
        ),
    ] = None,
    database: DatabaseOption = None,
) -> None:
    """Record a run of a flow as SCHEDULED and print its id at once.

    A `ledgerflow worker` on the same database claims it and drives it; the flow must be
    importable where the workers run. Exits 2 if the flow or a parameter is wrong.
    """
    flow = load_user_flow(flow_ref)
    parameters = parse_parameters(flow, parameter or [])
    flow.bind(parameters)  # missing parameters are bad usage, found before touching the database
    with open_engine(database) as engine:
        run_id = engine.submit_flow(flow, parameters)
    typer.echo(run_id)
