"""The root of every error ledgerflow raises, and the errors of the log's invariants (an
event the fold cannot accept).

The root lives in the core, which imports nothing else of ledgerflow, so every layer (the
neutral results package and the executors included) can derive its errors from it.
"""


class LedgerflowError(Exception):
    """Base class of all ledgerflow errors; each subclass names what went wrong and where."""


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
