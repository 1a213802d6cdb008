"""What a loop's runs wait for, as it completes: attempts' outcomes and hook deliveries,
taken in batches (group commits)."""

import queue
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

Tag = TypeVar("Tag")

MAX_BATCH = 1000
"""At most this many outcomes are taken at once."""


class Completions(Generic[Tag]):
    """Futures (submitted attempts, hook deliveries), each with a tag (its run), handed back
    with their results as they complete."""

    def __init__(self) -> None:
        self._done: queue.SimpleQueue[tuple[Tag, Future[Any]] | None] = queue.SimpleQueue()

    def watch(self, tag: Tag, future: Future[Any]) -> None:
        """Hand ``future`` back from ``take``, with ``tag``, once it completes."""
        future.add_done_callback(lambda done: self._done.put((tag, done)))

    def wake(self) -> None:
        """End a ``take`` that waits (from any thread): it returns what is done by then."""
        self._done.put(None)

    def take(self, timeout: float | None) -> list[tuple[Tag, Any]]:
        """Wait up to ``timeout`` s (None: without limit; 0: not at all) for a result or a
        ``wake``; then take, without waiting, every result done by then (a group commit
        needs no window: what completes while one is written goes into the next)."""
        try:
            first = self._done.get(timeout=timeout) if timeout != 0 else self._done.get_nowait()
        except queue.Empty:
            return []
        taken = [] if first is None else [first]
        while len(taken) < MAX_BATCH:
            try:
                item = self._done.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                taken.append(item)
        return [(tag, future.result()) for tag, future in taken]
