"""A driver's concurrency slots: taken before tasks start, given back once their end is written."""

import logging
from collections.abc import Callable, Sequence

from ..storage.errors import StorageError
from ..storage.protocols import ConcurrencyLimits

logger = logging.getLogger(__name__)


class RunSlots:
    """The slots of limited tags that one driver holds for its run's tasks.

    A task takes its slots (all of its limited tags, or none) before it starts; a task that
    did not get them waits (``waiting``) and is tried again at the next step. Once a task's
    terminal or retrying event is recorded its slots are due back, and are given back after
    that event is written (so no other process starts a task before this one's end is in
    the log).
    """

    def __init__(self, run_id: str, owner: str, limits: ConcurrencyLimits | None) -> None:
        self._run_id = run_id
        self._owner = owner
        self._limits = limits
        self._holding: set[str] = set()
        self._due_back: list[str] = []
        self.waiting: set[str] = set()  # tasks that did not get their slots this step

    def acquire(self, keys: Sequence[str], tags_of: Callable[[str], Sequence[str]]) -> list[str]:
        """Take the slots of ``keys`` (one transaction); returns the keys that may start."""
        if self._limits is None:
            return list(keys)
        tagged = [
            (key, tags) for key in keys if (tags := tags_of(key)) and key not in self._holding
        ]
        if not tagged:
            return list(keys)
        granted = self._limits.try_acquire_many(self._run_id, tagged, self._owner)
        refused = {key for key, _ in tagged} - granted
        self._holding.update(key for key, _ in tagged if key in granted)
        self.waiting.update(refused)
        return [key for key in keys if key not in refused]

    def ended(self, key: str) -> None:
        """The task's terminal or retrying event was recorded: its slots are due back."""
        if key in self._holding:
            self._holding.discard(key)
            self._due_back.append(key)

    def give_back_written(self) -> None:
        """The recorded events were written: give back the slots they made due."""
        if self._due_back and self._limits is not None:
            released, self._due_back = self._due_back, []
            self._limits.release(self._run_id, *released)

    def give_back_all(self) -> None:
        """The drive ended: give back every slot this driver holds for the run."""
        if self._limits is None:
            return
        try:
            self._limits.release_run(self._run_id, self._owner)
        except StorageError:
            logger.warning("run %s: could not give back its slots; they expire with its lease", self._run_id)
