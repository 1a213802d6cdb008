"""Submitting runs, workers claiming them (and the registry), and
``ledgerflow submit`` / ``ledgerflow workers``: in one process, on SQLite and PostgreSQL."""

import threading
from datetime import UTC, datetime
from pathlib import Path
from textwrap import dedent

import orjson
import pytest
from typer.testing import CliRunner

import ledgerflow as lf
from ledgerflow.cli import app
from ledgerflow.engine.core.events import NewEvent
from ledgerflow.engine.flow_ref import load_flow

from .conftest import wait_until

FLOWS = dedent(
    """
    import ledgerflow as lf


    @lf.task
    def double(x: int) -> int:
        return 2 * x


    @lf.flow(name="doubled")
    def doubled(n: int = 3):
        return double.map(list(range(n)))
    """
)


@pytest.fixture
def flows_file(tmp_path: Path) -> Path:
    path = tmp_path / "submitted_flows.py"
    path.write_text(FLOWS)
    return path


def test_submit_records_a_scheduled_run_that_a_worker_drives(
    database_url: str, tmp_path: Path, flows_file: Path
) -> None:
    doubled = load_flow(f"{flows_file}:doubled")
    with lf.Engine(database_url, home=tmp_path) as engine, lf.Worker(database_url, home=tmp_path) as worker:
        run_id = engine.submit(doubled, n=4)
        summary = engine.storage.log.run(run_id)
        assert (summary.state, summary.owner, summary.lease_expires_at) == ("SCHEDULED", None, None)
        assert engine.get_run(run_id).state == "SCHEDULED"
        assert worker.run_once() == [run_id]
        assert worker.run_once() == []
        run = engine.get_run(run_id)
        assert run.state == "SUCCEEDED" and run.result() == [0, 2, 4, 6]
        created, running = engine.events(run_id)[:2]
        assert created.payload["state"] == "SCHEDULED" and created.payload["parameters"] == {"n": 4}
        assert running.type == "run.running"
        assert running.payload == {"owner": worker.engine.owner, "reason": "worker"}
        assert engine.storage.log.run(run_id).owner is None  # released when done


def test_a_worker_resumes_crashed_runs_before_scheduled_ones(
    database_url: str, tmp_path: Path, flows_file: Path
) -> None:
    doubled = load_flow(f"{flows_file}:doubled")
    with lf.Engine(database_url, home=tmp_path, lease_ttl=0.05) as engine:
        scheduled = engine.submit(doubled)
        crashed = engine.submit(doubled, n=2)
        engine.storage.log.take_over(crashed, "dead", 0.01)  # a driver that started it and died
        engine.storage.log.append(crashed, 1, [NewEvent(None, "run.running", {"owner": "dead"})])
        wait_until(lambda: engine.storage.log.run(crashed).state == "CRASHED", "its lease expired")
        with lf.Worker(database_url, home=tmp_path, lease_ttl=5) as worker:
            assert worker.run_once() == [crashed]
            assert worker.run_once() == [scheduled]
        reasons = [e.payload.get("reason") for e in engine.events(crashed) if e.type == "run.running"]
        assert reasons == [None, "resume"]
        assert engine.get_run(crashed).state == engine.get_run(scheduled).state == "SUCCEEDED"


def test_a_running_worker_registers_heartbeats_and_signs_off(
    database_url: str, tmp_path: Path, flows_file: Path
) -> None:
    doubled = load_flow(f"{flows_file}:doubled")
    with lf.Engine(database_url, home=tmp_path) as engine:
        with lf.Worker(database_url, home=tmp_path, poll_interval=0.05) as worker:
            loop = threading.Thread(target=worker.run)
            loop.start()
            try:
                run_ids = [engine.submit(doubled), engine.submit(doubled, n=1)]
                wait_until(
                    lambda: [w.runs_driven for w in worker.registry.workers()] == [2], "both runs driven"
                )
                [record] = worker.registry.workers()
                first_beat = record.heartbeat_at
                wait_until(lambda: worker.registry.workers()[0].heartbeat_at > first_beat, "a heartbeat")
                assert record.name == worker.name == worker.engine.owner and record.state == "running"
                assert record.is_healthy(datetime.now(UTC), poll_interval=0.05)
            finally:
                worker.stop()
                loop.join(30)
        assert [engine.get_run(run_id).state for run_id in run_ids] == ["SUCCEEDED"] * 2
        [record] = worker.registry.workers()
        assert record.state == "stopped" and record.runs_driven == 2


def test_the_submit_and_workers_commands(
    database_url: str, tmp_path: Path, flows_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGERFLOW_HOME", str(tmp_path))
    runner = CliRunner()
    submitted = runner.invoke(
        app, ["submit", f"{flows_file}:doubled", "-p", "n=2", "--database", database_url]
    )
    assert submitted.exit_code == 0, submitted.output
    run_id = submitted.stdout.strip()
    bad = runner.invoke(app, ["submit", f"{flows_file}:doubled", "-p", "n=two", "--database", database_url])
    assert bad.exit_code == 2
    with lf.Engine(database_url, home=tmp_path) as engine:
        assert engine.storage.log.run(run_id).state == "SCHEDULED"
        assert [summary.run_id for summary in engine.runs()] == [run_id]
    once = runner.invoke(app, ["worker", "--once", "--database", database_url])
    assert once.exit_code == 0, once.output
    assert f"drove submitted run {run_id} (flow doubled): SUCCEEDED" in once.stderr
    with lf.Worker(database_url, home=tmp_path) as worker:
        worker.register()
    listed = runner.invoke(app, ["workers", "--json", "--database", database_url])
    assert listed.exit_code == 0, listed.output
    [shown] = orjson.loads(listed.stdout)
    assert shown["name"] == worker.name and shown["state"] == "running" and shown["healthy"] is True
    assert (shown["in_flight"], shown["max_runs"], shown["queues"]) == (0, 100, ["default"])
    table = runner.invoke(app, ["workers", "--database", database_url], env={"COLUMNS": "250"})
    assert table.exit_code == 0 and "healthy" in table.stdout
    assert "in flight" in table.stdout and "0 / 100" in table.stdout and "default" in table.stdout
