"""The installed ``ledgerflow`` console script in real subprocesses."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson

import ledgerflow as lf

from .conftest import CrashAt, ran

SCRIPT = Path(sys.executable).with_name("ledgerflow")


def script_env(home: Path, database_url: str) -> dict[str, str]:
    """The environment with LEDGERFLOW_HOME and LEDGERFLOW_DATABASE_URL set."""
    return {**os.environ, "LEDGERFLOW_HOME": str(home), "LEDGERFLOW_DATABASE_URL": database_url}


def ledgerflow(home: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the console script with LEDGERFLOW_HOME and LEDGERFLOW_DATABASE_URL set."""
    return subprocess.run(
        [str(SCRIPT), *args], env=script_env(home, database_url), capture_output=True, text=True,
        timeout=120, check=False,
    )


def test_the_script_runs_a_flow_and_reads_it_back(
    tmp_path: Path, flows_file: Path, database_url: str
) -> None:
    ran = ledgerflow(tmp_path, database_url, "run", f"{flows_file}:arithmetic",
                     "-p", "n=1", "-p", "xs=4,5", "-p", "negate=false")
    assert ran.returncode == 0, ran.stderr
    assert "double[0]" in ran.stdout and "total" in ran.stdout and "describe" in ran.stdout
    assert "state: SUCCEEDED" in ran.stdout and "'total': 19" in ran.stdout
    listed = orjson.loads(ledgerflow(tmp_path, database_url, "runs", "--json").stdout)
    assert [run["flow"] for run in listed] == ["arithmetic"]
    verified = ledgerflow(tmp_path, database_url, "verify", listed[0]["run_id"])
    assert verified.returncode == 0 and verified.stdout.startswith("OK")


def test_the_script_exits_1_for_a_failed_run_and_2_for_bad_usage(
    tmp_path: Path, flows_file: Path, database_url: str
) -> None:
    failed = ledgerflow(tmp_path, database_url, "run", f"{flows_file}:failing")
    assert failed.returncode == 1, failed.stderr
    assert "state: FAILED" in failed.stdout and "kaboom 1" in failed.stdout
    bad = ledgerflow(tmp_path, database_url, "run", f"{flows_file}:arithmetic", "-p", "n=x", "-p", "xs=1")
    assert bad.returncode == 2
    assert "parameter 'n' of flow 'arithmetic'" in bad.stderr
    assert "Traceback" not in bad.stderr
    missing = ledgerflow(tmp_path, database_url, "show", "no-such-run")
    assert missing.returncode == 2
    assert missing.stderr.strip() == (
        "error: no run with id 'no-such-run' in this database (see `ledgerflow runs`)"
    )


def test_the_script_upgrades_the_schema(tmp_path: Path, database_url: str) -> None:
    upgraded = ledgerflow(tmp_path, database_url, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "is up to date" in upgraded.stdout


def test_a_worker_process_resumes_a_crashed_run_and_stops_on_sigterm(
    tmp_path: Path, database_url: str, crash_at: CrashAt, steps_file: Path
) -> None:
    worker = subprocess.Popen(
        [str(SCRIPT), "worker", "--poll", "0.2"], env=script_env(tmp_path, database_url),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        run_id = crash_at("step-2")
        with lf.Engine(database_url, home=tmp_path) as engine:
            deadline = time.monotonic() + 60
            while engine.get_run(run_id).state != "SUCCEEDED":
                assert worker.poll() is None, worker.communicate()
                assert time.monotonic() < deadline, "the worker did not finish the crashed run"
                time.sleep(0.1)
        worker.send_signal(signal.SIGTERM)
        _, stderr = worker.communicate(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate()
    assert worker.returncode == 0, stderr
    assert f"resumed run {run_id} (flow steps): SUCCEEDED" in stderr
    assert "stopped" in stderr and "Traceback" not in stderr
    assert ran(steps_file) == ["s0", "s1", "s2", "s3"]
