"""One worker drives many runs at once in one loop: their task bodies run together, a run
whose drive fails ends alone, and the worker's threads do not grow with its runs.
On SQLite and PostgreSQL, with real ``lf.Worker``s."""

import threading
from pathlib import Path

import pytest

import ledgerflow as lf
from ledgerflow.engine.worker import DEFAULT_MAX_RUNS

from .flows import chain, huge_map, tiny

RUNS = 20
MEETING = threading.Barrier(RUNS, timeout=120)


@lf.task
def meet(i: int) -> int:
    MEETING.wait()  # returns only once every run's body is running at the same time
    return i


@lf.flow
def meeting(i: int) -> int:
    return meet(i)


@pytest.fixture(autouse=True)
def _fresh_barrier() -> None:
    MEETING.reset()


def test_one_worker_runs_the_bodies_of_twenty_runs_at_once(database_url: str, tmp_path: Path) -> None:
    with lf.Engine(database_url, home=tmp_path) as engine:
        run_ids = [engine.submit(meeting, i=i) for i in range(RUNS)]
        with lf.Worker(database_url, home=tmp_path, max_runs=RUNS, schedules=False) as worker:
            assert sorted(worker.run_once(limit=RUNS)) == sorted(run_ids)
            assert worker.driving == 0
        for i, run_id in enumerate(run_ids):
            run = engine.get_run(run_id)
            assert run.state == "SUCCEEDED" and run.result() == i
            owners = {e.payload["owner"] for e in engine.events(run_id) if e.type == "run.running"}
            assert owners == {worker.engine.owner}


def test_a_claim_takes_the_oldest_runs_and_no_more_than_asked(database_url: str, tmp_path: Path) -> None:
    with lf.Engine(database_url, home=tmp_path) as engine:
        first, second, third = (engine.submit(chain, n=n) for n in (1, 2, 3))
        with lf.Worker(database_url, home=tmp_path, schedules=False) as worker:
            assert worker.run_once(limit=2) == [first, second]
            assert worker.run_once(limit=2) == [third]
            assert worker.run_once(limit=2) == []
        assert [engine.get_run(r).result()["first"] for r in (first, second, third)] == [1, 3, 6]


def test_the_worker_loop_drives_until_stopped_and_shares_its_threads(
    database_url: str, tmp_path: Path
) -> None:
    with lf.Engine(database_url, home=tmp_path) as engine:
        run_ids = [engine.submit(chain, n=3) for _ in range(30)]
        ended: list[str] = []
        all_ended = threading.Event()
        peak_threads = 0

        class Counting(lf.Worker):
            def driven(self, run_id: str, reason: str) -> None:
                nonlocal peak_threads
                peak_threads = max(peak_threads, threading.active_count())
                ended.append(run_id)
                if len(ended) == len(run_ids):
                    all_ended.set()

        options = {"max_runs": 10, "schedules": False, "poll_interval": 0.05}
        with Counting(database_url, home=tmp_path, **options) as worker:
            before = threading.active_count()
            driving = threading.Thread(target=worker.run)
            driving.start()
            assert all_ended.wait(120), f"{len(ended)} of {len(run_ids)} runs ended"
            worker.stop()
            driving.join(60)
            assert not driving.is_alive()
        assert sorted(ended) == sorted(run_ids)
        assert all(engine.get_run(r).result()["more"] == 13 for r in run_ids)
        # the loop, one lease thread, the heartbeat and the executor's pool: not a thread per run
        assert peak_threads - before <= 10 + 5


def test_a_worker_refuses_to_drive_no_runs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one run"):
        lf.Worker("memory://", home=tmp_path, max_runs=0)
    assert DEFAULT_MAX_RUNS == 100


def test_a_small_run_is_not_held_back_by_a_huge_map_on_the_same_worker(
    database_url: str, tmp_path: Path
) -> None:
    children = 20_000
    with lf.Engine(database_url, home=tmp_path) as engine:
        big = engine.submit(huge_map, n=children)
        small = engine.submit(tiny)
        with lf.Worker(database_url, home=tmp_path, max_runs=2, schedules=False) as worker:
            assert worker.run_once(limit=2) == [big, small]
        [small_end] = [e.ts for e in engine.events(small) if e.type == "run.succeeded"]
        big_events = engine.events(big)
        assert [e.type for e in big_events][-1] == "run.succeeded"
        done_before = sum(1 for e in big_events if e.type == "task.succeeded" and e.ts <= small_end)
        assert done_before < children / 4, f"{done_before} of the map's children ended first"
