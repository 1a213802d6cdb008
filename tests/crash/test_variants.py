"""Crashes in the middle of a dynamic map, and while a task waits for its retry."""

from datetime import datetime
from pathlib import Path

import pytest

import ledgerflow as lf

from .checks import check_recovered, crash_of, ran
from .processes import Spawn, drive, kill_after_kth_success
from .scripts import FAN_WIDTH, expected_result


@pytest.mark.parametrize("k", [1, 5, 10])
def test_killed_in_the_middle_of_a_dynamic_map(
    database_url: str, crash_dir: Path, spawn: Spawn, k: int
) -> None:
    child = drive(spawn, crash_dir, database_url, "variants.py:fan", CRASH_PAUSE="1")
    run_id = kill_after_kth_success(child, k, is_paused=True)  # k = 1: only produce succeeded
    keys = ["produce", *(f"square[{i}]" for i in range(FAN_WIDTH)), "add"]
    with lf.Engine(database_url, home=crash_dir) as engine:
        crash = crash_of(engine, run_id)
        engine.resume(run_id)
        expected = expected_result(FAN_WIDTH)
        run = check_recovered(engine, run_id, crash, crash_dir, keys=keys, expected=expected)
        assert run.tasks["square"].state == "MAPPED"
        assert run.task_result("square") == [i * i for i in range(FAN_WIDTH)]
        assert [e.type for e in engine.events(run_id)].count("task.mapped") == 1  # expanded once


def test_killed_while_a_task_waits_for_its_retry(
    database_url: str, crash_dir: Path, spawn: Spawn
) -> None:
    child = drive(spawn, crash_dir, database_url, "variants.py:retried", CRASH_PAUSE="1")
    line = child.wait_for(lambda line: "task.retrying:flaky" in line.split(), reply=True)
    assert child.kill() == -9
    run_id = line.split()[1]
    keys = ["step", "step-1", "step-2", "step-3", "flaky", "total"]
    with lf.Engine(database_url, home=crash_dir) as engine:
        crash = crash_of(engine, run_id)
        assert crash.retrying == {"flaky": 1}
        engine.resume(run_id)
        check_recovered(engine, run_id, crash, crash_dir, keys=keys, expected=expected_result(4))
        events = engine.events(run_id)
        (retrying,) = [e for e in events if e.type == "task.retrying"]
        (again,) = [e for e in events if e.type == "task.running" and e.payload["attempt"] == 2]
        assert again.task_key == "flaky"
        assert again.ts >= datetime.fromisoformat(retrying.payload["retry_at"])  # waited its time
    assert ran(crash_dir, "flaky") == [1, 2]
