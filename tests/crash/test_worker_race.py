"""Two worker processes race to recover the same crashed run: exactly one drives it."""

from pathlib import Path

import ledgerflow as lf

from .checks import check_recovered, crash_of
from .processes import PYTHON, Spawn, drive, kill_after_kth_success, wait_until

WORKER_LEASE_TTL = "5"  # the winner's lease: long enough never to lapse while it drives


def test_two_workers_racing_for_a_crashed_run_drive_it_once(
    database_url: str, crash_dir: Path, spawn: Spawn
) -> None:
    driver = drive(spawn, crash_dir, database_url, CRASH_PAUSE="1", CRASH_LEASE_TTL="1")
    run_id = kill_after_kth_success(driver, 6, is_paused=True)
    workers = [
        spawn(PYTHON, "work.py", database_url, str(crash_dir), run_id, WORKER_LEASE_TTL, name=f"worker{i}")
        for i in (1, 2)
    ]
    owners = [worker.wait_for(lambda line: line.startswith("ready ")).split()[1] for worker in workers]
    with lf.Engine(database_url, home=crash_dir) as engine:
        crash = crash_of(engine, run_id)
        wait_until(lambda: engine.storage.log.run(run_id).state == "CRASHED", "the driver's lease expired")
        for worker in workers:
            worker.send("go")
        for worker in workers:
            worker.wait_for(lambda line: line.startswith("done "))
            assert worker.wait() == 0, worker.describe()
        lines = [line for worker in workers for line in worker.lines]
        claims = [line.split()[1:] for line in lines if line.startswith("claimed ")]
        assert len(claims) == 1, f"claims: {claims}"
        ((winner, claimed),) = claims
        assert claimed == run_id and winner in owners
        check_recovered(engine, run_id, crash, crash_dir)
        running = [e.payload for e in engine.events(run_id) if e.type == "run.running"]
        assert [(p["reason"], p["owner"]) for p in running][1:] == [("resume", winner)]
        assert running[0]["owner"] not in owners  # the dead driver
        summary = engine.storage.log.run(run_id)
        assert summary.state == "SUCCEEDED" and summary.owner is None  # the winner let go
