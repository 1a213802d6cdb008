"""A 23-task flow from a module file, run by a child process that is SIGKILLed at chosen
points, then resumed by the test process: nothing the log had finished runs again."""

import random
from pathlib import Path

import orjson
import pytest

import ledgerflow as lf
from ledgerflow.engine.flow_ref import load_flow

from .checks import check_log, check_recovered, crash_of, ran, read_ledger
from .processes import PYTHON, Spawn, drive, kill_after_kth_success, wait_until
from .scripts import BIG_STEPS, expected_result, task_keys

TASKS = len(task_keys())


def resume(database_url: str, crash_dir: Path, run_id: str) -> None:
    """Resume in this process and check the recovered run against the log at the crash."""
    with lf.Engine(database_url, home=crash_dir) as engine:
        crash = crash_of(engine, run_id)
        engine.resume(run_id)
        check_recovered(engine, run_id, crash, crash_dir)


def test_an_uncrashed_run_gives_the_reference_result(database_url: str, crash_dir: Path) -> None:
    with lf.Engine(database_url, home=crash_dir) as engine:
        run = engine.run(load_flow(f"{crash_dir / 'chain.py'}:chain"))
        assert run.state == "SUCCEEDED" and run.result() == expected_result()
        assert read_ledger(crash_dir) == [(key, 1) for key in task_keys()]
        events = engine.events(run.id)
        stored = [e for e in events if e.type == "task.succeeded" and "ref" in e.payload["result"]]
        assert len(stored) == len(BIG_STEPS)  # some results went through the result store
        check_log(engine, run.id)


def kill_point(seed: int) -> tuple[int, bool]:
    """(k, is_paused). Even seeds: the child waits after each append, so the kill lands right
    after the k-th commit. Odd seeds: it runs on, and the kill lands wherever it has got to."""
    is_paused = seed % 2 == 0
    return random.Random(seed).randint(1, TASKS - 1 if is_paused else TASKS - 5), is_paused


KILL_POINTS = [kill_point(seed) for seed in range(4)] + [(TASKS - 1, True)]  # the last: before total


@pytest.mark.parametrize(("k", "is_paused"), KILL_POINTS, ids=lambda v: str(v))
def test_killed_after_the_kth_task_succeeded(
    database_url: str, crash_dir: Path, spawn: Spawn, k: int, is_paused: bool
) -> None:
    child = drive(spawn, crash_dir, database_url, CRASH_PAUSE="1" if is_paused else "0")
    run_id = kill_after_kth_success(child, k, is_paused=is_paused)
    resume(database_url, crash_dir, run_id)


def test_killed_after_a_result_was_stored_before_its_event(
    database_url: str, crash_dir: Path, spawn: Spawn
) -> None:
    target = "step-7"  # a big result: stored in the result store before its event
    child = drive(spawn, crash_dir, database_url, CRASH_MODE="after-result", CRASH_TARGET=target)
    assert child.wait() == -9
    with lf.Engine(database_url, home=crash_dir) as engine:
        (summary,) = engine.runs()
        run_id = summary.run_id
        crash = crash_of(engine, run_id)
        assert crash.running == {target: 1} and target not in crash.succeeded
        orphan = engine.storage.results.read(f"{run_id}/{target}/1")  # stored, never referenced
        assert orjson.loads(orphan.data)[0] == expected_result(8)
        engine.resume(run_id)
        check_recovered(engine, run_id, crash, crash_dir)
    assert ran(crash_dir, target) == [1, 2]


def test_killed_right_after_the_event(database_url: str, crash_dir: Path, spawn: Spawn) -> None:
    target = "step-12"
    child = drive(spawn, crash_dir, database_url, CRASH_MODE="after-event", CRASH_TARGET=target)
    assert child.wait() == -9
    with lf.Engine(database_url, home=crash_dir) as engine:
        (summary,) = engine.runs()
        crash = crash_of(engine, summary.run_id)
        succeeded = [e.task_key for e in crash.events if e.type == "task.succeeded"]
        assert succeeded[-1] == target
        engine.resume(summary.run_id)
        check_recovered(engine, summary.run_id, crash, crash_dir)
    assert ran(crash_dir, target) == [1]


def test_killed_while_a_task_body_runs(database_url: str, crash_dir: Path, spawn: Spawn) -> None:
    target = "step-9"
    child = drive(spawn, crash_dir, database_url, CRASH_BLOCK_TASK=target)
    child.wait_for(lambda line: line == f"started {target} 1")
    assert child.kill() == -9
    run_id = next(line.split()[1] for line in child.lines if line.startswith("appended "))
    with lf.Engine(database_url, home=crash_dir) as engine:
        crash = crash_of(engine, run_id)
        assert crash.running == {target: 1}
        run = engine.resume(run_id)
        check_recovered(engine, run_id, crash, crash_dir)
        assert run.tasks[target].attempts == 2
        events = engine.events(run_id)
        orphaned = [e.payload for e in events if e.task_key == target and e.type == "task.running"]
        assert orphaned == [{"attempt": 1}, {"attempt": 2, "reason": "orphaned"}]
    assert ran(crash_dir, target) == [1, 2]


def test_killed_twice_the_attempts_number_on(database_url: str, crash_dir: Path, spawn: Spawn) -> None:
    target = "step-9"
    first = drive(spawn, crash_dir, database_url, CRASH_BLOCK_TASK=target)
    first.wait_for(lambda line: line == f"started {target} 1")
    assert first.kill() == -9
    run_id = next(line.split()[1] for line in first.lines if line.startswith("appended "))
    second = spawn(
        PYTHON, "resume.py", database_url, str(crash_dir), run_id,
        name="resumer", CRASH_BLOCK_TASK=target, CRASH_BLOCK_ATTEMPT="2",
    )  # fmt: skip
    second.wait_for(lambda line: line == f"started {target} 2")
    assert second.kill() == -9
    with lf.Engine(database_url, home=crash_dir) as engine:
        crash = crash_of(engine, run_id)
        assert crash.running == {target: 2}
        engine.resume(run_id)
        run = check_recovered(engine, run_id, crash, crash_dir, drivers=("start", "resume", "resume"))
        assert run.tasks[target].attempts == 3
    assert ran(crash_dir, target) == [1, 2, 3]


def test_killed_right_after_its_first_append_a_worker_recovers_it(
    database_url: str, crash_dir: Path, spawn: Spawn
) -> None:
    child = drive(spawn, crash_dir, database_url, CRASH_PAUSE="1", CRASH_LEASE_TTL="1")
    line = child.wait_for(lambda line: line.startswith("appended "))  # the run created with its start
    assert line.split()[3:6] == ["run.created:", "run.running:", "task.running:step"]
    assert child.kill() == -9  # before it submitted anything
    run_id = line.split()[1]
    with lf.Worker(database_url, home=crash_dir, lease_ttl=1.0) as worker:
        summary = worker.engine.storage.log.run(run_id)
        assert summary.state == "RUNNING" and summary.owner is not None  # leased from its first commit
        crash = crash_of(worker.engine, run_id)
        wait_until(lambda: worker.run_once() == [run_id], "a worker claimed it (its lease of 1 s expired)")
        check_recovered(worker.engine, run_id, crash, crash_dir)
