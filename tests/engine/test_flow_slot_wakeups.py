"""A run waiting for its flow's run limit starts at once when a run of its flow ends in
another process, not at the waiting worker's next poll: letting go of a limited flow's run
announces its free slot (PostgreSQL LISTEN/NOTIFY). The bound is wide."""

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import ledgerflow as lf
from ledgerflow.engine.wakeups import ClaimWakeups
from ledgerflow.storage import Storage

from ..crash.processes import wait_until

POLL = 10.0  # the waiting worker's poll interval: a start that waited for it fails the test
BOUND = 2.0  # seconds from the first run's end to the second's start
GATE = threading.Event()
"""Opened by the test: the first run of ``one_at_a_time`` ends then."""


@lf.task
def pass_the_gate(i: int) -> int:
    assert GATE.wait(60)
    return i


@lf.flow(max_concurrent_runs=1)
def one_at_a_time(i: int) -> int:
    return pass_the_gate(i)


class Looks:
    """When a worker was woken, and when it began each look for runs that found none."""

    def __init__(self) -> None:
        self.wakes: list[float] = []
        self.empty: list[float] = []
        self._began = 0.0

    def watch(self, monkeypatch: pytest.MonkeyPatch, worker: lf.Worker) -> None:
        """Record the wake-ups and the empty looks of ``worker`` (before it runs)."""
        wakes = self.wakes

        class RecordedWakeups(ClaimWakeups):
            def __init__(self, storage: Storage, wake: Callable[[], None]) -> None:
                super().__init__(storage, lambda: (wakes.append(time.monotonic()), wake())[-1])

        monkeypatch.setattr("ledgerflow.engine.worker.ClaimWakeups", RecordedWakeups)
        log = worker.engine.storage.log
        claim_crashed, claim_scheduled = log.claim_crashed, log.claim_scheduled

        def crashed(*args: Any, **kwargs: Any) -> list[str]:
            self._began = time.monotonic()  # a look begins just after the wake-up is taken
            return claim_crashed(*args, **kwargs)

        def scheduled(*args: Any, **kwargs: Any) -> list[str]:
            claimed = claim_scheduled(*args, **kwargs)
            if not claimed:
                self.empty.append(self._began)
            return claimed

        monkeypatch.setattr(log, "claim_crashed", crashed)
        monkeypatch.setattr(log, "claim_scheduled", scheduled)

    def is_idle(self) -> bool:
        """The worker was woken on listening, and looked since its last wake-up: it waits."""
        return bool(self.wakes) and any(began > self.wakes[-1] for began in self.empty)


def test_a_freed_flow_slot_wakes_an_idle_worker(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    GATE.clear()
    looks = Looks()
    with lf.Engine(postgres_url, home=tmp_path) as engine:
        first, second = (engine.submit(one_at_a_time, i=i) for i in range(2))
        with (
            lf.Worker(postgres_url, home=tmp_path, schedules=False) as driver,
            lf.Worker(postgres_url, home=tmp_path, poll_interval=POLL, schedules=False) as waiter,
        ):
            driving = threading.Thread(target=driver.run_once)  # drives the first run, no other
            driving.start()
            wait_until(lambda: engine.storage.log.run(first).state == "RUNNING", "the first run starts")
            looks.watch(monkeypatch, waiter)
            waiting = threading.Thread(target=waiter.run)
            waiting.start()
            try:
                wait_until(looks.is_idle, "the waiting worker waits for the flow's slot")
                GATE.set()
                driving.join()
                wait_until(
                    lambda: engine.storage.log.run(second).state == "SUCCEEDED",
                    "the second run ends",
                    seconds=POLL * 0.8,
                )
            finally:
                GATE.set()
                waiter.stop()
                waiting.join()
        ended = next(e.ts for e in engine.events(first) if e.type == "run.succeeded")
        started = next(e for e in engine.events(second) if e.type == "run.running")
    latency = (started.ts - ended).total_seconds()
    print(f"the second run started {latency * 1000:.0f} ms after the first ended (poll {POLL:g} s)")
    assert started.payload["owner"] == waiter.engine.owner
    assert latency < BOUND
