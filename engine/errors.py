"""Errors of the engine: broken invariants of a log, bad flows and bad input."""

from ..errors import LedgerflowError


class InvalidTransition(LedgerflowError):
    """An event asks for a state change the transition table forbids."""

    def __init__(
        self, run_id: str, seq: int, task_key: str | None, source: str, target: str
    ) -> None:
        self.run_id = run_id
        self.seq = seq
        self.task_key = task_key
        self.source = source
        self.target = target
        subject = f"task {task_key!r}" if task_key is not None else "the run"
        super().__init__(
            f"run {run_id}, seq {seq}: {subject} cannot go from {source} to {target}"
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
