"""Errors of the engine: bad flows, bad input, and runs that cannot be acted on."""

from typing import TYPE_CHECKING

from .core.errors import LedgerflowError

if TYPE_CHECKING:
    from .core.fold import RunView
    from .core.graph import Graph


class FlowDefinitionError(LedgerflowError):
    """A flow or task is used in a way that cannot build a graph."""


class InvalidParameter(LedgerflowError):
    """A flow parameter is missing, unknown, or cannot be recorded in the log."""

    def __init__(self, flow: str, name: str | None, reason: str) -> None:
        self.flow = flow
        self.name = name
        where = f"parameter {name!r} of flow {flow!r}" if name else f"flow {flow!r}"
        super().__init__(f"{where}: {reason}")


class GraphChanged(LedgerflowError):
    """The flow's code now builds a different graph than the one the run recorded."""

    def __init__(self, view: "RunView", graph: "Graph") -> None:
        self.run_id = view.run_id
        recorded, now = set(view.graph.nodes), set(graph.nodes)
        gone = sorted(recorded - now)[:5]
        new = sorted(now - recorded)[:5]
        super().__init__(
            f"run {view.run_id}: flow {view.flow!r} now builds a different graph "
            f"(recorded {view.graph_hash and view.graph_hash[:12]}, now {graph.digest()[:12]}; "
            f"tasks gone: {gone or 'none'}, new: {new or 'none'}, or edges/triggers changed). "
            "Restore the flow's code, or resume with allow_graph_change=True "
            "(CLI: --allow-graph-change) if every recorded task still exists"
        )


class RunNotFinished(LedgerflowError):
    """Restart was asked of a run that has not finished."""

    def __init__(self, run_id: str, state: str) -> None:
        self.run_id = run_id
        super().__init__(
            f"run {run_id} is {state}, not finished: resume it (if its driver died) or wait"
        )


class UnknownTask(LedgerflowError):
    """A task key that the run does not have."""

    def __init__(self, run_id: str, task_key: str) -> None:
        self.run_id = run_id
        self.task_key = task_key
        super().__init__(f"run {run_id} has no task {task_key!r} (see `ledgerflow show {run_id}`)")


class ResultNotPersisted(LedgerflowError):
    """A task's result was not persisted (``persist_result=False``) and this process does not
    hold it: it lived only in the executor memory of the drive that computed it."""

    def __init__(self, run_id: str, task_key: str) -> None:
        self.run_id = run_id
        self.task_key = task_key
        super().__init__(
            f"run {run_id}, task {task_key!r}: its result was not persisted (persist_result=False), "
            "so only its size and sha256 are recorded; it was available only to the drive that "
            "computed it. Give the task persist_result=True to read it later"
        )
