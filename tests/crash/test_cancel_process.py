"""Cancelling a run that another process drives, on threads and on a Dask LocalCluster
with worker processes (SQLite and PostgreSQL)."""

from pathlib import Path
from textwrap import dedent

import pytest

import ledgerflow as lf

from .processes import PYTHON, Spawn, wait_until

CHILD = dedent(
    """
    import sys
    import time
    from pathlib import Path

    import ledgerflow as lf

    HERE = Path(__file__).resolve().parent


    @lf.task
    def spin(i: int) -> int:
        (HERE / f"started-{i}").touch()
        deadline = time.monotonic() + 60
        while not (HERE / "release").exists() and time.monotonic() < deadline:
            lf.checkpoint()  # threads: ends the attempt once the run is cancelled
            time.sleep(0.01)
        return i


    @lf.task
    def total(values: list[int]) -> int:
        return sum(values)


    @lf.flow
    def spinning(n: int = 3):
        return total([spin(i) for i in range(n)])


    def announce(events) -> None:
        if events[0].seq == 1:
            print("created", events[0].run_id, flush=True)


    if __name__ == "__main__":
        url, kind = sys.argv[1], sys.argv[2]
        if kind == "dask":
            executor = lf.DaskExecutor(n_workers=1, threads_per_worker=2, dashboard_address=":0")
        else:
            executor = lf.ThreadExecutor(max_workers=4)
        with executor, lf.Engine(url, executor, home=HERE) as engine:
            run = engine.run_flow(spinning, {"n": 3}, on_events=announce)
        print("ended", run.state, flush=True)
    """
)


@pytest.mark.parametrize(("kind", "running"), [("threads", 3), ("dask", 2)])
def test_cancel_a_run_another_process_drives(
    database_url: str, crash_dir: Path, spawn: Spawn, kind: str, running: int
) -> None:
    (crash_dir / "cancel_child.py").write_text(CHILD)
    child = spawn(PYTHON, "cancel_child.py", database_url, kind, name=f"cancel-{kind}")
    try:
        run_id = child.wait_for(lambda line: line.startswith("created ")).split()[1]
        wait_until(lambda: len(list(crash_dir.glob("started-*"))) == running, "the tasks started")
        with lf.Engine(database_url, home=crash_dir) as engine:
            report = engine.cancel(run_id, reason="from the test", wait=True)
            events = engine.events(run_id)
        assert report.is_cancelled and not report.was_finished
        assert child.wait_for(lambda line: line.startswith("ended ")) == "ended CANCELLED"
    finally:
        (crash_dir / "release").touch()  # Dask cannot stop a running body: let it end
    assert child.wait() == 0, child.describe()
    cancelled = {e.task_key for e in events if e.type == "task.cancelled"}
    assert cancelled == {"spin", "spin-1", "spin-2", "total"}
    (requested,) = [e for e in events if e.type == "run.cancel_requested"]
    assert requested.payload["reason"] == "from the test"
    assert events[-1].type == "run.cancelled"
    # Only what was running started: on Dask the queued one was cancelled before it began.
    assert len(list(crash_dir.glob("started-*"))) == running
