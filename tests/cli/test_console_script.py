"""The installed ``ledgerflow`` console script in real subprocesses."""

import os
import subprocess
import sys
from pathlib import Path

import orjson

SCRIPT = Path(sys.executable).with_name("ledgerflow")


def ledgerflow(home: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the console script with LEDGERFLOW_HOME and LEDGERFLOW_DATABASE_URL set."""
    env = {**os.environ, "LEDGERFLOW_HOME": str(home), "LEDGERFLOW_DATABASE_URL": database_url}
    return subprocess.run(
        [str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=120, check=False
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
