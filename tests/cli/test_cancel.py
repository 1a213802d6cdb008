"""``ledgerflow cancel`` in-process (CliRunner), on SQLite and PostgreSQL."""

from pathlib import Path

import ledgerflow as lf
from ledgerflow.engine.flow_ref import load_flow

from .conftest import CrashAt, Invoke


def test_cancel_of_a_crashed_run_cancels_it_and_records_why(
    cli: Invoke, crash_at: CrashAt, database_url: str, tmp_path: Path
) -> None:
    run_id = crash_at("step-2")
    result = cli("cancel", run_id, "--reason", "not worth resuming", "--wait")
    assert result.exit_code == 0, result.output
    assert f"run {run_id} cancelled" in result.stdout
    with lf.Engine(database_url, home=tmp_path) as engine:
        run = engine.get_run(run_id)
        events = engine.events(run_id)
    assert run.state == "CANCELLED"
    assert {key: task.state for key, task in run.tasks.items()} == {
        "step": "SUCCEEDED", "step-1": "SUCCEEDED", "step-2": "CANCELLED", "step-3": "CANCELLED",
    }  # fmt: skip
    (requested,) = [e for e in events if e.type == "run.cancel_requested"]
    assert requested.payload["reason"] == "not worth resuming"
    assert events[-1].type == "run.cancelled"
    shown = cli("events", run_id)
    assert shown.exit_code == 0 and "run.cancel_requested" in shown.stdout
    assert cli("show", run_id).exit_code == 0


def test_cancel_of_a_scheduled_run_needs_no_wait(
    cli: Invoke, steps_file: Path, database_url: str, tmp_path: Path
) -> None:
    with lf.Engine(database_url, home=tmp_path) as engine:
        run_id = engine.submit(load_flow(f"{steps_file}:steps"))
    result = cli("cancel", run_id)
    assert result.exit_code == 0, result.output
    assert f"run {run_id} cancelled" in result.stdout


def test_cancel_of_a_finished_run_exits_1(
    cli: Invoke, steps_file: Path, database_url: str, tmp_path: Path
) -> None:
    with lf.Engine(database_url, home=tmp_path) as engine:
        run_id = engine.run(load_flow(f"{steps_file}:steps")).id
    result = cli("cancel", run_id, "--wait")
    assert result.exit_code == 1, result.output
    assert f"run {run_id} had already finished: SUCCEEDED; nothing to cancel" in result.stdout


def test_cancel_of_an_unknown_run_exits_2(cli: Invoke) -> None:
    result = cli("cancel", "no-such-run")
    assert result.exit_code == 2
    assert "no-such-run" in result.stderr
