"""Errors of the engine: broken invariants of a log, bad flows and bad input."""

from typing import TYPE_CHECKING

from ..error_root import LedgerflowError

if TYPE_CHECKING:
    from .fold import RunView
    from .graph import Graph


class InvalidTransition(LedgerflowError):
    """An event asks for a state change the transition table forbids (``detail``: why,
    when the table allows the pair only under a condition the event does not meet)."""

    def __init__(
        self, run_id: str, seq: int, task_key: str | None, source: str, target: str,
        detail: str | None = None,
    ) -> None:  # fmt: skip
        self.run_id = run_id
        self.seq = seq
        self.task_key = task_key
        self.source = source
        self.target = target
        subject = f"task {task_key!r}" if task_key is not None else "the run"
        because = f" ({detail})" if detail else ""
        super().__init__(
            f"run {run_id}, seq {seq}: {subject} cannot go from {source} to {target}{because}"
        )


class InvalidEvent(LedgerflowError):
    """An event that does not fit the log it is folded into (gap, unknown task, bad payload)."""

    def __init__(self, run_id: str, seq: int, reason: str) -> None:
        self.run_id = run_id
        self.seq = seq
        super().__init__(f"run {run_id}, seq {seq}: {reason}")


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
