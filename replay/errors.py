"""Errors of replay: what was asked of a run's log that the log does not have."""

from collections.abc import Sequence

from ..engine.core.errors import LedgerflowError
from ..engine.errors import UnknownTask


class UnknownTaskKey(UnknownTask):
    """A task key the run does not have; names the nearest keys it does have."""

    def __init__(self, run_id: str, task_key: str, near: Sequence[str]) -> None:
        super().__init__(run_id, task_key)
        self.near = tuple(near)
        if self.near:
            self.args = (f"{self.args[0]}; did you mean {', '.join(map(repr, self.near))}?",)


class ExportWriteFailed(LedgerflowError):
    """Writing an export to its opened target failed (a full disk, a closed pipe)."""

    def __init__(self, target: str, reason: str) -> None:
        self.target = target
        super().__init__(f"writing the export to {target} failed: {reason}")
