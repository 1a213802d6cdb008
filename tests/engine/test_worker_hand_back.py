"""A stopping worker lets its runs finish for a grace period, then hands back those still
running: each records why, its lease is given up, and another worker resumes it at once,
running again only what was in flight. On SQLite and PostgreSQL, with real ``lf.Worker``s."""

import threading
from collections import Counter
from pathlib import Path

import pytest

import ledgerflow as lf
from ledgerflow.engine.worker import HAND_BACK_REASON

from ..crash.processes import wait_until

RUNS = 6
GATE = threading.Event()  # the odd runs' bodies wait for it
STARTED = threading.Semaphore(0)


@lf.task
def first(i: int) -> int:
    return i


@lf.task
def held(i: int) -> int:
    STARTED.release()
    if i % 2:
        GATE.wait(120)
    return i * 10


@lf.flow
def gated(i: int) -> int:
    return held(first(i))


@pytest.fixture(autouse=True)
def _closed_gate() -> None:
    GATE.clear()
    while STARTED.acquire(blocking=False):  # bodies of an earlier test
        pass


def capacity(worker: lf.Worker) -> list[tuple[int, int | None, tuple[str, ...] | None]]:
    """Runs in flight, capacity and queues of each registered worker."""
    return [(w.in_flight, w.max_runs, w.queues) for w in worker.registry.workers()]


def test_runs_still_driven_when_the_grace_ends_are_handed_back_and_resumed_at_once(
    database_url: str, tmp_path: Path
) -> None:
    with lf.Engine(database_url, home=tmp_path) as engine:
        run_ids = [engine.submit(gated, i=i) for i in range(RUNS)]
        options = {"max_runs": RUNS, "schedules": False, "poll_interval": 0.05, "lease_ttl": 600.0}
        with lf.Worker(database_url, home=tmp_path, **options) as stopping:
            driving = threading.Thread(target=stopping.run)
            driving.start()
            for _ in run_ids:
                assert STARTED.acquire(timeout=60), "a body did not start"
            even, odd = run_ids[::2], run_ids[1::2]
            wait_until(lambda: {engine.get_run(r).state for r in even} == {"SUCCEEDED"}, "even runs ended")
            registered = (len(odd), RUNS, ("default",))  # runs in flight, capacity, queues
            wait_until(lambda: capacity(stopping) == [registered], "its heartbeat counted them")
            stopping.stop(grace=600)
            assert driving.is_alive() and stopping.driving == len(odd)  # within its grace
            stopping.stop(grace=0)  # a second stop shortens it
            driving.join(60)
            assert not driving.is_alive() and stopping.driving == 0
            GATE.set()  # the abandoned bodies end; their outcomes are not recorded
        for run_id in odd:
            summary = engine.storage.log.run(run_id)
            assert (summary.state, summary.owner) == ("RUNNING", None)
            last = engine.events(run_id)[-1]
            assert (last.type, last.payload) == (
                "run.handed_back", {"reason": HAND_BACK_REASON, "owner": stopping.engine.owner},
            )  # fmt: skip
            assert engine.get_run(run_id).tasks["held"].state == "RUNNING"
        with lf.Worker(database_url, home=tmp_path, lease_ttl=600.0, schedules=False) as resuming:
            assert sorted(resuming.run_once(limit=RUNS)) == sorted(odd)  # at once: no lease to wait for
        for i, run_id in enumerate(run_ids):
            run = engine.get_run(run_id)
            assert run.state == "SUCCEEDED" and run.result() == i * 10
            succeeded = Counter(e.task_key for e in engine.events(run_id) if e.type == "task.succeeded")
            assert succeeded == {"first": 1, "held": 1}
        for run_id in odd:
            events = engine.events(run_id)
            assert [e.payload["owner"] for e in events if e.type == "run.running"] == [
                stopping.engine.owner, resuming.engine.owner,
            ]  # fmt: skip
            held_attempts = [e.payload for e in events if e.type == "task.running" and e.task_key == "held"]
            assert held_attempts == [{"attempt": 1}, {"attempt": 2, "reason": "orphaned"}]


def test_runs_that_end_within_the_grace_are_not_handed_back(database_url: str, tmp_path: Path) -> None:
    with lf.Engine(database_url, home=tmp_path) as engine:
        run_id = engine.submit(gated, i=1)
        with lf.Worker(database_url, home=tmp_path, schedules=False, poll_interval=0.05) as worker:
            driving = threading.Thread(target=worker.run)
            driving.start()
            assert STARTED.acquire(timeout=60)
            worker.stop(grace=600)
            GATE.set()
            driving.join(60)
            assert not driving.is_alive()
        assert engine.get_run(run_id).state == "SUCCEEDED"
        assert "run.handed_back" not in {e.type for e in engine.events(run_id)}
