"""A flow defined in a script run as ``__main__``, SIGKILLed, resumed by ``ledgerflow resume``."""

from pathlib import Path

import ledgerflow as lf

from .checks import check_recovered, crash_of
from .processes import LEDGERFLOW_CLI, PYTHON, Spawn, kill_after_kth_success


def test_a_script_flow_killed_mid_run_is_resumed_by_the_cli(
    database_url: str, crash_dir: Path, spawn: Spawn
) -> None:
    script = crash_dir / "main_chain.py"
    child = spawn(PYTHON, str(script), database_url, str(crash_dir), name="script", CRASH_PAUSE="1")
    run_id = kill_after_kth_success(child, 9, is_paused=True)
    with lf.Engine(database_url, home=crash_dir) as engine:
        crash = crash_of(engine, run_id)
        assert crash.events[0].payload["flow_ref"] == f"{script.resolve()}:chain"
        cli = spawn(
            LEDGERFLOW_CLI, "resume", run_id, "--database", database_url,
            name="cli", LEDGERFLOW_HOME=str(crash_dir), COLUMNS="200",
        )  # fmt: skip
        assert cli.wait() == 0, cli.describe()
        cli_output = "\n".join(cli.rest())
        assert run_id in cli_output and "SUCCEEDED" in cli_output
        check_recovered(engine, run_id, crash, crash_dir)
