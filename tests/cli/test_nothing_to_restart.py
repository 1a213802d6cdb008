"""``ledgerflow restart`` of a run with nothing to re-run says so and appends nothing."""

from pathlib import Path

from .conftest import Invoke, ran
from .test_commands import run_id_of


def test_restart_of_a_succeeded_run_says_nothing_to_restart_and_appends_nothing(
    cli: Invoke, steps_file: Path
) -> None:
    run_id = run_id_of(cli("run", f"{steps_file}:steps", "-p", "n=2").stdout)
    events = cli("events", run_id, "--json").stdout
    again = cli("restart", run_id)
    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines() == [
        f"run {run_id} SUCCEEDED: nothing to restart (no task failed or was cancelled; "
        "--from TASK_KEY re-runs a chosen task)"
    ]
    assert cli("events", run_id, "--json").stdout == events
    assert ran(steps_file) == ["s0", "s1"]
    chosen = cli("restart", run_id, "--from", "step-1")
    assert chosen.exit_code == 0, chosen.output
    assert ran(steps_file) == ["s0", "s1", "s1"]
