"""Canary: a secret parameter's value never appears on a ``ledgerflow worker``'s console,
though the task prints it, logs it, warns with it and fails with it (SQLite, PostgreSQL)."""

import os
import subprocess
import sys
from pathlib import Path
from textwrap import dedent

import ledgerflow as lf
from ledgerflow.engine.flow_ref import load_flow

SCRIPT = Path(sys.executable).with_name("ledgerflow")
CANARY = "canary-7f3a9c-s3cr3t"

FLOW = dedent(
    """
    import logging
    import warnings

    import ledgerflow as lf


    @lf.task
    def login(token: str) -> int:
        print(f"logging in with {token}")
        print("token:", token)
        logging.getLogger("ledgerflow_tests.login").warning("token %s refused", token)
        warnings.warn(f"deprecated token {token}")
        raise PermissionError(f"login refused for token {token}")


    @lf.flow
    def guarded(token: lf.Secret[str]):
        return login(token)
    """
)


def test_the_worker_console_never_shows_a_secret(tmp_path: Path, database_url: str) -> None:
    flow_file = tmp_path / "guarded_flow.py"
    flow_file.write_text(FLOW)
    with lf.Engine(database_url, home=tmp_path) as engine:
        run_id = engine.submit(load_flow(f"{flow_file}:guarded"), token=CANARY)
    env = {**os.environ, "LEDGERFLOW_HOME": str(tmp_path), "LEDGERFLOW_SECRET_TOKEN": CANARY}
    ran = subprocess.run(
        [str(SCRIPT), "-v", "worker", "--once", "--database", database_url],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

    assert ran.returncode == 0, ran.stderr
    assert f"drove submitted run {run_id}" in ran.stderr
    console = ran.stdout + ran.stderr
    assert CANARY not in console, console
    assert "logging in with ***" in ran.stdout and "token: ***" in ran.stdout
    assert "token *** refused" in ran.stderr and "deprecated token ***" in ran.stderr
    with lf.Engine(database_url, home=tmp_path) as engine:
        run = engine.get_run(run_id)
        assert run.state == "FAILED"
        error = run.tasks["login"].error
        assert error is not None and error["message"] == "login refused for token ***"
