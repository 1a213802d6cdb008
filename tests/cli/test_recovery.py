"""``resume``, ``restart`` and ``worker --once`` in-process (CliRunner), on SQLite and PostgreSQL."""

import os
import signal
import threading
import time
from pathlib import Path

import orjson

import ledgerflow as lf

from .conftest import CrashAt, Invoke, ran
from .test_commands import run_id_of


def test_a_run_whose_driver_died_is_listed_and_shown_as_crashed(
    cli: Invoke, crash_at: CrashAt
) -> None:
    run_id = crash_at("step-2")
    listed = orjson.loads(cli("runs", "--json").stdout)
    assert [(run["run_id"], run["state"]) for run in listed] == [(run_id, "CRASHED")]
    assert "CRASHED" in cli("runs").stdout
    shown = cli("show", run_id)
    assert shown.exit_code == 0, shown.output
    state_row = next(line for line in shown.stdout.splitlines() if line.startswith("state"))
    assert "CRASHED" in state_row
    assert f"`ledgerflow resume {run_id}` continues it" in shown.stdout


def test_resume_finishes_a_crashed_run_without_rerunning_finished_tasks(
    cli: Invoke, crash_at: CrashAt, steps_file: Path
) -> None:
    run_id = crash_at("step-2")
    assert ran(steps_file) == ["s0", "s1"]
    result = cli("resume", run_id)
    assert result.exit_code == 0, result.output
    assert ran(steps_file) == ["s0", "s1", "s2", "s3"]
    out = result.stdout
    assert f"run id: {run_id}" in out
    assert "state: SUCCEEDED" in out and "result: 4" in out
    assert "4/4 tasks done" in out  # progress counts the tasks finished before the crash
    step_2 = next(line for line in out.splitlines() if line.lstrip("│ ").startswith("step-2 "))
    assert " 2 " in step_2  # the attempt the dead driver started, then a new one
    assert orjson.loads(cli("runs", "--json").stdout)[0]["state"] == "SUCCEEDED"
    assert cli("verify", run_id).exit_code == 0


def test_resume_of_a_finished_run_has_nothing_to_do(
    cli: Invoke, steps_file: Path, database_url: str
) -> None:
    run_id = run_id_of(cli("run", f"{steps_file}:steps", "-p", "n=2").stdout)
    events = len(cli("events", run_id, "--json").stdout.splitlines())
    again = cli("resume", run_id)
    assert again.exit_code == 0, again.output
    assert "state: SUCCEEDED" in again.stdout and "result: 2" in again.stdout
    assert f"run {run_id} had already finished: nothing to resume" in again.stdout
    assert len(cli("events", run_id, "--json").stdout.splitlines()) == events
    assert ran(steps_file) == ["s0", "s1"]
    steps_file.with_name("fail-s0").touch()
    failed_id = run_id_of(cli("run", f"{steps_file}:steps", "-p", "n=2").stdout)
    failed = cli("resume", failed_id)
    assert failed.exit_code == 1
    assert "state: FAILED" in failed.stdout
    assert f"nothing to resume (`ledgerflow restart {failed_id}` re-runs it)" in failed.stdout


def test_resume_refuses_a_changed_flow_unless_allowed(
    cli: Invoke, crash_at: CrashAt, steps_file: Path
) -> None:
    run_id = crash_at("step-1", n=3)
    steps_file.write_text(steps_file.read_text().replace("range(n)", "range(n + 1)"))
    refused = cli("resume", run_id)
    assert refused.exit_code == 1
    assert refused.stderr.startswith(f"error: run {run_id}: flow 'steps' now builds a different graph")
    assert "--allow-graph-change" in refused.stderr
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.output
    assert ran(steps_file) == ["s0"]
    allowed = cli("resume", run_id, "--allow-graph-change")
    assert allowed.exit_code == 0, allowed.output
    assert "result: 3" in allowed.stdout  # the recorded graph of three steps
    assert ran(steps_file) == ["s0", "s1", "s2"]


def test_resume_of_a_flow_that_no_longer_loads_is_one_line(
    cli: Invoke, crash_at: CrashAt, steps_file: Path
) -> None:
    run_id = crash_at("step-1")
    steps_file.write_text("raise ImportError('needs a missing dependency')\n")
    broken = cli("resume", run_id)
    assert broken.exit_code == 2
    assert broken.stderr.startswith(f"error: run {run_id}: loading {steps_file} failed")
    assert "ImportError: needs a missing dependency" in broken.stderr
    steps_file.unlink()
    missing = cli("resume", run_id)
    assert missing.exit_code == 2
    assert missing.stderr.startswith(f"error: run {run_id}: no such file: {steps_file}")
    assert "Traceback" not in broken.output + missing.output


