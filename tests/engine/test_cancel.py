"""Cancellation and the run-level timeout, on SQLite and PostgreSQL (threads and Dask)."""

import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cloudpickle
import distributed
import pytest

import ledgerflow as lf
from ledgerflow.engine.core.errors import InvalidEvent
from ledgerflow.engine.core.events import Event, NewEvent
from ledgerflow.engine.core.fold import fold
from ledgerflow.storage import RunNotFound

from .builders import LogBuilder, chain_graph

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # for the Dask workers

DEADLINE = 60.0  # seconds any wait of these tests may take before it fails
_started = threading.Event()


@pytest.fixture(autouse=True)
def _fresh_started() -> None:
    _started.clear()


@lf.task(tags=["cancel-db"])
def spin(x: int) -> int:
    """Runs until its run is cancelled (sees it at a checkpoint)."""
    _started.set()
    while True:
        lf.checkpoint()
        threading.Event().wait(0.005)


@lf.task
def polite(x: int) -> str:
    """Runs until its run is cancelled, then returns: it succeeds."""
    _started.set()
    while not lf.context().cancelled:
        threading.Event().wait(0.005)
    return "stopped politely"


@lf.task
def after(x: Any) -> Any:
    return x


@lf.flow
def spinning(n: int = 1) -> Any:
    return after(spin(n))


@lf.flow
def two_ways() -> Any:
    return after([spin(1), polite(2)])


@lf.flow(timeout=0.3)
def timed() -> Any:
    return after(spin(1))


@lf.task
def quick() -> int:
    return 1


@lf.flow
def quickly() -> Any:
    return after(quick())


@lf.task
def wait_for_release(directory: str, i: int) -> int:
    """On a Dask worker: mark the start, then run until the test lets it go."""
    (Path(directory) / f"started-{i}").touch()
    deadline = time.monotonic() + DEADLINE
    while not (Path(directory) / "release").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return i


@lf.flow
def on_dask(directory: str) -> Any:
    return after([wait_for_release(directory, i) for i in range(3)])


def eventually(condition: Callable[[], bool], what: str) -> None:
    """Wait (bounded) for a condition another thread or process makes true."""
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        threading.Event().wait(0.01)


@pytest.fixture
def engine(database_url: str, tmp_path: Path) -> Iterator[lf.Engine]:
    with lf.Engine(database_url, executor="threads", home=tmp_path) as opened:
        yield opened


@pytest.fixture
def other(database_url: str, tmp_path: Path) -> Iterator[lf.Engine]:
    """Another engine on the same database: the process that cancels."""
    with lf.Engine(database_url, executor="threads", home=tmp_path) as opened:
        yield opened


@pytest.fixture
def background() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(1) as pool:
        yield pool


def started_run(
    engine: lf.Engine, pool: ThreadPoolExecutor, flow: lf.Flow[..., Any]
) -> tuple[str, Future[lf.Run]]:
    driving = pool.submit(engine.run, flow)
    assert _started.wait(DEADLINE), "the task never started"
    return engine.runs()[0].run_id, driving


def types(events: list[Event]) -> list[tuple[str | None, str]]:
    return [(event.task_key, event.type) for event in events]


# -- the fold ------------------------------------------------------------------------


def _log(*run_events: str) -> LogBuilder:
    log = LogBuilder(chain_graph("a"))
    for type_ in run_events:
        log.add(None, type_, {"owner": "o"} if type_ == "run.running" else {})
    return log


@pytest.mark.parametrize("before", [(), ("run.running",), ("run.running", "run.crashed")])
def test_a_cancel_request_is_folded_without_changing_the_state(before: tuple[str, ...]) -> None:
    log = _log(*before)
    state = fold(log.events).state
    log.add(None, "run.cancel_requested", {"reason": "r", "requested_by": "me"})
    view = fold(log.events)
    assert view.state is state and view.cancel_request == {"reason": "r", "requested_by": "me"}


@pytest.mark.parametrize("ended", ["run.succeeded", "run.failed", "run.cancelled"])
def test_a_cancel_request_on_a_finished_run_is_rejected(ended: str) -> None:
    log = _log("run.running", ended)
    log.add(None, "run.cancel_requested", {"reason": "late"})
    with pytest.raises(InvalidEvent, match="only a run that has not finished"):
        fold(log.events)


