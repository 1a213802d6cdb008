"""A driver stopped (SIGSTOP) past its lease is taken over; continued, it stands down."""

import signal
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

import ledgerflow as lf

from .checks import check_log, ran
from .processes import Child, Spawn, drive, wait_until
from .scripts import expected_result


def is_run_locked(database_url: str, run_id: str) -> bool:
    """True if a transaction holds the run's row (or, on SQLite, the write lock)."""
    if database_url.startswith("sqlite:///"):
        connection = sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=0, isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:
            return True
        finally:
            connection.close()
    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text("SELECT 1 FROM runs WHERE run_id = :run_id FOR UPDATE NOWAIT"), {"run_id": run_id}
            )
        return False
    except sa_exc.OperationalError:
        return True
    finally:
        engine.dispose()


def stop_between_transactions(child: Child, database_url: str, run_id: str) -> None:
    """SIGSTOP the child at a moment it holds no lock (not mid-heartbeat), so it cannot
    block whoever takes the run over."""

    def is_stopped_unlocked() -> bool:
        child.signal(signal.SIGSTOP)
        if not is_run_locked(database_url, run_id):
            return True
        child.signal(signal.SIGCONT)
        return False

    wait_until(is_stopped_unlocked, "the stopped driver holds no lock")


@pytest.mark.parametrize("is_continued_mid_run", [False, True], ids=["after-takeover", "during-takeover"])
def test_a_stale_driver_stands_down_after_another_took_its_run_over(
    database_url: str, crash_dir: Path, spawn: Spawn, is_continued_mid_run: bool
) -> None:
    target = "step-7"  # a big result: the stale driver stores it before it tries to append
    stale = drive(spawn, crash_dir, database_url, CRASH_BLOCK_TASK=target, CRASH_LEASE_TTL="1")
    stale.wait_for(lambda line: line == f"started {target} 1")
    run_id = next(line.split()[1] for line in stale.lines if line.startswith("appended "))
    stop_between_transactions(stale, database_url, run_id)

    def go_on(events: Sequence[lf.Event]) -> None:
        """Let the stale driver go on: its blocked body returns and it tries to record it."""
        if not (crash_dir / "release").exists():
            (crash_dir / "release").touch()
            stale.signal(signal.SIGCONT)

    with lf.Engine(database_url, home=crash_dir) as engine:
        wait_until(lambda: engine.runs()[0].state == "CRASHED", "the stopped driver's lease expired")
        # Mid-run: continued as soon as the new driver has appended its run.running.
        run = engine.resume(run_id, on_events=go_on if is_continued_mid_run else None)
        assert run.state == "SUCCEEDED" and run.result() == expected_result()
        finished = [(e.seq, e.hash) for e in engine.events(run_id)]
        go_on([])
        assert stale.wait() == 1, stale.describe()
        assert any(word in stale.stderr() for word in ("LeaseLost", "AppendConflict")), stale.describe()
        assert [(e.seq, e.hash) for e in engine.events(run_id)] == finished  # it appended nothing
        events = check_log(engine, run_id)
        running = [e.payload for e in events if e.type == "run.running"]
        assert [p["reason"] for p in running] == ["start", "resume"]
        assert running[1]["owner"] == engine.owner
        assert engine.storage.log.run(run_id).owner is None
        succeeded = {e.task_key: e.payload["attempt"] for e in events if e.type == "task.succeeded"}
        assert succeeded[target] == 2
    assert sorted(ran(crash_dir, target)) == [1, 2]  # the stale body ran to its end too: at least once
