"""Why a worker could not drive a run it claimed, and how long it leaves the run alone.

A repeatable failure would fail the same way at the next claim: the run's log does not
fold, its flow does not load or builds another graph, the database refuses a value, a
bug. The worker records the run CRASHED with the reason and leaves it for a person
(``ledgerflow resume`` once the cause is fixed). A transient failure (the database away,
a deadlock, a secret this worker was not given) is retried, but not at once: the worker
skips the run for a wait that doubles with each failure in a row.
"""

import time
from collections.abc import Callable

from ..storage import StorageError, StorageUnavailable
from .secret_restore import SecretMismatch, SecretMissing

FIRST_WAIT = 1.0  # seconds a worker skips a run after its first transient failure
MAX_WAIT = 300.0
_TRANSIENT = (StorageUnavailable, SecretMissing, SecretMismatch)
_ROLLBACK_SQLSTATE = "40"  # PostgreSQL's transaction rollback class: serialization failure, deadlock


def is_repeatable(exc: BaseException) -> bool:
    """Whether driving the run again, as it is, would fail the same way."""
    if isinstance(exc, _TRANSIENT):
        return False
    if isinstance(exc, StorageError):
        sqlstate = getattr(getattr(exc.__cause__, "orig", None), "sqlstate", None)
        return not str(sqlstate or "").startswith(_ROLLBACK_SQLSTATE)
    return True


def wait_after(failures: int) -> float:
    """Seconds to skip a run after ``failures`` transient failures in a row (doubling, capped)."""
    return min(MAX_WAIT, FIRST_WAIT * 2.0 ** max(0, failures - 1))


class RunBackoff:
    """The runs a worker skips when claiming, each until its wait has passed (in memory)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: dict[str, int] = {}
        self._until: dict[str, float] = {}

    def failed(self, run_id: str) -> float:
        """Note a transient failure of ``run_id``; returns how long it is skipped."""
        failures = self._failures[run_id] = self._failures.get(run_id, 0) + 1
        wait = wait_after(failures)
        self._until[run_id] = self._clock() + wait
        return wait

    def forget(self, run_id: str) -> None:
        """The run made progress (or a person has it now): no wait, the count starts over."""
        self._failures.pop(run_id, None)
        self._until.pop(run_id, None)

    def waiting(self) -> list[str]:
        """The runs whose wait has not passed yet."""
        now = self._clock()
        return [run_id for run_id, until in self._until.items() if until > now]
