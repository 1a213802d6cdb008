"""``ledgerflow submit``: record a run as SCHEDULED for a ``ledgerflow worker`` to drive."""


import typer

from .options import DatabaseOption, open_engine
from .run_command import FlowRefArgument, ParamOption, load_flow_and_parameters


def submit(
    flow_ref: FlowRefArgument,
    parameter: ParamOption = None,
    database: DatabaseOption = None,
) -> None:
    """Record a run of a flow as SCHEDULED and print its id at once.

    A `ledgerflow worker` on the same database claims it and drives it; the flow must be
    importable where the workers run. Exits 2 if the flow or a parameter is wrong.
    """
    flow, parameters = load_flow_and_parameters(flow_ref, parameter)
    with open_engine(database) as engine:
        run_id = engine.submit_flow(flow, parameters)
    typer.echo(run_id)
