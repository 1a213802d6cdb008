"""What a loop's runs wait for, as it completes: attempts' outcomes and hook deliveries,
taken in batches (group commits)."""

import queue
import time
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

Tag = TypeVar("Tag")

MAX_BATCH = 1000
"""At most this many outcomes are taken at once."""
LINGER = 0.002
"""Seconds a take may wait, after its first result, for the more it was asked for."""


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

    def take(self, timeout: float | None, *, more: int = 0) -> list[tuple[Tag, Any]]:
        """Wait up to ``timeout`` s (None: without limit; 0: not at all) for a result or a
        ``wake``; then take every result done by then (a group commit needs no window: what
        completes while one is written goes into the next). If that is fewer than ``more``
        (many attempts are in flight), wait up to ``LINGER`` s more for them: each batch
        costs the loop a round (a frontier, a commit), and a fan-out's results trickle in."""
        try:
            first = self._done.get(timeout=timeout) if timeout != 0 else self._done.get_nowait()
        except queue.Empty:
            return []
        if first is None:
            return self._results(self._take_done([]))
        taken = self._take_done([first])
        wanted = min(more, MAX_BATCH)
        deadline = time.monotonic() + LINGER
        while len(taken) < wanted and (left := deadline - time.monotonic()) > 0:
            try:
                item = self._done.get(timeout=left)
            except queue.Empty:
                break
            if item is None:  # woken: the loop has something else to do
                break
            taken = self._take_done([*taken, item])
        return self._results(taken)

    def _take_done(self, taken: list[tuple[Tag, Future[Any]]]) -> list[tuple[Tag, Future[Any]]]:
        """``taken`` and what is done now, without waiting (at most ``MAX_BATCH``)."""
        while len(taken) < MAX_BATCH:
            try:
                item = self._done.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                taken.append(item)
        return taken

    @staticmethod
    def _results(taken: list[tuple[Tag, Future[Any]]]) -> list[tuple[Tag, Any]]:
        return [(tag, future.result()) for tag, future in taken]
