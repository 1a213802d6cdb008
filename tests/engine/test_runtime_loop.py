"""One runtime loop drives many runs at once on one executor (SQLite and PostgreSQL)."""

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

import ledgerflow as lf
from ledgerflow.engine.core.fold import fold
from ledgerflow.engine.runtime import RunPorts, RunToDrive, drive_runs
from ledgerflow.storage import AppendConflict

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


THIEVES: dict[str, Callable[[], None]] = {}  # by run key: takes that run over while its body runs


@lf.task
def step_of(me: str) -> bool:
    if me in THIEVES:
        THIEVES[me]()
    return True


@lf.flow
def two_steps(me: str) -> str:
    return report(step_of(me))


def test_a_run_fenced_off_in_a_group_commit_fails_alone(database_url: str, tmp_path: Path) -> None:
    with lf.Engine(database_url, lf.ThreadExecutor(max_workers=4), home=tmp_path) as engine:
        params = [{"me": "taken"}, {"me": "kept"}]
        run_ids = [engine.submit_flow(two_steps, p) for p in params]
        for run_id in run_ids:
            engine.storage.log.take_over(run_id, engine.owner, 60.0)
        THIEVES["taken"] = lambda: engine.storage.log.take_over(run_ids[0], "another driver", 60.0)
        runs = [
            RunToDrive(two_steps.trace(p), engine.events(run_id), reason="worker")
            for run_id, p in zip(run_ids, params, strict=True)
        ]
        ports = RunPorts(engine.storage.log, engine.storage.results, engine.executor, engine.owner)
        with pytest.raises(AppendConflict, match="no longer holds"):
            drive_runs(runs, ports)
        taken, kept = (engine.get_run(run_id) for run_id in run_ids)
        assert kept.state == "SUCCEEDED" and kept.result() == "met"
        assert taken.state == "RUNNING" and taken.tasks["step_of"].state == "RUNNING"  # nothing after
        assert all(engine.verify(run_id).ok for run_id in run_ids)
