"""Options every command shares, the consoles, and opening the engine they name."""

import os
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console

from ..engine.api import Engine
from ..engine.core.run_terms import MAX_PRIORITY, MIN_PRIORITY

DATABASE_ENV = "LEDGERFLOW_DATABASE_URL"
DASK_ADDRESS_ENV = "LEDGERFLOW_DASK_ADDRESS"
PLAIN_WIDTH = 200
"""Console width when the output is not a terminal (so piped tables are not cut at 80)."""
MAX_COUNT = 2**31 - 1
"""The largest count an option takes (what an integer column holds on every database)."""
MAX_POLL_S = 86_400.0
"""The longest poll interval an option takes, in seconds (a day)."""

def dask_address_option(help: str) -> typer.models.OptionInfo:
    """``--dask-address`` (or ``$LEDGERFLOW_DASK_ADDRESS``): a Dask scheduler's address."""
    return typer.Option(  # type: ignore[no-any-return]
        "--dask-address", envvar=DASK_ADDRESS_ENV, metavar="ADDRESS", help=help, show_default=False
    )


DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        envvar=DATABASE_ENV,
        metavar="URL",
        help="Database URL (sqlite:///path or postgresql://...); "
        "default: the SQLite file in $LEDGERFLOW_HOME (~/.ledgerflow).",
        show_default=False,
    ),
]


ResultStorageOption = Annotated[
    str | None,
    typer.Option(
        "--result-storage",
        metavar="URL",
        help="Where results are written by the executors (file:///shared/results, "
        "s3://bucket/prefix...); default: $LEDGERFLOW_RESULT_STORAGE, else the database.",
        show_default=False,
    ),
]


class ExecutorName(StrEnum):
    """Where task bodies run."""

    threads = "threads"
    dask = "dask"


ExecutorOption = Annotated[
    ExecutorName | None,
    typer.Option("--executor", "-e", help="Where tasks run (default: threads).", show_default=False),
]
QueueOption = Annotated[
    str | None,
    typer.Option(
        "--queue", metavar="NAME", help="The queue its runs wait in for a worker of that queue "
        "(default: the flow's, else default).", show_default=False,
    ),
]  # fmt: skip
PriorityOption = Annotated[
    int | None,
    typer.Option(
        "--priority", metavar="N", min=MIN_PRIORITY, max=MAX_PRIORITY,
        help="Workers claim higher priorities first (default: the flow's, else 0).", show_default=False,
    ),
]  # fmt: skip
RunArgument = Annotated[str, typer.Argument(metavar="RUN", help="The run id (see `ledgerflow runs`).")]
ExpandOption = Annotated[bool, typer.Option("--expand", help="List every mapped child.")]
RunLimitOption = Annotated[
    int | None, typer.Option("--limit", "-n", min=1, max=MAX_COUNT, help="At most N runs.")
]


def console(*, stderr: bool = False) -> Console:
    """A Rich console on stdout (or stderr); wide and plain when not a terminal."""
    made = Console(stderr=stderr, highlight=False)
    if not made.is_terminal and "COLUMNS" not in os.environ:
        made = Console(stderr=stderr, highlight=False, width=PLAIN_WIDTH)
    return made


def open_engine(
    database: str | None, executor: ExecutorName | None = None, result_storage: str | None = None
) -> Engine:
    """An engine on ``database`` (or the environment's default), creating the schema if needed;
    results go to ``result_storage`` (or the environment's default)."""
    return Engine(
        database or None, executor.value if executor is not None else None, result_storage=result_storage
    )


def open_recorded(
    database: str | None, executor: ExecutorName | None = None, result_storage: str | None = None
) -> Engine:
    """An engine on a database that already holds ledgerflow's schema, for commands that
    read or act on what was recorded: one without it raises ``SchemaMissing``."""
    chosen = executor.value if executor is not None else None
    return Engine(database or None, chosen, create_schema=False, result_storage=result_storage)
