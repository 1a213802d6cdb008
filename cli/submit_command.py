"""``ledgerflow submit``: record a run as SCHEDULED for a ``ledgerflow worker`` to drive."""


import typer

from .options import DatabaseOption, PriorityOption, QueueOption, open_engine
from .run_command import FlowRefArgument, ParamOption, load_flow_and_parameters


def submit(
    flow_ref: FlowRefArgument,
    parameter: ParamOption = None,
    queue: QueueOption = None,
    priority: PriorityOption = None,
    database: DatabaseOption = None,
) -> None:
    """Record a run of a flow as SCHEDULED and print its id at once.

    A `ledgerflow worker` of its queue on the same database claims it (higher priorities
    first) and drives it; the flow must be importable where the workers run. Exits 2 if the
    flow, a parameter or the queue is wrong.
    """
    flow, parameters = load_flow_and_parameters(flow_ref, parameter)
    with open_engine(database) as engine:
        run_id = engine.submit_flow(flow, parameters, queue=queue, priority=priority)
    typer.echo(run_id)
