"""Global concurrency limits by tag, enforced by the scheduler on SQLite and PostgreSQL."""

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import ledgerflow as lf
from ledgerflow.executors import ThreadExecutor

from ..crashing import CrashingExecutor
from ..intervals import peak_overlap


@lf.task(tags=["db"])
def hold(i: Any, seconds: float = 0.05) -> list[float]:
    start = time.monotonic()
    time.sleep(seconds)
    return [start, time.monotonic()]


@lf.task(tags=["db", "gpu"])
def hold_both(i: Any) -> list[float]:
    start = time.monotonic()
    time.sleep(0.05)
    return [start, time.monotonic()]


@lf.task(tags=["db"], retries=1, retry_delay=1.0)
def flaky_db() -> str:
    if lf.context().attempt < 2:
        raise OSError("transient")
    return "ok"


@lf.task
def gate() -> int:
    time.sleep(0.1)
    return 0


@lf.flow
def db_map(n: int = 12) -> Any:
    return hold.map(list(range(n)))


@lf.flow
def mixed(n: int = 6) -> Any:
    return {"both": hold_both.map(list(range(n))), "db": hold.map(list(range(n)))}


@lf.flow
def retry_frees_the_slot() -> Any:
    after = gate()
    return {"flaky": flaky_db(), "others": [hold(after), hold(after), hold(after)]}


@lf.flow
def db_chain() -> Any:
    return hold(hold(hold(0)))


@pytest.fixture
def engine(database_url: str, tmp_path: Path) -> Iterator[lf.Engine]:
    """Eight threads, so the limits (not the pool) bound the concurrency."""
    with lf.Engine(database_url, ThreadExecutor(max_workers=8), home=tmp_path) as opened:
        yield opened


def in_use(engine: lf.Engine) -> dict[str, tuple[int, int]]:
    return {u.tag: (u.in_use, len(u.waiting)) for u in engine.limits()}


def test_a_limit_caps_how_many_tagged_tasks_run_at_once(engine: lf.Engine) -> None:
    engine.set_limit("db", 2)
    run = engine.run(db_map, n=12)
    assert run.state == "SUCCEEDED"
    intervals = run.result()
    assert len(intervals) == 12 and peak_overlap(intervals) == 2
    assert all(run.tasks[f"hold[{i}]"].state == "SUCCEEDED" for i in range(12))
    assert in_use(engine) == {"db": (0, 0)}


def test_a_task_with_two_limited_tags_takes_both(engine: lf.Engine) -> None:
    engine.set_limit("db", 3)
    engine.set_limit("gpu", 1)
    run = engine.run(mixed, n=6)
    assert run.state == "SUCCEEDED"
    result = run.result()
    assert peak_overlap(result["both"]) == 1  # gpu
    assert peak_overlap(result["both"] + result["db"]) <= 3  # db
    assert in_use(engine) == {"db": (0, 0), "gpu": (0, 0)}


def test_a_task_waiting_for_its_retry_holds_no_slot(engine: lf.Engine) -> None:
    engine.set_limit("db", 1)
    run = engine.run(retry_frees_the_slot)
    assert run.state == "SUCCEEDED" and run.tasks["flaky_db"].attempts == 2
    seqs = {(e.type, e.task_key, e.payload.get("attempt")): e.seq for e in engine.events(run.id)}
    retrying = seqs[("task.retrying", "flaky_db", 1)]
    second = seqs[("task.running", "flaky_db", 2)]
    others = [seqs[("task.succeeded", key, 1)] for key in ("hold", "hold-1", "hold-2")]
    assert all(retrying < seq < second for seq in others)  # they ran in its retry delay


def test_limit_zero_pauses_the_tag_until_it_is_raised(
    engine: lf.Engine, database_url: str, tmp_path: Path
) -> None:
    engine.set_limit("db", 0)
    runs: list[lf.Run] = []
    driver = threading.Thread(target=lambda: runs.append(engine.run(db_map, n=3)))
    driver.start()
    with lf.Engine(database_url, home=tmp_path) as other:
        deadline = time.monotonic() + 30
        while in_use(other).get("db") != (0, 3):  # the database shows all three waiting
            assert time.monotonic() < deadline and driver.is_alive()
            time.sleep(0.02)
        [run_id] = [summary.run_id for summary in other.runs()]
        assert not [e for e in other.events(run_id) if e.type == "task.running"]
        [usage] = other.limits()
        assert usage.limit == 0 and {w.task_key for w in usage.waiting} == {"hold[0]", "hold[1]", "hold[2]"}
        assert all(w.run_id == run_id for w in usage.waiting)
        other.set_limit("db", 1)
    driver.join(timeout=60)
    assert not driver.is_alive() and runs[0].state == "SUCCEEDED"
    assert peak_overlap(runs[0].result()) == 1
    assert in_use(engine) == {"db": (0, 0)}


def test_a_crashed_driver_gives_its_slots_back(database_url: str, tmp_path: Path) -> None:
    with lf.Engine(database_url, CrashingExecutor("hold-1"), home=tmp_path) as engine:
        engine.set_limit("db", 1)
        with pytest.raises(SystemExit):
            engine.run(db_chain)
        run_id = engine.runs()[0].run_id
        assert in_use(engine) == {"db": (0, 0)}
    with lf.Engine(database_url, home=tmp_path) as engine:
        run = engine.resume(run_id)
        assert run.state == "SUCCEEDED" and run.tasks["hold-1"].attempts == 2
        assert in_use(engine) == {"db": (0, 0)}


def test_slots_left_by_a_killed_driver_expire_with_its_lease(database_url: str, tmp_path: Path) -> None:
    with lf.Engine(database_url, home=tmp_path, lease_ttl=0.5) as engine:
        engine.set_limit("db", 1)
        run = engine.run(db_chain)
        engine.storage.log.take_over(run.id, "dead-driver", 0.5)  # as if it died holding a slot
        assert engine.storage.limits.try_acquire_many(run.id, [("hold", ["db"])], "dead-driver")
        assert in_use(engine) == {"db": (1, 0)}
        deadline = time.monotonic() + 30
        while in_use(engine) != {"db": (0, 0)}:  # the lease lapses: the slot no longer counts
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert engine.run(db_chain).state == "SUCCEEDED"
