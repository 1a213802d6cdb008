"""A worker never spins on a run it cannot resume: a repeatable failure records the run
CRASHED once, a transient one makes the worker skip the run for a growing wait, a refused
upstream result fails only the task that needs it; submitted runs are driven meanwhile.
With real ``lf.Worker``s on SQLite and PostgreSQL."""

import textwrap
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path

import pytest

import ledgerflow as lf
from ledgerflow.engine.core.errors import InvalidTransition
from ledgerflow.engine.core.events import NewEvent
from ledgerflow.engine.drive_failures import MAX_WAIT, RunBackoff, is_repeatable, wait_after
from ledgerflow.engine.errors import GraphChanged
from ledgerflow.engine.flow_ref import FlowNotFound, load_flow
from ledgerflow.engine.secret_restore import SecretMissing
from ledgerflow.executors import Invocation, Outcome, ThreadExecutor
from ledgerflow.storage import StorageError, StorageUnavailable
from ledgerflow.storage.serialization import RESULT_KEY_ENV

from ..crashing import CrashingExecutor

FLOWS = textwrap.dedent(
    """
    import ledgerflow as lf


    @lf.task
    def produce() -> set[int]:
        return {1, 2, 3}  # not JSON: stored as a signed pickle


    @lf.task
    def consume(values: set[int]) -> int:
        return len(values)


    @lf.task
    def other() -> int:
        return 7


    @lf.flow
    def pair():
        return consume(produce())


    @lf.flow
    def single():
        return other()
    """
)


class FailingExecutor(ThreadExecutor):
    """Raises ``error`` when asked to run ``task_key`` (while ``error`` is set)."""

    def __init__(self, task_key: str, error: Exception | None) -> None:
        super().__init__()
        self.task_key = task_key
        self.error = error

    def submit_many(self, invocations: Sequence[Invocation]) -> list[Future[Outcome]]:
        if self.error is not None and any(i.task_key == self.task_key for i in invocations):
            raise self.error
        return super().submit_many(invocations)


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def flows(tmp_path: Path) -> Path:
    path = tmp_path / "unresumable_flows.py"
    path.write_text(FLOWS)
    return path


def crashed_at_consume(database_url: str, home: Path, flows: Path) -> str:
    """A run of ``pair`` whose driver died as it was about to run ``consume``."""
    with lf.Engine(database_url, CrashingExecutor("consume"), home=home) as engine:
        with pytest.raises(SystemExit):
            engine.run(load_flow(f"{flows}:pair"))
        return engine.runs()[0].run_id


def resumes(engine: lf.Engine, run_id: str) -> int:
    """How many times a driver took the run over (each claim appends a run.running)."""
    return sum(e.type == "run.running" for e in engine.events(run_id)) - 1


