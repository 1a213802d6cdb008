"""``ledgerflow run`` in a subprocess, on a flow whose task prints a file name with an
undecodable byte and fails with a lone surrogate in its message: the run ends FAILED with
its error readable, the driver does not crash (SQLite and PostgreSQL)."""

import os
import subprocess
import sys
from pathlib import Path
from textwrap import dedent

import ledgerflow as lf

SCRIPT = Path(sys.executable).with_name("ledgerflow")

FLOW = dedent(
    """
    import ledgerflow as lf


    @lf.task
    def listing() -> int:
        print("caf\\udce9.txt")
        return 1


    @lf.task
    def opening(count: int) -> int:
        raise ValueError("cannot open caf\\udce9.txt (\\udcff)")


    @lf.flow
    def undecodable():
        return opening(listing())
    """
)


def test_the_run_command_reports_a_failed_task_with_its_error_readable(
    tmp_path: Path, database_url: str
) -> None:
    flow_file = tmp_path / "undecodable_flow.py"
    flow_file.write_text(FLOW)
    env = {
        **os.environ,
        "LEDGERFLOW_HOME": str(tmp_path),
        "PYTHONIOENCODING": "utf-8:surrogateescape",  # a console that takes file names as given
    }
    ran = subprocess.run(
        [str(SCRIPT), "run", f"{flow_file}:undecodable", "--database", database_url],
        env=env, capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    stdout, stderr = ran.stdout.decode(errors="replace"), ran.stderr.decode(errors="replace")
    assert ran.returncode == 1, stderr  # the run failed; the command did not crash
    assert "Traceback" not in stderr and "UnicodeEncodeError" not in stderr, stderr
    assert b"caf\xe9.txt" in ran.stdout  # the task's print reached the console as printed
    assert "state: FAILED" in stdout and "cannot open caf\\udce9.txt (\\udcff)" in stdout

    with lf.Engine(database_url, home=tmp_path) as engine:
        run = engine.get_run(engine.runs()[0].run_id)
        assert run.state == "FAILED" and run.tasks["listing"].state == "SUCCEEDED"
        error = run.tasks["opening"].error
        assert error is not None and error["message"] == "cannot open caf\\udce9.txt (\\udcff)"
        assert [line.message for line in engine.logs(run.id, "listing")] == ["caf\\udce9.txt"]
