"""A loop takes what completed in batches: at once what is done, and, when many attempts are
in flight, the more that complete within a short linger; a wake ends the wait."""

import time
from concurrent.futures import Future

from ledgerflow.engine.runtime.completions import LINGER, Completions


def done(value: int) -> Future[int]:
    future: Future[int] = Future()
    future.set_result(value)
    return future


def test_a_take_returns_what_is_done_without_waiting_for_more_than_asked() -> None:
    completions: Completions[str] = Completions()
    for value in (1, 2):
        completions.watch("run", done(value))
    assert completions.take(0) == [("run", 1), ("run", 2)]
    assert completions.take(0) == []


def test_asked_for_more_than_comes_a_take_gives_up_after_its_linger() -> None:
    completions: Completions[str] = Completions()
    completions.watch("run", done(1))
    completions.watch("run", Future())  # still running
    start = time.monotonic()
    assert completions.take(None, more=2) == [("run", 1)]
    assert time.monotonic() - start < 50 * LINGER  # a wide margin for a loaded machine


def test_a_wake_ends_the_linger() -> None:
    completions: Completions[str] = Completions()
    completions.watch("run", done(1))
    completions.wake()
    start = time.monotonic()
    assert completions.take(None, more=1000) == [("run", 1)]
    assert time.monotonic() - start < 50 * LINGER
