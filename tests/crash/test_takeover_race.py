"""A stale driver that appends between a take-over and the new driver's first append.

The stale driver's heartbeat is stuck (so it has not noticed that its lease expired and
was taken); its blocked task body is let go exactly after the take-over (a hook on the
taking side's storage, in this process) and it records the task before the new driver's
first append. DESIGN: a driver whose lease was taken over stands down at its next append,
and workers recover crashed runs by themselves. (Before appends were fenced by the lease
owner, the old driver's append won, resume failed with AppendConflict, and a worker that
lost the race recorded run.crashed, a state no worker claims again.)
"""

import signal
import time
from pathlib import Path
from typing import Any

import pytest

import ledgerflow as lf

from .checks import check_log
from .processes import DEADLINE_SECONDS, Child, Spawn, drive, wait_until
from .scripts import expected_result

TARGET = "step-7"


def stale_driver(spawn: Spawn, crash_dir: Path, database_url: str) -> tuple[Child, str]:
    """A driver blocked in TARGET's body with its heartbeat stuck, paused after each append."""
    stale = drive(
        spawn, crash_dir, database_url,
        CRASH_BLOCK_TASK=TARGET, CRASH_LEASE_TTL="1", CRASH_STALL_HEARTBEATS="1", CRASH_PAUSE="1",
    )  # fmt: skip
    stale.wait_for(lambda line: line == f"started {TARGET} 1", reply=True)
    run_id = next(line.split()[1] for line in stale.lines if line.startswith("appended "))
    return stale, run_id


def let_it_record_its_task(stale: Child, crash_dir: Path) -> bool:
    """Let the stale driver's body return; True if it then appended the task's success
    (it is paused right after that append), False if its append was refused."""
    (crash_dir / "release").touch()
    line = stale.wait_for(
        lambda line: line.startswith("refused ") or f"task.succeeded:{TARGET}" in line.split()
    )
    return not line.startswith("refused ")


def stand_down(stale: Child, crash_dir: Path) -> None:
    """Unstick its heartbeat and let it go on: it must stop driving (or be stopped)."""
    (crash_dir / "heartbeats-back").touch()
    stale.send("")
    deadline = time.monotonic() + DEADLINE_SECONDS
    while stale.next_line(deadline) is not None:  # it pauses after each append: let it go on
        stale.send("")
    if stale.wait() not in (1, -signal.SIGKILL):
        raise AssertionError(stale.describe())


def test_resume_takes_over_although_the_old_driver_appends_right_after_the_takeover(
    database_url: str, crash_dir: Path, spawn: Spawn, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale, run_id = stale_driver(spawn, crash_dir, database_url)
    with lf.Engine(database_url, home=crash_dir) as engine:
        wait_until(lambda: engine.runs()[0].state == "CRASHED", "the stale driver's lease expired")
        take_over = engine.storage.log.take_over
        appended_after_takeover: list[bool] = []

        def take_over_then_let_the_old_driver_go_on(*args: Any, **kwargs: Any) -> None:
            take_over(*args, **kwargs)
            appended_after_takeover.append(let_it_record_its_task(stale, crash_dir))

        monkeypatch.setattr(engine.storage.log, "take_over", take_over_then_let_the_old_driver_go_on)
        try:
            run: lf.Run | lf.LedgerflowError = engine.resume(run_id)
        except lf.LedgerflowError as exc:
            run = exc
        finally:
            monkeypatch.undo()
            stand_down(stale, crash_dir)
        assert appended_after_takeover == [False], (
            f"the old driver appended after its lease was taken over; resume got: {run!r}"
        )
        assert isinstance(run, lf.Run)
        assert run.state == "SUCCEEDED" and run.result() == expected_result()
        check_log(engine, run_id)


def test_a_stale_driver_appending_during_a_worker_takeover_leaves_the_run_recoverable(
    database_url: str, crash_dir: Path, spawn: Spawn, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale, run_id = stale_driver(spawn, crash_dir, database_url)
    with lf.Worker(database_url, home=crash_dir, lease_ttl=5.0) as worker:
        log = worker.engine.storage.log
        wait_until(lambda: log.run(run_id).state == "CRASHED", "the stale driver's lease expired")
        read_many = log.read_many
        appended_after_read: list[bool] = []

        def read_then_let_the_old_driver_go_on(*args: Any, **kwargs: Any) -> dict[str, list[lf.Event]]:
            logs = read_many(*args, **kwargs)  # the worker has claimed the run and reads its log
            if not appended_after_read:
                appended_after_read.append(let_it_record_its_task(stale, crash_dir))
            return logs

        monkeypatch.setattr(log, "read_many", read_then_let_the_old_driver_go_on)
        try:
            assert worker.run_once() == [run_id]
        finally:
            monkeypatch.undo()
            stand_down(stale, crash_dir)
        # Either the old driver got its append in before the worker's first one (and the
        # worker lost the race), or its append was refused (fenced by the lease): both fine.
        assert len(appended_after_read) == 1
        events = check_log(worker.engine, run_id)
        crashed = [e.payload for e in events if e.type == "run.crashed"]
        assert crashed == [], f"the worker lost a race and recorded the run as crashed: {crashed}"
        # Nobody drives it now: it is CRASHED by lease, and a worker recovers it.
        wait_until(lambda: run_id in worker.run_once() or worker.engine.get_run(run_id).state.is_terminal,
                   "a worker recovered the run")  # fmt: skip
        run = worker.engine.get_run(run_id)
        assert run.state == "SUCCEEDED" and run.result() == expected_result()
        check_log(worker.engine, run_id)