def test_restart_reruns_the_failed_part_after_the_cause_is_fixed(
    cli: Invoke, steps_file: Path
) -> None:
    fail_flag = steps_file.with_name("fail-s1")
    fail_flag.touch()
    failed = cli("run", f"{steps_file}:steps")
    assert failed.exit_code == 1
    run_id = run_id_of(failed.stdout)
    fail_flag.unlink()
    result = cli("restart", run_id)
    assert result.exit_code == 0, result.output
    assert f"run id: {run_id}" in result.stdout
    assert "state: SUCCEEDED" in result.stdout and "result: 4" in result.stdout
    assert "4/4 tasks done" in result.stdout
    assert ran(steps_file) == ["s0", "s1", "s1", "s2", "s3"]


def test_restart_of_a_run_that_fails_again_exits_1(cli: Invoke, steps_file: Path) -> None:
    steps_file.with_name("fail-s0").touch()
    run_id = run_id_of(cli("run", f"{steps_file}:steps", "-p", "n=2").stdout)
    result = cli("restart", run_id)
    assert result.exit_code == 1
    assert "state: FAILED" in result.stdout and "asked to fail s0" in result.stdout


def test_restart_from_a_task_reruns_it_and_everything_downstream(
    cli: Invoke, steps_file: Path
) -> None:
    run_id = run_id_of(cli("run", f"{steps_file}:steps").stdout)
    result = cli("restart", run_id, "--from", "step-2")
    assert result.exit_code == 0, result.output
    assert "result: 4" in result.stdout
    assert ran(steps_file) == ["s0", "s1", "s2", "s3", "s2", "s3"]


def test_restart_of_an_unknown_task_or_an_unfinished_run_is_bad_usage(
    cli: Invoke, crash_at: CrashAt, steps_file: Path
) -> None:
    crashed = crash_at("step-1")
    unfinished = cli("restart", crashed)
    assert unfinished.exit_code == 2
    assert unfinished.stderr.strip() == (
        f"error: run {crashed} is RUNNING, not finished: resume it (if its driver died) or wait"
    )
    finished = run_id_of(cli("run", f"{steps_file}:steps").stdout)
    unknown = cli("restart", finished, "--from", "nope")
    assert unknown.exit_code == 2
    assert unknown.stderr.strip() == (
        f"error: run {finished} has no task 'nope' (see `ledgerflow show {finished}`)"
    )
    assert "Traceback" not in unfinished.output + unknown.output


def test_worker_once_resumes_one_crashed_run(
    cli: Invoke, crash_at: CrashAt, steps_file: Path, database_url: str, tmp_path: Path
) -> None:
    run_id = crash_at("step-3")
    result = cli("worker", "--once")
    assert result.exit_code == 0, result.output
    assert f"resumed run {run_id} (flow steps): SUCCEEDED" in result.stderr
    assert ran(steps_file) == ["s0", "s1", "s2", "s3"]
    with lf.Engine(database_url, home=tmp_path) as engine:
        assert engine.get_run(run_id).result() == 4
    idle = cli("worker", "--once")
    assert idle.exit_code == 0, idle.output
    assert "no crashed run to resume" in idle.stderr
    assert ran(steps_file) == ["s0", "s1", "s2", "s3"]


def test_sigint_stops_a_worker_after_the_run_it_drove(
    cli: Invoke, crash_at: CrashAt, steps_file: Path, database_url: str, tmp_path: Path
) -> None:
    run_id = crash_at("step-1")
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)

    def interrupt_once_resumed() -> None:  # the worker installs its handlers before it resumes
        with lf.Engine(database_url, home=tmp_path) as engine:
            deadline = time.monotonic() + 60
            while engine.get_run(run_id).state != "SUCCEEDED" and time.monotonic() < deadline:
                time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    interrupter = threading.Thread(target=interrupt_once_resumed)
    interrupter.start()
    result = cli("worker", "--poll", "0.05")
    interrupter.join()
    assert result.exit_code == 0, result.output
    assert f"resumed run {run_id} (flow steps): SUCCEEDED" in result.stderr
    assert result.stderr.rstrip().endswith("stopped")
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    assert ran(steps_file) == ["s0", "s1", "s2", "s3"]
