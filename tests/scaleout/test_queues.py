"""Queues, priorities and flow run limits with real ``lf.Worker``s on SQLite and PostgreSQL:
a run waits for a worker of its queue, higher priorities start first, and workers drive at
most ``max_concurrent_runs`` runs of a flow at once, a crashed holder's slot coming back."""

import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest

import ledgerflow as lf
from ledgerflow.engine.core.events import NewEvent

from .conftest import wait_until


@lf.task
def echo(i: int) -> int:
    return i


@lf.task
def slow(i: int) -> int:
    time.sleep(0.2)  # work that takes a while, so overlapping runs would show in the log
    return i


@lf.flow
def plain(i: int = 0) -> int:
    return echo(i)


@lf.flow(queue="gpu", priority=4)
def on_gpu(i: int = 0) -> int:
    return echo(i)


@lf.flow(max_concurrent_runs=1)
def one_at_a_time(i: int = 0) -> int:
    return slow(i)


@pytest.fixture
def engine(database_url: str, tmp_path: Path) -> Iterator[lf.Engine]:
    """An engine on a fresh database of each kind (not the module's shared one)."""
    with lf.Engine(database_url, home=tmp_path) as opened:
        yield opened


def running_span(engine: lf.Engine, run_id: str) -> tuple[datetime, datetime]:
    """When the run's (last) drive started and when it ended, as its log says."""
    events = engine.events(run_id)
    started = [e.ts for e in events if e.type == "run.running"][-1]
    [ended] = [e.ts for e in events if e.type == "run.succeeded"]
    return started, ended


@contextmanager
def running(worker: lf.Worker) -> Iterator[lf.Worker]:
    loop = threading.Thread(target=worker.run)
    loop.start()
    try:
        yield worker
    finally:
        worker.stop()
        loop.join(60)


def test_a_default_worker_never_takes_a_gpu_run(database_url: str, tmp_path: Path) -> None:
    with lf.Engine(database_url, home=tmp_path) as engine:
        gpu_by_flow = engine.submit(on_gpu, i=1)
        gpu_by_submit = engine.submit_flow(plain, {"i": 2}, queue="gpu")
        default = engine.submit(plain, i=3)
        with lf.Worker(database_url, home=tmp_path, schedules=False) as worker:
            assert worker.run_once(limit=5) == [default]
            assert worker.run_once(limit=5) == []
        assert [engine.storage.log.run(r).state for r in (gpu_by_flow, gpu_by_submit)] == ["SCHEDULED"] * 2
        with lf.Worker(database_url, home=tmp_path, schedules=False, queues=["gpu", "default"]) as gpu:
            assert gpu.run_once(limit=5) == [gpu_by_flow, gpu_by_submit]  # priority 4, then 0
        assert [engine.get_run(r).result() for r in (gpu_by_flow, gpu_by_submit, default)] == [1, 2, 3]
        assert engine.storage.log.run(gpu_by_flow).queue == "gpu"
        assert [summary.run_id for summary in engine.runs(queue="gpu")] == [gpu_by_submit, gpu_by_flow]


def test_run_created_records_the_queue_priority_and_run_limit(engine: lf.Engine) -> None:
    run_id = engine.submit_flow(on_gpu, {}, priority=-3)
    limited = engine.submit(one_at_a_time)
    created = engine.events(run_id)[0].payload
    assert (created["queue"], created["priority"], "max_concurrent_runs" in created) == ("gpu", -3, False)
    assert engine.events(limited)[0].payload["max_concurrent_runs"] == 1
    assert engine.get_run(run_id).view.terms == ("gpu", -3, None)
    direct = engine.run(on_gpu, i=5)  # a run driven at once records them too, for its recovery
    assert engine.events(direct.id)[0].payload["queue"] == "gpu"


def test_higher_priority_runs_start_first_one_at_a_time(database_url: str, tmp_path: Path) -> None:
    with lf.Engine(database_url, home=tmp_path) as engine:
        low = engine.submit(plain, i=1)
        high = engine.submit_flow(plain, {"i": 2}, priority=10)
        middle = engine.submit_flow(plain, {"i": 3}, priority=5)
        also_low = engine.submit(plain, i=4)
        with lf.Worker(database_url, home=tmp_path, schedules=False, max_runs=1) as worker:
            order = [run_id for _ in range(5) for run_id in worker.run_once(limit=1)]
        assert order == [high, middle, low, also_low]
        starts = [running_span(engine, run_id)[0] for run_id in order]
        assert starts == sorted(starts)


