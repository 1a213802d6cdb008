"""Re-hashing the stored results a run's events refer to: which are altered or missing.

The hash chain protects the events; each event that refers to a stored result records its
size and sha256, so re-reading the bytes (from the database or an object store) and hashing
them again finds a result edited, truncated, swapped or deleted after it was recorded.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..engine.core.events import Event, is_persisted
from ..results.errors import ResultCorrupted
from ..results.integrity import check_bytes
from ..results.refs import ResultRef
from ..storage.protocols import ResultStore
from ..storage.result_reads import StoreOpener, read_stored


@dataclass(frozen=True, slots=True)
class ResultProblem:
    """A stored result whose bytes are not the ones its event recorded."""

    seq: int  # the event that refers to it
    task_key: str
    ref: str
    store: str
    expected: str
    found: str
    reason: str


@dataclass(frozen=True, slots=True)
class ResultsReport:
    """The outcome of re-hashing a run's stored results; ``unpersisted``: the tasks whose
    recorded results were not persisted (``persist_result=False``): nothing to re-hash."""

    checked: int
    problems: tuple[ResultProblem, ...]
    unpersisted: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether every stored result matched its recorded size and sha256."""
        return not self.problems


def stored_refs(events: Iterable[Event]) -> list[tuple[Event, ResultRef]]:
    """Each event that refers to a stored result, with its reference (a result referred to
    by several events, e.g. a cached one, is listed once, at its first event)."""
    found: dict[tuple[str, str], tuple[Event, ResultRef]] = {}
    for event in events:
        result = event.payload.get("result")
        if isinstance(result, dict) and "ref" in result:
            ref = ResultRef.from_payload(result)
            found.setdefault((ref.store, ref.key), (event, ref))
    return list(found.values())


def check_results(
    events: Sequence[Event], results: ResultStore, open_store: StoreOpener | None = None
) -> ResultsReport:
    """Re-read and re-hash every stored result ``events`` refer to; report each mismatch, and
    the results not persisted (skipped)."""
    refs = stored_refs(events)
    problems = []
    for event, ref in refs:
        try:
            stored = read_stored(ref, results, open_store)
            check_bytes(ref, stored.data, stored.sha256)
        except ResultCorrupted as exc:
            problems.append(
                ResultProblem(
                    event.seq, event.task_key or "", ref.key, ref.store, ref.sha256, exc.found, exc.reason
                )
            )
    return ResultsReport(len(refs), tuple(problems), unpersisted_tasks(events))


def unpersisted_tasks(events: Iterable[Event]) -> tuple[str, ...]:
    """The tasks with a recorded result that was not persisted, each once, in log order."""
    found = {
        event.task_key: None
        for event in events
        if event.task_key is not None and not is_persisted(_result_of(event))
    }
    return tuple(found)


def _result_of(event: Event) -> Mapping[str, Any] | None:
    result = event.payload.get("result")
    return result if isinstance(result, Mapping) else None
