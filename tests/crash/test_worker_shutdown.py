"""`ledgerflow worker` processes stopped while they drive 20 runs: SIGTERM lets the runs at
hand finish for --grace seconds and hands the others back (recorded, leases given up), and a
second worker resumes those at once; a second SIGTERM hands back at once; after a SIGKILL,
a second worker resumes every run once the dead one's leases expire. Either way no
completed task runs again and no run is driven by two workers at once."""

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from textwrap import dedent

import ledgerflow as lf
from ledgerflow.engine.flow_ref import load_flow
from ledgerflow.engine.worker import HAND_BACK_REASON

from .checks import check_log
from .processes import LEDGERFLOW_CLI, Child, Spawn, wait_until

RUNS = 20
HELD = dedent(
    """
    import os
    import time
    from pathlib import Path

    import ledgerflow as lf

    HERE = Path(__file__).resolve().parent
    RELEASE = HERE / "release"  # held bodies return once the test creates it


    def record() -> None:
        ctx = lf.context()
        with (HERE / "bodies.txt").open("a") as out:
            out.write(f"{ctx.run_id} {ctx.task_key} {ctx.attempt}\\n")
            out.flush()
            os.fsync(out.fileno())


    @lf.task
    def prepare(i: int) -> int:
        record()
        return i


    @lf.task
    def hold(i: int, is_held: bool) -> int:
        record()
        while is_held and not RELEASE.exists():
            time.sleep(0.02)  # the work: it takes until the test lets it go
        return i * 10


    @lf.task
    def finish(value: int) -> int:
        record()
        return value + 1


    @lf.flow
    def held(i: int, is_held: bool = True) -> int:
        return finish(hold(prepare(i), is_held))
    """
)


def start_worker(
    spawn: Spawn, crash_dir: Path, database_url: str, name: str, *, lease_ttl: float, grace: float = 30.0
) -> Child:
    """A `ledgerflow worker` driving up to RUNS runs at once, polling often."""
    return spawn(
        LEDGERFLOW_CLI, "worker", "--database", database_url, "--max-runs", str(RUNS), "--poll", "0.1",
        "--lease-ttl", str(lease_ttl), "--grace", str(grace), "--no-schedules", "--name", name,
        name=name, LEDGERFLOW_HOME=str(crash_dir),
    )  # fmt: skip


@contextmanager
def submitted(crash_dir: Path, database_url: str, held: list[bool]) -> Iterator[tuple[lf.Engine, list[str]]]:
    """An engine on the database and the ids of runs submitted of ``held`` (one run per flag)."""
    (crash_dir / "held.py").write_text(HELD)
    flow = load_flow(f"{crash_dir / 'held.py'}:held")
    with lf.Engine(database_url, home=crash_dir) as engine:
        yield engine, [engine.submit(flow, i=i, is_held=is_held) for i, is_held in enumerate(held)]


def is_holding(engine: lf.Engine, run_id: str) -> bool:
    """The run's held task is running (its body started)."""
    return engine.get_run(run_id).tasks["hold"].state == "RUNNING"


def run_running(engine: lf.Engine, run_id: str) -> list[tuple[str, datetime]]:
    """(owner, ts) of each run.running of the run: who drove it, from when."""
    return [(e.payload["owner"], e.ts) for e in engine.events(run_id) if e.type == "run.running"]


def bodies(crash_dir: Path) -> Counter[tuple[str, str, int]]:
    """How often each (run id, task key, attempt) body ran."""
    lines = (crash_dir / "bodies.txt").read_text().splitlines()
    return Counter((run_id, key, int(attempt)) for run_id, key, attempt in (line.split() for line in lines))


def check_completed_once(engine: lf.Engine, run_id: str, i: int) -> None:
    """The run succeeded with its result, and each of its tasks completed once."""
    run = engine.get_run(run_id)
    assert run.state == "SUCCEEDED" and run.result() == i * 10 + 1
    events = check_log(engine, run_id)
    assert Counter(e.task_key for e in events if e.type == "task.succeeded") == dict.fromkeys(
        ("prepare", "hold", "finish"), 1
    )


