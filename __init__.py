"""ledgerflow: an event-sourced workflow engine.

Every task and run transition is appended to a durable, hash-chained event log; the
state of a run is a fold of its log; Dask or a thread pool runs the work.
"""

from typing import TYPE_CHECKING, Any

from . import errors
from .engine import notify
from .engine.api import Engine
from .engine.cache import inputs_hash
from .engine.core.errors import LedgerflowError
from .engine.core.events import Event, EventType
from .engine.core.graph import Trigger
from .engine.core.states import RunState, TaskState
from .engine.errors import FlowDefinitionError, InvalidParameter
from .engine.flow import Flow, flow
from .engine.hooks import HookContext
from .engine.run import Run, RunFailed
from .engine.secrets import Secret
from .engine.task import Task, task
from .engine.tracing import unmapped
from .engine.worker import Worker
from .executors import Cancelled, ThreadExecutor, checkpoint, context
from .executors.signals import Skip
from .results.errors import ResultCorrupted

if TYPE_CHECKING:
    from .executors.dask_executor import DaskExecutor

__version__ = "0.1.0"

__all__ = [
    "Cancelled",
    "DaskExecutor",
    "Engine",
    "Event",
    "EventType",
    "Flow",
    "FlowDefinitionError",
    "HookContext",
    "InvalidParameter",
    "LedgerflowError",
    "ResultCorrupted",
    "Run",
    "RunFailed",
    "RunState",
    "Secret",
    "Skip",
    "Task",
    "TaskState",
    "ThreadExecutor",
    "Trigger",
    "Worker",
    "__version__",
    "checkpoint",
    "context",
    "errors",
    "flow",
    "inputs_hash",
    "notify",
    "task",
    "unmapped",
]


def __getattr__(name: str) -> Any:
    # DaskExecutor is imported on first use: importing distributed takes about a second.
    if name == "DaskExecutor":
        from .executors.dask_executor import DaskExecutor

        return DaskExecutor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