def test_a_refused_upstream_result_fails_the_task_that_needs_it(
    database_url: str, tmp_path: Path, flows: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(RESULT_KEY_ENV, raising=False)
    run_id = crashed_at_consume(database_url, tmp_path / "first", flows)
    with lf.Engine(database_url, home=tmp_path / "first") as engine:
        submitted = engine.submit(load_flow(f"{flows}:single"))
    # Another home: another result key, so produce's pickle is refused on load.
    with lf.Worker(database_url, home=tmp_path / "other", lease_ttl=30) as worker:
        assert worker.run_once() == [run_id]
        assert worker.run_once() == [submitted]
        assert worker.run_once() == []
        run = worker.engine.get_run(run_id)
        assert run.state == "FAILED" and run.tasks["produce"].state == "SUCCEEDED"
        error = run.tasks["consume"].error
        assert error is not None and error["type"].endswith("ResultRefused")
        assert error["message"].startswith("task 'consume' could not receive its inputs: result ")
        assert "LEDGERFLOW_RESULT_KEY" in error["message"]
        assert resumes(worker.engine, run_id) == 1
        assert worker.engine.get_run(submitted).state == "SUCCEEDED"


def test_a_repeatable_failure_records_the_run_crashed_once(
    database_url: str, tmp_path: Path, flows: Path
) -> None:
    run_id = crashed_at_consume(database_url, tmp_path, flows)
    with lf.Engine(database_url, home=tmp_path) as engine:
        submitted = engine.submit(load_flow(f"{flows}:single"))
    refused = StorageError("database error: value too long for type character varying(128)")
    executor = FailingExecutor("consume", refused)
    with lf.Worker(database_url, executor, home=tmp_path, lease_ttl=30) as worker:
        assert worker.run_once() == [run_id]
        length = len(worker.engine.events(run_id))
        assert worker.run_once() == [submitted]
        for _ in range(3):
            assert worker.run_once() == []
        engine = worker.engine
        assert len(engine.events(run_id)) == length  # the log stopped growing
        assert resumes(engine, run_id) == 1  # claimed once
        last = engine.events(run_id)[-1]
        assert last.type == "run.crashed"
        assert last.payload["reason"] == f"cannot be resumed as it is: StorageError: {refused}"
        assert engine.get_run(run_id).state == "CRASHED"
        assert [summary.run_id for summary in engine.runs(states=["CRASHED"])] == [run_id]
        assert engine.storage.log.run(run_id).owner is None
        assert engine.get_run(submitted).state == "SUCCEEDED"

        executor.error = None  # a person fixed the cause and resumes the run
        assert engine.resume(run_id).state == "SUCCEEDED"


def test_a_log_that_does_not_fold_is_recorded_crashed_and_left(
    database_url: str, tmp_path: Path, flows: Path
) -> None:
    run_id = crashed_at_consume(database_url, tmp_path, flows)
    with lf.Engine(database_url, home=tmp_path) as engine:
        head = engine.storage.log.run(run_id).head_seq
        bogus = NewEvent("other", "task.succeeded", {"attempt": 1, "result": {"inline": 1}})
        engine.storage.log.append(run_id, head, [bogus])  # "other" is no task of this run
    with lf.Worker(database_url, home=tmp_path, lease_ttl=30) as worker:
        assert worker.run_once() == [run_id]
        assert worker.run_once() == []
        events = worker.engine.storage.log.read(run_id)
        assert [e.type for e in events[-2:]] == ["task.succeeded", "run.crashed"]
        assert events[-1].payload["reason"].startswith("cannot be resumed as it is: Invalid")


def test_a_submitted_run_whose_flow_does_not_load_is_skipped_not_spun_on(
    database_url: str, tmp_path: Path, flows: Path
) -> None:
    gone = tmp_path / "gone_flows.py"
    gone.write_text(FLOWS)
    with lf.Engine(database_url, home=tmp_path) as engine:
        broken = engine.submit(load_flow(f"{gone}:single"))
        submitted = engine.submit(load_flow(f"{flows}:single"))
    gone.unlink()
    with lf.Worker(database_url, home=tmp_path, lease_ttl=30) as worker:
        assert worker.run_once() == [broken]
        worker.engine.storage.log.release(broken, worker.engine.owner)  # as if the claim lapsed
        assert worker.run_once() == [submitted]
        assert worker.run_once() == []
        assert worker.engine.get_run(broken).state == "SCHEDULED"  # it never started
        assert [e.type for e in worker.engine.events(broken)] == ["run.created"]
        assert worker.engine.get_run(submitted).state == "SUCCEEDED"


def test_a_transient_failure_backs_off_and_other_runs_are_driven(
    database_url: str, tmp_path: Path, flows: Path
) -> None:
    run_id = crashed_at_consume(database_url, tmp_path, flows)
    with lf.Engine(database_url, home=tmp_path) as engine:
        first = engine.submit(load_flow(f"{flows}:single"))
        second = engine.submit(load_flow(f"{flows}:single"))
    executor = FailingExecutor("consume", StorageUnavailable("cannot reach the database"))
    clock = Clock()
    with lf.Worker(database_url, executor, home=tmp_path, lease_ttl=30) as worker:
        worker.backoff = RunBackoff(clock)
        assert worker.run_once() == [run_id]  # fails: skipped for 1 s
        assert worker.run_once() == [first]  # never the same run twice in a row
        assert worker.run_once() == [second]
        assert worker.run_once() == []
        clock.now += wait_after(1)
        assert worker.run_once() == [run_id]  # fails again: skipped for 2 s
        clock.now += wait_after(1)
        assert worker.run_once() == []
        assert resumes(worker.engine, run_id) == 2
        assert worker.engine.get_run(run_id).state == "CRASHED"  # nobody drives it: shown so

        executor.error = None
        clock.now += wait_after(2)
        assert worker.run_once() == [run_id]
        assert worker.engine.get_run(run_id).state == "SUCCEEDED"
        assert worker.backoff.waiting() == []
        assert {worker.engine.get_run(r).state for r in (first, second)} == {"SUCCEEDED"}


def test_which_failures_are_repeatable() -> None:
    assert is_repeatable(StorageError("database error: value too long"))
    assert is_repeatable(FlowNotFound("cannot import module 'gone'"))
    assert is_repeatable(InvalidTransition("r", 3, "t", "PENDING", "SUCCEEDED"))
    assert is_repeatable(ValueError("a bug"))
    assert not is_repeatable(StorageUnavailable("cannot reach the database"))
    assert not is_repeatable(SecretMissing.__new__(SecretMissing))
    assert issubclass(GraphChanged, Exception) and is_repeatable(GraphChanged.__new__(GraphChanged))


def test_the_wait_doubles_up_to_a_cap() -> None:
    assert [wait_after(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert wait_after(100) == MAX_WAIT
    clock = Clock()
    backoff = RunBackoff(clock)
    assert backoff.failed("r") == 1.0 and backoff.waiting() == ["r"]
    clock.now = 1.0
    assert backoff.waiting() == []
    assert backoff.failed("r") == 2.0
    backoff.forget("r")
    assert backoff.waiting() == [] and backoff.failed("r") == 1.0
