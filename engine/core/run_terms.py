"""Where a run waits for a worker, as its ``run.created`` records it: its queue, its priority
(a higher number is claimed first) and the cap on how many runs of its flow are driven at once.

A log written before these were recorded (or a malformed value) reads as the default queue,
priority 0 and no cap: the fold and the runs read model read them alike.
"""

from collections.abc import Mapping
from typing import Any, NamedTuple

DEFAULT_QUEUE = "default"
"""The queue of a run that names none, and the one a worker takes unless told."""
MIN_PRIORITY, MAX_PRIORITY = -(2**31), 2**31 - 1
"""The priorities (and run limits) an integer column holds on every database."""


class RunTerms(NamedTuple):
    """A run's queue, priority and its flow's recorded run limit (None: no cap)."""

    queue: str = DEFAULT_QUEUE
    priority: int = 0
    max_concurrent_runs: int | None = None

    def recorded(self) -> dict[str, Any]:
        """The fields ``run.created`` records (the run limit only if there is one)."""
        limit = {} if self.max_concurrent_runs is None else {"max_concurrent_runs": self.max_concurrent_runs}
        return {"queue": self.queue, "priority": self.priority, **limit}


NO_TERMS = RunTerms()
"""The terms of a run whose log recorded none: the default queue, priority 0, no limit."""


def recorded_terms(payload: Mapping[str, Any]) -> RunTerms:
    """The terms a ``run.created`` payload records (the defaults for what it lacks)."""
    queue = payload.get("queue")
    priority = _whole(payload.get("priority"), MIN_PRIORITY)
    return RunTerms(
        queue if isinstance(queue, str) and queue else DEFAULT_QUEUE,
        0 if priority is None else priority,
        _whole(payload.get("max_concurrent_runs"), 0),
    )


def _whole(value: object, lowest: int) -> int | None:
    """``value`` if it is a whole number from ``lowest`` to ``MAX_PRIORITY``, else None."""
    if isinstance(value, int) and not isinstance(value, bool) and lowest <= value <= MAX_PRIORITY:
        return value
    return None
