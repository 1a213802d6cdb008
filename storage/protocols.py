"""The storage contracts the scheduler and replay depend on."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from ..engine.events import Event, NewEvent


@dataclass(frozen=True, slots=True)
class RunSummary:
    """One row of the runs read model (rebuildable from the events)."""

    run_id: str
    flow: str
    state: str
    head_seq: int
    head_hash: str
    created_at: datetime
    updated_at: datetime
    owner: str | None
    lease_expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class StoredResult:
    """An encoded task result ready to be put in the result store."""

    ref: str
    run_id: str
    task_key: str
    format: str  # "json" or "pickle"
    data: bytes


class EventLog(Protocol):
    """An append-only, hash-chained log of run events."""

    def append(
        self, run_id: str, expected_seq: int, events: Sequence[NewEvent]
    ) -> list[Event]:
        """Append ``events`` after ``expected_seq`` in one transaction.

        ``expected_seq`` is the seq of the last event the caller has seen (0 for a new
        run, whose first event must be ``run.created``). Raises ``AppendConflict`` if
        another writer appended first.
        """
        ...

    def read(self, run_id: str, after_seq: int = 0, upto_seq: int | None = None) -> list[Event]:
        """The events of a run with after_seq < seq <= upto_seq, in seq order."""
        ...

    def runs(self, limit: int | None = None) -> list[RunSummary]:
        """Summaries of runs, newest first."""
        ...

    def run(self, run_id: str) -> RunSummary:
        """The summary of one run; raises ``RunNotFound``."""
        ...


class ResultStore(Protocol):
    """Durable storage of encoded task results."""

    def put_many(self, results: Sequence[StoredResult]) -> None:
        """Store results (pickles are signed); committed when this returns."""
        ...

    def get(self, ref: str) -> Any:
        """Load and decode a result; a pickle whose signature does not match is refused."""
        ...
