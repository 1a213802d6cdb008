"""Resume a run whose driver died, and restart a failed one, without redoing finished work."""

import textwrap
from pathlib import Path

import pytest

import ledgerflow as lf
from ledgerflow.engine.errors import GraphChanged, RunNotFinished, UnknownTask
from ledgerflow.engine.flow_ref import load_flow
from ledgerflow.executors import Executor

from ..crashing import CrashingExecutor

FLOW_SOURCE = textwrap.dedent(
    """
    import os
    from pathlib import Path
    import ledgerflow as lf

    LEDGER = Path(os.environ["COUNT_FILE"])

    @lf.task
    def step(x: int, name: str) -> int:
        with LEDGER.open("a") as out:
            out.write(name + "\\n")
        if Path(str(LEDGER) + ".fail-" + name).exists():
            raise RuntimeError("asked to fail " + name)
        return x + 1

    @lf.flow
    def steps(n: int = 5):
        value = 0
        for i in range(n):
            value = step(value, f"s{i}")
        return value
    """
)


@pytest.fixture
def flow_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "steps_flow.py"
    path.write_text(FLOW_SOURCE)
    monkeypatch.setenv("COUNT_FILE", str(tmp_path / "ran.txt"))
    return path


def _ran(tmp_path: Path) -> list[str]:
    return (tmp_path / "ran.txt").read_text().split()


def _crash_at(database_url: str, tmp_path: Path, flow_file: Path, fatal: str, **params: int) -> str:
    executor: Executor = CrashingExecutor(fatal)
    with lf.Engine(database_url, executor, home=tmp_path) as engine:
        with pytest.raises(SystemExit):
            engine.run(load_flow(f"{flow_file}:steps"), **params)
        return engine.runs()[0].run_id


def test_resume_continues_without_rerunning_finished_tasks(
    database_url: str, tmp_path: Path, flow_file: Path
) -> None:
    run_id = _crash_at(database_url, tmp_path, flow_file, "step-3", n=5)
    assert _ran(tmp_path) == ["s0", "s1", "s2"]
    with lf.Engine(database_url, home=tmp_path) as engine:
        run = engine.resume(run_id)
        assert run.state == "SUCCEEDED" and run.result() == 5
        assert _ran(tmp_path) == ["s0", "s1", "s2", "s3", "s4"]
        events = engine.events(run_id)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert engine.verify(run_id).ok
        running = [e for e in events if e.type == "run.running"]
        assert [e.payload["reason"] for e in running] == ["start", "resume"]
        orphan = [e.payload["attempt"] for e in events if e.task_key == "step-3" and e.type == "task.running"]
        assert orphan == [1, 2]  # the attempt the dead driver started, then a new one


def test_resume_of_a_finished_run_changes_nothing(
    database_url: str, tmp_path: Path, flow_file: Path
) -> None:
    with lf.Engine(database_url, home=tmp_path) as engine:
        run = engine.run(load_flow(f"{flow_file}:steps"), n=2)
        before = len(engine.events(run.id))
        assert engine.resume(run.id).state == "SUCCEEDED"
        assert len(engine.events(run.id)) == before


def test_resume_refuses_a_changed_graph_unless_allowed(
    database_url: str, tmp_path: Path, flow_file: Path
) -> None:
    run_id = _crash_at(database_url, tmp_path, flow_file, "step-1", n=3)
    flow_file.write_text(FLOW_SOURCE.replace("for i in range(n):", "for i in range(n + 1):"))
    with lf.Engine(database_url, home=tmp_path) as engine:
        with pytest.raises(GraphChanged, match=run_id):
            engine.resume(run_id)
        assert engine.events(run_id)[-1].type == "task.running"  # nothing was appended


def test_restart_reruns_only_the_failed_part(
    database_url: str, tmp_path: Path, flow_file: Path
) -> None:
    fail_flag = Path(str(tmp_path / "ran.txt") + ".fail-s2")
    fail_flag.touch()
    with lf.Engine(database_url, home=tmp_path) as engine:
        failed = engine.run(load_flow(f"{flow_file}:steps"), n=4)
        assert failed.state == "FAILED" and failed.tasks["step-3"].state == "UPSTREAM_FAILED"
        fail_flag.unlink()
        run = engine.restart(failed.id)
        assert run.id == failed.id and run.state == "SUCCEEDED" and run.result() == 4
        assert _ran(tmp_path) == ["s0", "s1", "s2", "s2", "s3"]
        assert run.tasks["step-2"].attempts == 2
        types = [e.type for e in engine.events(run.id)]
        assert types.count("task.failed") == 1 and types.count("task.pending") == 2
        assert engine.verify(run.id).ok


def test_restart_from_a_task_reruns_it_and_everything_downstream(
    database_url: str, tmp_path: Path, flow_file: Path
) -> None:
    with lf.Engine(database_url, home=tmp_path) as engine:
        run = engine.run(load_flow(f"{flow_file}:steps"), n=4)
        again = engine.restart(run.id, from_task="step-2")
        assert again.state == "SUCCEEDED" and again.result() == 4
        assert _ran(tmp_path) == ["s0", "s1", "s2", "s3", "s2", "s3"]
        with pytest.raises(UnknownTask, match="nope"):
            engine.restart(run.id, from_task="nope")


def test_restart_of_an_unfinished_run_is_refused(
    database_url: str, tmp_path: Path, flow_file: Path
) -> None:
    run_id = _crash_at(database_url, tmp_path, flow_file, "step-1", n=3)
    with lf.Engine(database_url, home=tmp_path) as engine, pytest.raises(RunNotFinished):
        engine.restart(run_id)


def test_a_worker_resumes_a_crashed_run_and_two_workers_do_not_both(
    database_url: str, tmp_path: Path, flow_file: Path
) -> None:
    run_id = _crash_at(database_url, tmp_path, flow_file, "step-2", n=4)
    with (
        lf.Worker(database_url, home=tmp_path, lease_ttl=0.2) as first,
        lf.Worker(database_url, home=tmp_path, lease_ttl=0.2) as second,
    ):
        driven = first.run_once() + second.run_once()
        assert driven == [run_id]
        assert first.engine.get_run(run_id).state == "SUCCEEDED"
        assert second.run_once() == []
    assert _ran(tmp_path) == ["s0", "s1", "s2", "s3"]


def test_a_run_whose_driver_died_shows_as_crashed(
    database_url: str, tmp_path: Path, flow_file: Path
) -> None:
    run_id = _crash_at(database_url, tmp_path, flow_file, "step-1", n=3)
    with lf.Engine(database_url, home=tmp_path) as engine:
        assert engine.runs()[0].state == "CRASHED"
        assert engine.get_run(run_id).state == "CRASHED"
        assert engine.resume(run_id).state == "SUCCEEDED"
        assert engine.runs()[0].state == "SUCCEEDED"
