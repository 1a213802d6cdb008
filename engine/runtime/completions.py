"""Outcomes as their attempts complete, from every run a loop drives, taken in batches."""

import queue
import time
from concurrent.futures import Future
from typing import Generic, TypeVar

from ...executors.invocation import Outcome

Tag = TypeVar("Tag")


class Completions(Generic[Tag]):
    """The futures of submitted attempts, each with a tag (its run), handed back as they
    complete."""

    def __init__(self, window: float, max_batch: int) -> None:
        self._window = window  # how long to wait for more outcomes after the first
        self._max_batch = max_batch
        self._done: queue.SimpleQueue[tuple[Tag, Future[Outcome]]] = queue.SimpleQueue()
        self.in_flight = 0

    def watch(self, tag: Tag, future: Future[Outcome]) -> None:
        """Hand ``future`` back from ``take``, with ``tag``, once it completes."""
        self.in_flight += 1
        future.add_done_callback(lambda done: self._done.put((tag, done)))

    def take(self, timeout: float | None) -> list[tuple[Tag, Outcome]]:
        """Wait up to ``timeout`` s (None: without limit; 0: not at all) for an outcome; then
        take those done and those completing within the window while others still run."""
        try:
            taken = [self._done.get(timeout=timeout) if timeout != 0 else self._done.get_nowait()]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self._window
        while len(taken) < min(self.in_flight, self._max_batch):
            remaining = max(0.0, deadline - time.monotonic())
            try:
                taken.append(self._done.get(timeout=remaining) if remaining else self._done.get_nowait())
            except queue.Empty:
                break
        self.in_flight -= len(taken)
        return [(tag, future.result()) for tag, future in taken]
