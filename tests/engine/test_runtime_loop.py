"""One runtime loop drives many runs at once on one executor (SQLite and PostgreSQL)."""

import threading
from pathlib import Path

import ledgerflow as lf
from ledgerflow.engine.core.fold import fold
from ledgerflow.engine.runtime import RunPorts, RunToDrive, drive_runs

SIGNALS: dict[str, threading.Event] = {}
WAIT_SECONDS = 30.0  # only reached if the runs were driven one after the other


@lf.task
def signal(me: str) -> str:
    SIGNALS[me].set()
    return me


@lf.task
def wait_for(other: str, _after: str) -> bool:
    return SIGNALS[other].wait(WAIT_SECONDS)


@lf.task
def report(seen: bool) -> str:
    return "met" if seen else "alone"


@lf.flow
def handshake(me: str, other: str) -> str:
    return report(wait_for(other, signal(me)))


def test_one_loop_drives_two_runs_that_need_each_other(database_url: str, tmp_path: Path) -> None:
    SIGNALS.update(a=threading.Event(), b=threading.Event())
    with lf.Engine(database_url, lf.ThreadExecutor(max_workers=4), home=tmp_path) as engine:
        params = [{"me": "a", "other": "b"}, {"me": "b", "other": "a"}]
        run_ids = [engine.submit_flow(handshake, p) for p in params]
        for run_id in run_ids:
            engine.storage.log.take_over(run_id, engine.owner, 60.0)
        runs = [
            RunToDrive(handshake.trace(p), engine.events(run_id), reason="worker")
            for run_id, p in zip(run_ids, params, strict=True)
        ]
        ports = RunPorts(engine.storage.log, engine.storage.results, engine.executor, engine.owner)
        views = drive_runs(runs, ports)
        assert [view.state for view in views] == ["SUCCEEDED", "SUCCEEDED"]
        assert [engine.get_run(run_id).result() for run_id in run_ids] == ["met", "met"]
        for run_id, view in zip(run_ids, views, strict=True):
            assert fold(engine.events(run_id)) == view  # each machine's state is its log's fold