def test_max_concurrent_runs_holds_across_two_workers(database_url: str, tmp_path: Path) -> None:
    with lf.Engine(database_url, home=tmp_path) as engine:
        run_ids = [engine.submit(one_at_a_time, i=i) for i in range(4)]
        waits = engine.flow_waits(engine.runs())
        assert waits == {}  # nothing holds a slot yet: the first claim takes one
        workers = [
            lf.Worker(database_url, home=tmp_path, schedules=False, poll_interval=0.05, max_runs=4)
            for _ in range(2)
        ]
        with workers[0], workers[1], running(workers[0]), running(workers[1]):
            wait_until(lambda: len(engine.flow_waits(engine.runs())) == 3, "three runs wait for the flow")
            assert str(next(iter(engine.flow_waits(engine.runs()).values()))) == (
                "waiting for flow limit (1 of 1 running)"
            )
            wait_until(
                lambda: all(engine.storage.log.run(r).state == "SUCCEEDED" for r in run_ids), "all ran"
            )
        spans = sorted(running_span(engine, run_id) for run_id in run_ids)
        for (_, ended), (started, _) in itertools.pairwise(spans):
            assert ended <= started, spans


def test_a_crashed_holders_flow_slot_comes_back_after_its_lease_expires(
    database_url: str, tmp_path: Path
) -> None:
    with lf.Engine(database_url, home=tmp_path) as engine:
        first = engine.submit(one_at_a_time, i=1)
        second = engine.submit(one_at_a_time, i=2)
        log = engine.storage.log
        assert log.claim_scheduled("dead", 0.5) == [first]  # a worker that started it, then died
        log.append(first, 1, [NewEvent(None, "run.running", {"owner": "dead"})], owner="dead")
        with lf.Worker(database_url, home=tmp_path, schedules=False, lease_ttl=30) as worker:
            assert worker.run_once(limit=2) == []  # its holder's lease is alive: the flow is full
            wait_until(lambda: log.run(first).state == "CRASHED", "the dead holder's lease expired")
            assert worker.run_once(limit=2) == [first]  # resumed, it retakes the slot first
            assert worker.run_once(limit=2) == [second]
        assert [engine.get_run(r).result() for r in (first, second)] == [1, 2]
        assert running_span(engine, first)[1] <= running_span(engine, second)[0]


def test_a_stored_flow_limit_wins_and_zero_pauses_the_flow(engine: lf.Engine, database_url: str) -> None:
    run_ids = [engine.submit(one_at_a_time, i=i) for i in range(3)]
    engine.set_limit(f"flow:{one_at_a_time.name}", 0)
    [usage] = engine.flow_limits()
    assert (usage.flow, usage.setting, usage.recorded, usage.limit, usage.waiting) == (
        "one_at_a_time", 0, 1, 0, 3,
    )  # fmt: skip
    with lf.Worker(database_url, home=engine.home, schedules=False) as worker:
        assert worker.run_once(limit=3) == []
        engine.set_limit(f"flow:{one_at_a_time.name}", 2)
        assert worker.run_once(limit=3) == run_ids[:2]
        assert worker.run_once(limit=3) == run_ids[2:]


def test_schedules_give_their_runs_a_queue_and_priority(engine: lf.Engine) -> None:
    engine.schedule("hourly-gpu", plain, interval="1h", queue="gpu", priority=7)
    engine.schedule("hourly", on_gpu, interval="1h")  # the flow's own queue and priority
    assert engine.storage.schedules.get("hourly-gpu").queue == "gpu"
    start = datetime(2026, 1, 1, 0, 0)
    [by_schedule] = engine.backfill("hourly-gpu", start, start).created
    [by_flow] = engine.backfill("hourly", start, start).created
    assert engine.get_run(by_schedule).view.terms[:2] == ("gpu", 7)
    assert engine.get_run(by_flow).view.terms[:2] == ("gpu", 4)


def test_queues_priorities_and_run_limits_are_checked(engine: lf.Engine) -> None:
    for options in ({"queue": "a/b"}, {"queue": ""}, {"priority": "high"}, {"priority": 2**40},
                    {"max_concurrent_runs": 0}, {"max_concurrent_runs": True}):  # fmt: skip
        with pytest.raises(lf.FlowDefinitionError):
            lf.flow(**options)(plain.fn)
    with pytest.raises(lf.errors.InvalidName):
        engine.submit_flow(plain, {}, queue="")
    with pytest.raises(ValueError, match="priority"):
        engine.submit_flow(plain, {}, priority=1.5)  # type: ignore[arg-type]
    with pytest.raises(lf.FlowDefinitionError, match="flow:NAME"):
        lf.task(tags=["flow:plain"])(plain.fn)
    with pytest.raises(ValueError, match="queue"):
        lf.Worker("memory://", queues="gpu")
    assert engine.runs() == []
