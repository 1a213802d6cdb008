"""Where task bodies run: a thread pool (the default) or a Dask cluster."""

import os
from typing import TYPE_CHECKING, Any

from .base import Executor
from .context import Cancelled, TaskContext, checkpoint, context
from .invocation import (
    ErrorInfo,
    Invocation,
    LogLine,
    Outcome,
    OutcomeStatus,
    Upstream,
    Value,
)
from .signals import Skip, TaskTimeout
from .threads import ThreadExecutor

if TYPE_CHECKING:
    from .dask_executor import DaskExecutor

__all__ = [
    "Cancelled",
    "DaskExecutor",
    "ErrorInfo",
    "Executor",
    "Invocation",
    "LogLine",
    "Outcome",
    "OutcomeStatus",
    "Skip",
    "TaskContext",
    "TaskTimeout",
    "ThreadExecutor",
    "Upstream",
    "Value",
    "checkpoint",
    "context",
    "make_executor",
]


def __getattr__(name: str) -> Any:
    # DaskExecutor is imported on first use: importing distributed takes about a second.
    if name == "DaskExecutor":
        from .dask_executor import DaskExecutor

        return DaskExecutor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_executor(spec: str | Executor | None) -> Executor:
    """An executor from a name: None or "threads" (a thread pool), "dask" (a Dask cluster).

    "dask" connects to ``$LEDGERFLOW_DASK_ADDRESS`` if set, else starts a LocalCluster.
    An executor object is returned as is.
    """
    if spec is None or spec == "threads":
        return ThreadExecutor()
    if spec == "dask":
        from .dask_executor import DaskExecutor

        return DaskExecutor(address=os.environ.get("LEDGERFLOW_DASK_ADDRESS"))
    if isinstance(spec, str):
        raise ValueError(f"unknown executor {spec!r}: use 'threads', 'dask' or an Executor")
    return spec
