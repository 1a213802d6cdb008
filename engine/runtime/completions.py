"""What a loop's runs wait for, as it completes: attempts' outcomes and hook deliveries,
taken in batches (group commits)."""

import queue
import time
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

Tag = TypeVar("Tag")

GROUP_COMMIT_WINDOW = 0.005
"""How long a take waits for more outcomes after the first, while other attempts run."""
MAX_BATCH = 1000
"""At most this many outcomes are taken at once."""


class Completions(Generic[Tag]):
    """Futures (submitted attempts, hook deliveries), each with a tag (its run), handed back
    with their results as they complete."""

    def __init__(self) -> None:
        self._done: queue.SimpleQueue[tuple[Tag, Future[Any]] | None] = queue.SimpleQueue()
        self.in_flight = 0

    def watch(self, tag: Tag, future: Future[Any]) -> None:
        """Hand ``future`` back from ``take``, with ``tag``, once it completes."""
        self.in_flight += 1
        future.add_done_callback(lambda done: self._done.put((tag, done)))

    def wake(self) -> None:
        """End a ``take`` that waits (from any thread): it returns what is done by then."""
        self._done.put(None)

    def take(self, timeout: float | None) -> list[tuple[Tag, Any]]:
        """Wait up to ``timeout`` s (None: without limit; 0: not at all) for a result or a
        ``wake``; then take those done and (after a result) those completing within the
        window while others still run."""
        try:
            first = self._done.get(timeout=timeout) if timeout != 0 else self._done.get_nowait()
        except queue.Empty:
            return []
        taken = [] if first is None else [first]
        deadline = time.monotonic() + GROUP_COMMIT_WINDOW if taken else None
        while len(taken) < min(self.in_flight, MAX_BATCH):
            remaining = 0.0 if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                item = self._done.get(timeout=remaining) if remaining else self._done.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                taken.append(item)
        self.in_flight -= len(taken)
        return [(tag, future.result()) for tag, future in taken]
