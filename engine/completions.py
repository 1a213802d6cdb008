"""Outcomes as their attempts complete, taken in batches for group commits."""

import queue
import time
from concurrent.futures import Future

from ..executors.invocation import Outcome


class Completions:
    """The futures of submitted attempts, handed back as they complete."""

    def __init__(self, window: float, max_batch: int) -> None:
        self._window = window  # how long to wait for more outcomes after the first
        self._max_batch = max_batch
        self._done: queue.SimpleQueue[Future[Outcome]] = queue.SimpleQueue()
        self.in_flight = 0

    def watch(self, future: Future[Outcome]) -> None:
        """Hand ``future`` back from ``take`` once it completes."""
        self.in_flight += 1
        future.add_done_callback(self._done.put)

    def take(self, timeout: float | None) -> list[Outcome]:
        """Wait up to ``timeout`` s (None: without limit; 0: not at all) for an outcome; then
        take those done and those completing within the window while others still run."""
        try:
            futures = [self._done.get(timeout=timeout) if timeout != 0 else self._done.get_nowait()]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self._window
        while len(futures) < min(self.in_flight, self._max_batch):
            remaining = max(0.0, deadline - time.monotonic())
            try:
                futures.append(self._done.get(timeout=remaining) if remaining else self._done.get_nowait())
            except queue.Empty:
                break
        self.in_flight -= len(futures)
        return [future.result() for future in futures]