def test_started_at_is_kept_across_resumes_and_renewed_by_a_restart() -> None:
    log = _log("run.running", "run.crashed", "run.running")
    first = log.events[1].ts
    log.add(None, "run.cancel_requested", {"reason": "r"})
    assert fold(log.events).started_at == first
    log.add(None, "run.cancelled", {})
    restarted = log.add(None, "run.running", {"owner": "o2"})
    view = fold(log.events)
    assert view.started_at == restarted.ts and view.cancel_request is None


def test_the_flow_timeout_is_recorded_and_checked() -> None:
    assert timed.timeout == 0.3 and spinning.timeout is None
    with pytest.raises(lf.FlowDefinitionError, match="timeout must be a positive number"):
        lf.flow(timeout=0)(lambda: None)


# -- cancelling a driven run -----------------------------------------------------------


def test_cancel_from_another_engine_stops_the_run(
    engine: lf.Engine, other: lf.Engine, background: ThreadPoolExecutor
) -> None:
    engine.set_limit("cancel-db", 1)
    run_id, driving = started_run(engine, background, spinning)
    report = other.cancel(run_id, reason="operator said so", wait=True)
    assert report.is_cancelled and not report.was_finished
    run = driving.result(timeout=DEADLINE)
    assert run.state == "CANCELLED"
    assert run.tasks["spin"].state == "CANCELLED" and run.tasks["after"].state == "CANCELLED"
    events = engine.events(run_id)
    assert types(events)[-4:] == [
        (None, "run.cancel_requested"),
        ("spin", "task.cancelled"),
        ("after", "task.cancelled"),
        (None, "run.cancelled"),
    ]
    requested = events[-4].payload
    assert requested["reason"] == "operator said so" and requested["requested_by"] == other.owner
    stopped = events[-3].payload  # at its checkpoint: no error, just the reason
    assert stopped["attempt"] == 1 and "error" not in stopped and stopped["reason"] == "operator said so"
    assert events[-1].payload == {"reason": "operator said so"}
    assert engine.limits()[0].in_use == 0  # its slot was given back
    assert engine.storage.cancel_requests.get(run_id) is None
    assert engine.verify(run_id).ok


def test_what_succeeded_while_cancelling_stays_succeeded(
    engine: lf.Engine, other: lf.Engine, background: ThreadPoolExecutor
) -> None:
    run_id, driving = started_run(engine, background, two_ways)
    other.cancel(run_id)  # no wait: the driver acts on the request
    run = driving.result(timeout=DEADLINE)
    assert run.state == "CANCELLED"
    assert run.tasks["polite"].state == "SUCCEEDED" and run.task_result("polite") == "stopped politely"
    assert run.tasks["spin"].state == "CANCELLED" and run.tasks["after"].state == "CANCELLED"


def test_a_run_longer_than_its_timeout_is_cancelled(engine: lf.Engine) -> None:
    run = engine.run(timed)
    assert run.state == "CANCELLED" and run.tasks["spin"].state == "CANCELLED"
    events = engine.events(run.id)
    (requested,) = [e for e in events if e.type == "run.cancel_requested"]
    assert requested.payload == {"reason": "timeout", "requested_by": engine.owner, "timeout": 0.3}
    started = next(e.ts for e in events if e.type == "run.running")
    assert requested.ts - started >= timedelta(seconds=0.3)
    assert events[-1].payload == {"reason": "timeout"}


def test_a_restart_after_a_cancel_runs_again(
    engine: lf.Engine, other: lf.Engine, background: ThreadPoolExecutor
) -> None:
    run_id, driving = started_run(engine, background, spinning)
    other.cancel(run_id, wait=True)
    assert driving.result(timeout=DEADLINE).state == "CANCELLED"
    _started.clear()
    restarting = background.submit(engine.restart, run_id)
    assert _started.wait(DEADLINE)  # not cancelled at once: the old request is settled
    assert other.cancel(run_id, reason="again", wait=True).is_cancelled
    assert restarting.result(timeout=DEADLINE).state == "CANCELLED"


# -- runs nobody drives, finished runs, races ------------------------------------------


def test_a_scheduled_run_is_cancelled_by_the_canceller(engine: lf.Engine) -> None:
    run_id = engine.submit(spinning)
    report = engine.cancel(run_id, reason="not needed")
    assert report.is_cancelled
    assert types(engine.events(run_id))[1:] == [
        (None, "run.cancel_requested"),
        ("spin", "task.cancelled"),
        ("after", "task.cancelled"),
        (None, "run.cancelled"),
    ]
    summary = engine.storage.log.run(run_id)
    assert summary.state == "CANCELLED" and summary.owner is None
    assert engine.storage.cancel_requests.get(run_id) is None


