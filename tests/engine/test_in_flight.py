"""A huge frontier is submitted as completions make room: never more than MAX_IN_FLIGHT at once."""

import threading
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path

import pytest

import ledgerflow as lf
from ledgerflow.engine.core import machine_state
from ledgerflow.executors import Invocation, Outcome, ThreadExecutor


class CountingExecutor(ThreadExecutor):
    """Threads that record the most attempts submitted and not yet complete at once."""

    def __init__(self) -> None:
        super().__init__(max_workers=4)
        self._lock = threading.Lock()
        self.outstanding = 0
        self.peak = 0

    def submit_many(self, invocations: Sequence[Invocation]) -> list[Future[Outcome]]:
        with self._lock:
            self.outstanding += len(invocations)
            self.peak = max(self.peak, self.outstanding)
        futures = super().submit_many(invocations)
        for future in futures:
            future.add_done_callback(self._completed)
        return futures

    def _completed(self, future: Future[Outcome]) -> None:
        with self._lock:
            self.outstanding -= 1


@lf.task
def double(x: int) -> int:
    return 2 * x


@lf.flow
def doubled(n: int) -> list[int]:
    return double.map(list(range(n)))


def test_a_large_map_never_has_more_than_the_cap_in_flight(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(machine_state, "MAX_IN_FLIGHT", 7)
    monkeypatch.setattr(machine_state, "MAX_STARTS_PER_ROUND", 5)
    counting = CountingExecutor()
    with lf.Engine(database_url, counting, home=tmp_path) as engine:
        run = engine.run(doubled, n=60)
    assert run.state == "SUCCEEDED"
    assert run.result() == [2 * x for x in range(60)]
    assert 1 <= counting.peak <= 7