def test_sigterm_lets_runs_finish_then_hands_the_rest_to_another_worker_at_once(
    database_url: str, crash_dir: Path, spawn: Spawn
) -> None:
    held = [i % 2 == 1 for i in range(RUNS)]
    with submitted(crash_dir, database_url, held) as (engine, run_ids):
        first = start_worker(spawn, crash_dir, database_url, "first", lease_ttl=60, grace=1)
        ended = [r for r, is_held in zip(run_ids, held, strict=True) if not is_held]
        handed = [r for r, is_held in zip(run_ids, held, strict=True) if is_held]
        wait_until(lambda: all(engine.get_run(r).state == "SUCCEEDED" for r in ended), "the free runs ended")
        wait_until(lambda: all(is_holding(engine, r) for r in handed), "the held runs hold")
        second = start_worker(spawn, crash_dir, database_url, "second", lease_ttl=60)
        wait_until(lambda: "second" in {w.name for w in engine.storage.workers.workers()}, "second polls")
        first.signal(15)
        ((owner, _),) = run_running(engine, handed[0])[:1]
        wait_until(
            lambda: all(len(run_running(engine, r)) == 2 for r in handed), "the second worker resumed them"
        )
        (crash_dir / "release").touch()
        wait_until(lambda: all(engine.get_run(r).state == "SUCCEEDED" for r in handed), "the runs ended")
        assert first.wait() == 0, first.describe()
        for run_id in ended:
            assert [who for who, _ in run_running(engine, run_id)] == [owner]
            assert "run.handed_back" not in {e.type for e in engine.events(run_id)}
        for run_id in handed:
            events = engine.events(run_id)
            (back,) = [e for e in events if e.type == "run.handed_back"]
            assert back.payload == {"reason": HAND_BACK_REASON, "owner": owner}
            (first_drive, took), (second_drive, resumed) = run_running(engine, run_id)
            assert first_drive == owner != second_drive
            assert took < back.ts <= resumed < back.ts + timedelta(seconds=20)  # not after its lease
            assert events[back.seq].type == "run.running"  # the next event: the second drive
        for i, run_id in enumerate(run_ids):
            check_completed_once(engine, run_id, i)
        ran = bodies(crash_dir)
        assert all(ran[(r, "prepare", 1)] == 1 and ran[(r, "finish", 1)] == 1 for r in run_ids)
        assert all(ran[(r, "hold", 2)] == 1 for r in handed)  # the attempt in flight, run again
        second.signal(15)
        assert second.wait() == 0, second.describe()
    assert "handed run" in first.stderr() and "stopped" in first.stderr()


def test_a_second_sigterm_hands_the_runs_back_at_once(
    database_url: str, crash_dir: Path, spawn: Spawn
) -> None:
    with submitted(crash_dir, database_url, [True] * 4) as (engine, run_ids):
        worker = start_worker(spawn, crash_dir, database_url, "patient", lease_ttl=60, grace=600)
        wait_until(lambda: all(is_holding(engine, r) for r in run_ids), "the runs hold")
        worker.signal(15)
        wait_until(lambda: "claims no more runs" in worker.stderr(), "the first signal was taken")
        worker.signal(15)
        wait_until(lambda: all(engine.storage.log.run(r).owner is None for r in run_ids), "leases given up")
        for run_id in run_ids:
            assert engine.events(run_id)[-1].type == "run.handed_back"
            assert engine.storage.log.run(run_id).state == "RUNNING"
        (crash_dir / "release").touch()  # the abandoned bodies end; the worker exits
        assert worker.wait() == 0, worker.describe()


def test_sigkill_of_a_worker_driving_twenty_runs_resumes_all_after_their_leases_expire(
    database_url: str, crash_dir: Path, spawn: Spawn
) -> None:
    with submitted(crash_dir, database_url, [True] * RUNS) as (engine, run_ids):
        first = start_worker(spawn, crash_dir, database_url, "doomed", lease_ttl=3)
        wait_until(lambda: all(is_holding(engine, r) for r in run_ids), "all runs hold")
        first.kill()
        expiries = {r: engine.storage.log.run(r).lease_expires_at for r in run_ids}
        ((dead, _),) = run_running(engine, run_ids[0])
        (crash_dir / "release").touch()
        second = start_worker(spawn, crash_dir, database_url, "heir", lease_ttl=60)
        wait_until(lambda: all(engine.get_run(r).state == "SUCCEEDED" for r in run_ids), "all runs ended")
        for i, run_id in enumerate(run_ids):
            check_completed_once(engine, run_id, i)
            (first_drive, _), (heir, resumed) = run_running(engine, run_id)
            expiry = expiries[run_id]
            assert first_drive == dead != heir
            assert expiry is not None and resumed >= expiry  # never two drivers at once
        ran = bodies(crash_dir)
        assert all(ran[(r, "prepare", 1)] == 1 and ran[(r, "prepare", 2)] == 0 for r in run_ids)
        assert all(ran[(r, "hold", 2)] == 1 and ran[(r, "finish", 1)] == 1 for r in run_ids)
        second.signal(15)
        assert second.wait() == 0, second.describe()