def test_a_crashed_run_is_cancelled_by_the_canceller(engine: lf.Engine) -> None:
    run_id = engine.submit(spinning)
    log = engine.storage.log
    log.take_over(run_id, "dead-driver", 5.0, now=datetime.now(UTC) - timedelta(minutes=1))
    log.append(run_id, 1, [
        NewEvent(None, "run.running", {"owner": "dead-driver"}),
        NewEvent("spin", "task.running", {"attempt": 1}),
    ], owner="dead-driver")  # fmt: skip
    assert engine.storage.log.run(run_id).state == "CRASHED"
    assert engine.cancel(run_id, wait=True).is_cancelled
    view = fold(engine.events(run_id))
    assert view.tasks["spin"].state == "CANCELLED" and view.tasks["spin"].attempts == 1


def test_a_resumed_run_finishes_a_cancel_its_dead_driver_began(engine: lf.Engine) -> None:
    run_id = engine.submit(spinning)
    log = engine.storage.log
    log.take_over(run_id, "dead-driver", 30.0)
    log.append(run_id, 1, [
        NewEvent(None, "run.running", {"owner": "dead-driver"}),
        NewEvent("spin", "task.running", {"attempt": 1}),
        NewEvent(None, "run.cancel_requested", {"reason": "halfway", "requested_by": "x"}),
    ], owner="dead-driver")  # fmt: skip
    run = engine.resume(run_id)
    assert run.state == "CANCELLED" and not _started.is_set()  # spin was not started again
    assert fold(engine.events(run_id)).tasks["spin"].state == "CANCELLED"
    assert [e.type for e in engine.events(run_id)].count("run.cancel_requested") == 1


def test_a_finished_run_stays_finished(engine: lf.Engine) -> None:
    run = engine.run(quickly)
    head = engine.storage.log.run(run.id).head_seq
    report = engine.cancel(run.id, wait=True)
    assert report.state == "SUCCEEDED" and report.was_finished and not report.is_cancelled
    assert engine.storage.log.run(run.id).head_seq == head
    assert engine.storage.cancel_requests.get(run.id) is None


def test_a_request_that_lost_the_race_does_not_cancel_a_restart(engine: lf.Engine) -> None:
    run = engine.run(quickly)
    engine.storage.cancel_requests.request(run.id, "late-canceller", "too late")  # came after the end
    engine.storage.log.append(run.id, engine.storage.log.run(run.id).head_seq, [
        NewEvent("quick", "task.pending", {"reason": "test"}),
        NewEvent("after", "task.pending", {"reason": "test"}),
    ])  # fmt: skip
    assert engine.restart(run.id).state == "SUCCEEDED"
    assert engine.storage.cancel_requests.get(run.id) is None


def test_cancelling_an_unknown_run_says_so(engine: lf.Engine) -> None:
    with pytest.raises(RunNotFound):
        engine.cancel("no-such-run")


def test_the_first_request_stands(engine: lf.Engine) -> None:
    requests = engine.storage.cancel_requests
    first = requests.request("r1", "alice", "first")
    assert requests.request("r1", "bob", "second") == first
    requests.discard("r1")
    assert requests.get("r1") is None


# -- Dask ------------------------------------------------------------------------------


def test_cancel_on_dask_cancels_the_futures(
    database_url: str, tmp_path: Path, dask_client: distributed.Client, other: lf.Engine,
    background: ThreadPoolExecutor,
) -> None:  # fmt: skip
    with lf.Engine(database_url, lf.DaskExecutor(client=dask_client), home=tmp_path) as engine:
        driving = background.submit(engine.run, on_dask, directory=str(tmp_path))
        try:
            eventually(lambda: len(list(tmp_path.glob("started-*"))) == 2, "two bodies to start")
            run_id = engine.runs()[0].run_id
            assert other.cancel(run_id, reason="enough", wait=True).is_cancelled
            run = driving.result(timeout=DEADLINE)
        finally:
            (tmp_path / "release").touch()  # let the bodies Dask cannot stop end
    assert run.state == "CANCELLED"
    assert {key: task.state for key, task in run.tasks.items()} == {
        "wait_for_release": "CANCELLED", "wait_for_release-1": "CANCELLED",
        "wait_for_release-2": "CANCELLED", "after": "CANCELLED",
    }  # fmt: skip
    assert len(list(tmp_path.glob("started-*"))) == 2  # the queued one never started
